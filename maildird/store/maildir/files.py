"""Finding and moving one folder's message files: open by last known name, sizes, new/ -> cur/.

Theory of operation (maildir-format.md §1.2, §1.7, §3.3.2, §5.2):

* ``locate`` implements "open by last known name" (§5.2 rule 4): on ENOENT it lists the directories
  again and looks the base up, up to ``RESYNC_RETRY_COUNT`` times, then ``MessageGone``. A name
  found that way is kept in ``hints`` and the folder marked ``dirty`` (its flags may have changed).
* ``_measure`` gives a new file's RFC822.SIZE (from ``,W=`` or by reading it once) and INTERNALDATE
  (its mtime), following renames; ``_measure_many`` does so for every file a sync meets unknown
  (all of them on a folder's first open) in one pass of ``measure.measure_entries``, and takes
  ``_measure`` only for the files that moved since the listing. ``_claim_new`` moves new/ files
  to cur/ for a read-write SELECT (§1.7); ``_fix_duplicates`` gives a second file with the same
  base a fresh base (Dovecot ``maildir_fix_duplicate``); ``_clean_tmp`` deletes tmp/ leftovers
  older than 36 h (§1.2).
* Paths are built as strings (``file_path``) in the per-file loops: a ``Path`` join per message
  was a visible share of a STORE or a first open.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from maildird.store.base import MessageGone
from maildird.store.maildir.filenames import INFO_SEP, new_base_name, parse_name, vsize_of
from maildird.store.maildir.listing import Entry, file_vsize, find_base
from maildird.store.maildir.lock import fsync_dir
from maildird.store.maildir.measure import measure_entries
from maildird.store.maildir.memory import FolderMemory, make_info
from maildird.store.maildir.state import Record

T = TypeVar("T")

RESYNC_RETRY_COUNT = 10
"""Dovecot's ``MAILDIR_RESYNC_RETRY_COUNT``: rescans before a message counts as gone (§5.2 rule 4)."""
TMP_DELETE_SECS = 36 * 60 * 60
"""Files in tmp/ older than this are leftovers of crashed deliveries (``MAILDIR_TMP_DELETE_SECS``)."""


