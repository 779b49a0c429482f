"""Listing a Maildir folder's new/ and cur/, and the small file helpers the sync needs.

Theory of operation (maildir-format.md §1.1, §5.2):

* ``list_dir`` lists new/ then cur/ (§5.2 rule 1) and maps each base name to an ``Entry`` (its full
  name and whether it lies in new/). The same base twice in one listing is normally a rename in
  flight (readdir may return a renamed entry under both names, E9): the extra entries are returned
  apart for the caller to check.
* It runs once per full sync over every message, so it is written for speed: a directory whose
  names are all plain message names (the usual case: no dot-file, no name starting with ``:``,
  none holding CR or LF, no base name twice) is mapped by C-level ``map``/``zip``/``dict`` calls
  over the whole list (``_plain``); any other directory takes the per-name loop (``_each``), which
  gives the same result. ``Entry`` is a ``NamedTuple`` (built from two values without a per-field
  ``__init__``).
* Symbolic links are not messages: the server may read files its users cannot, so a link to
  another user's mail must not be served. ``d_type`` tells, so this costs no ``stat``.
"""

from __future__ import annotations

import errno
import os
from itertools import repeat
from operator import itemgetter
from pathlib import Path
from typing import BinaryIO, NamedTuple

from maildird.store.base import MailboxNotFound, PermissionDenied
from maildird.store.maildir.filenames import INFO_SEP, is_message_name

READ_CHUNK = 1 << 20
"""Bytes read at a time when a file's RFC822.SIZE must be counted."""
SUBDIRS = ("new", "cur", "tmp")
_LISTED = (("new", True), ("cur", False))


class Entry(NamedTuple):
    """A message file found by a listing: its full name and whether it lies in new/."""

    name: str
    in_new: bool

    def path(self, folder: Path) -> Path:
        return folder / ("new" if self.in_new else "cur") / self.name


def crlf_size(data: bytes) -> int:
    """RFC822.SIZE of raw message bytes: every bare LF counts as CRLF (RFC 9051 §6.4.5)."""
    return len(data) + data.count(b"\n") - data.count(b"\r\n")


def open_message(path: Path | str) -> BinaryIO:
    """Open a message file for reading without following a symbolic link (module docstring)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise PermissionDenied(f"{os.path.basename(path)} is a symbolic link, not a message") from None
        raise
    return os.fdopen(fd, "rb")


def file_vsize(path: Path | str) -> int:
    """RFC822.SIZE of a message file, read in chunks (once: the result is cached in the sidecar)."""
    total = 0
    prev_cr = False
    with open_message(path) as f:
        while chunk := f.read(READ_CHUNK):
            total += crlf_size(chunk)
            if prev_cr and chunk[:1] == b"\n":
                total -= 1  # a CRLF split between two chunks was counted as a bare LF
            prev_cr = chunk[-1:] == b"\r"
    return total


def list_dir(folder: Path) -> tuple[dict[str, Entry], list[tuple[str, Entry]]]:
    """List new/ then cur/; returns base -> entry and the extra entries of bases seen twice
    (module docstring). A missing new/ or cur/ is created again; a missing folder raises
    ``MailboxNotFound``."""
    seen: dict[str, Entry] = {}
    dups: list[tuple[str, Entry]] = []
    for sub, in_new in _LISTED:
        try:
            with os.scandir(folder / sub) as it:
                names = [e.name for e in it if not e.is_symlink()]
        except FileNotFoundError:
            if not folder.is_dir():
                raise MailboxNotFound(f"{folder} no longer exists") from None
            (folder / sub).mkdir(exist_ok=True)
            continue
        if not _plain(names, in_new, seen):
            _each(names, in_new, seen, dups)
    return seen, dups


_NOT_FIRST = ".:"
"""A name starting with one of these is no message (``filenames.is_message_name``)."""


def _plain(names: list[str], in_new: bool, seen: dict[str, Entry]) -> bool:
    """Add a directory's names to ``seen`` in C-level calls when every one is a plain message name
    with a base of its own (module docstring); False (``seen`` untouched) otherwise."""
    if not names:
        return True
    if not all(names):
        return False
    joined = "".join(names)
    firsts = "".join(map(itemgetter(0), names))
    if "\n" in joined or "\r" in joined or any(c in firsts for c in _NOT_FIRST):
        return False
    bases = [n[: n.find(INFO_SEP)] if INFO_SEP in n else n for n in names] if INFO_SEP in joined else names
    entries = map(tuple.__new__, repeat(Entry), zip(names, repeat(in_new)))
    found = dict(zip(bases, entries, strict=True))
    if len(found) != len(names) or (seen and not seen.keys().isdisjoint(found)):
        return False  # a base twice: the loop sorts out which entry is the extra one
    seen.update(found)
    return True


def _each(names: list[str], in_new: bool, seen: dict[str, Entry], dups: list[tuple[str, Entry]]) -> None:
    """Add a directory's names to ``seen`` one by one (dot-files and the like skipped, a base seen
    before going to ``dups``)."""
    for name in names:
        if not is_message_name(name):
            continue
        cut = name.find(INFO_SEP)  # base_of, inlined: this loop runs once per message per sync
        base = name if cut < 0 else name[:cut]
        entry = Entry(name, in_new)
        if base in seen:
            dups.append((base, entry))
        else:
            seen[base] = entry


def find_base(folder: Path, base: str) -> Entry | None:
    """Look one base name up in new/ and cur/ (names may carry info in either directory)."""
    seen, _ = list_dir(folder)
    return seen.get(base)