class FolderFiles(FolderMemory):
    """The file side of a folder (module docstring). All methods block."""

    def __init__(self, path: Path, *, fsync: bool) -> None:
        super().__init__()
        self.path = path
        self.fsync = fsync
        self.dirty = True
        self.hints: dict[int, Entry] = {}
        self._tmp_cleaned = False
        self._dir = os.fspath(path)

    def file_path(self, entry: Entry) -> str:
        """The path of a listed file as a string (cheaper than ``Entry.path`` in per-file loops)."""
        return f"{self._dir}/{'new' if entry.in_new else 'cur'}/{entry.name}"

    def dir_prefixes(self) -> tuple[str, str]:
        """``("<folder>/new/", "<folder>/cur/")``: a file's path is one of them plus its name."""
        return f"{self._dir}/new/", f"{self._dir}/cur/"

    def _apply_renames(self, renamed: list[tuple[Record, frozenset[str]]], modseq: int) -> None:
        """Memory after STORE's renames (``flagstore``). Each record must be a message of ``msgs``
        under a new name (and place, and ``modseq``) with its UID, base, size and mtime unchanged,
        paired with the flags of its new name: so its ``MessageInfo`` keeps its INTERNALDATE object
        and takes those flags, and ``by_base`` stays as it is. This is ``_apply``'s result without
        its general passes (new UIDs, expunges, dates), which run when ``infos`` is incomplete."""
        msgs, infos = self.msgs, self.infos
        if len(infos) != len(msgs):
            self._apply([rec for rec, _ in renamed], [], modseq)
            return
        for rec, flags in renamed:
            uid = rec.uid
            msgs[uid] = rec
            infos[uid] = make_info(uid, flags, rec.size, infos[uid].internaldate, rec.modseq)
        self.highestmodseq = max(self.highestmodseq, modseq)
        self.version += 1

    def _measure(self, base: str, entry: Entry) -> tuple[Entry, int, int] | None:
        """(entry, RFC822.SIZE, mtime_ns) of a file, following renames (§5.2 rule 4)."""
        cached = self.msgs.get(self.by_base.get(base, 0))
        for _ in range(RESYNC_RETRY_COUNT):
            path = self.file_path(entry)
            try:
                st = os.stat(path)
                if cached is not None and cached.base == base:
                    return entry, cached.size, cached.mtime_ns
                vsize = vsize_of(entry.name)
                if vsize is None:
                    vsize = file_vsize(path)
                return entry, vsize, st.st_mtime_ns
            except FileNotFoundError:
                found = find_base(self.path, base)
                if found is None:
                    return None
                entry = found
        return None

    def _measure_many(
        self, bases: Sequence[str], seen: dict[str, Entry]
    ) -> dict[str, tuple[Entry, int, int] | None]:
        """``_measure`` of every base in ``bases`` (each listed in ``seen``): one pass of
        ``measure.measure_entries`` over the files where the listing saw them, the per-file path
        for those that moved (or failed) since. A first open measures every file of the folder."""
        msgs, by_base = self.msgs, self.by_base
        entries = [seen[b] for b in bases]
        if by_base:
            cached = [msgs.get(by_base.get(b, 0)) for b in bases]
            known = [c if c is not None and c.base == b else None for c, b in zip(cached, bases, strict=True)]
        else:
            known = [None] * len(bases)  # a first open: memory knows no file
        try:
            found = measure_entries(self._dir, entries, [k is None for k in known])
        except OSError:
            found = [None] * len(entries)  # new/ or cur/ went away: the per-file path decides
        out: dict[str, tuple[Entry, int, int] | None] = {
            base: None if m is None else (entry, m[0], m[1]) if k is None else (entry, k.size, k.mtime_ns)
            for base, entry, k, m in zip(bases, entries, known, found, strict=True)
        }
        for base in [b for b, v in out.items() if v is None]:
            out[base] = self._measure(base, seen[base])
        return out

    def _fix_duplicates(self, seen: dict[str, Entry], dups: list[tuple[str, Entry]]) -> None:
        for base, other in dups:
            first = seen[base]
            a, b = first.path(self.path), other.path(self.path)
            try:
                sa = os.stat(a)
            except FileNotFoundError:
                seen[base] = other  # the first name was renamed away during the listing
                continue
            try:
                sb = os.stat(b)
            except FileNotFoundError:
                continue
            if (sa.st_ino, sa.st_dev) == (sb.st_ino, sb.st_dev):
                continue  # two links to one file: one message
            # A real duplicate: give the second file its own base name (Dovecot maildir_fix_duplicate).
            mn = parse_name(other.name)
            size = mn.size if mn.size is not None else sb.st_size
            vsize = mn.vsize if mn.vsize is not None else file_vsize(b)
            fresh = new_base_name(size, vsize)
            name = fresh + other.name[len(mn.base) :]
            with contextlib.suppress(FileNotFoundError):
                os.rename(b, b.parent / name)
                seen[fresh] = Entry(name, other.in_new)

    def _claim_new(self, seen: dict[str, Entry]) -> set[str]:
        """Move new/ files to cur/ (appending ``:2,`` to names without info, §1.7)."""
        claimed: set[str] = set()
        new_dir, cur_dir = f"{self._dir}/new/", f"{self._dir}/cur/"
        for base, entry in list(seen.items()):
            if not entry.in_new:
                continue
            name = entry.name if INFO_SEP in entry.name else entry.name + INFO_SEP + "2,"
            try:
                os.rename(new_dir + entry.name, cur_dir + name)
            except FileNotFoundError:
                found = find_base(self.path, base)  # someone else moved it: still recent (Dovecot)
                if found is not None:
                    seen[base] = found
                    claimed.add(base)
                continue
            except OSError:
                continue  # ENOSPC/EACCES: it stays in new/
            seen[base] = Entry(name, False)
            claimed.add(base)
        if claimed and self.fsync:
            fsync_dir(self.path / "cur")
        return claimed

    def _clean_tmp(self) -> None:
        """Delete tmp/ leftovers older than 36 h, once per process and folder (§1.2)."""
        if self._tmp_cleaned:
            return
        self._tmp_cleaned = True
        cutoff = time.time() - TMP_DELETE_SECS
        try:
            with os.scandir(self.path / "tmp") as it:
                for e in it:
                    with contextlib.suppress(OSError):
                        # ctime, not mtime: a delivery sets mtime to an old INTERNALDATE on purpose.
                        if e.is_file(follow_symlinks=False) and e.stat().st_ctime < cutoff:
                            os.unlink(e.path)
        except FileNotFoundError:
            (self.path / "tmp").mkdir(exist_ok=True)

    # -- finding a message's file (§5.2 rule 4) --------------------------------------------------

    def locate(self, uid: int, action: Callable[[Path, Entry], T]) -> T:
        """Run ``action(path, entry)`` on the message's file, following renames by others.

        On ``FileNotFoundError`` the directories are listed again and the base looked up, up to
        ``RESYNC_RETRY_COUNT`` times; a base that is no longer there raises ``MessageGone``.
        """
        rec = self.msgs.get(uid)
        if rec is None:
            raise MessageGone(f"message UID {uid} is gone")
        entry = self.hints.get(uid) or Entry(rec.name, rec.in_new)
        for _ in range(RESYNC_RETRY_COUNT):
            try:
                return action(Path(self.file_path(entry)), entry)
            except FileNotFoundError:
                found = find_base(self.path, rec.base)
                if found is None:
                    self.dirty = True
                    raise MessageGone(f"message UID {uid} was expunged by another program") from None
                entry = found
                self.hints[uid] = found
                self.dirty = True  # its flags may have changed: the next snapshot rescans
        raise MessageGone(f"file name of UID {uid} keeps changing")
