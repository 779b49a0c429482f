"""``dovecot-uidlist``: the UID <-> base-name map of one mailbox (maildir-format.md §3).

Theory of operation:

* Version 3 (what Dovecot >= 1.1 writes) is read and written; version 1 (Courier-compatible
  ``1 <uidvalidity> <nextuid>`` / ``<uid> <filename>``) is read and rewritten as version 3.
* Lines may end in CRLF. A trailing fragment without LF is "not written yet", never corruption
  (Dovecot's line reader does not consume it).
* Unknown header fields and upper-case record extensions are kept, in order, and written back.
  Invalid (non ``A..Z``) record keys are dropped as Dovecot does ("Invalid extension record").
* Effective next UID = max(header ``N``, last record UID + 1): Dovecot appends records without
  rewriting the header, so ``N`` is often stale.
* Changing the file: either *append* new lines (``O_APPEND``, fsync) or *recreate* it by writing
  ``dovecot-uidlist.tmp`` in the same directory, fsync, ``os.replace``. Both only under the uidlist
  lock (``lock.UidlistLock``). ``N`` is never lowered: a running Dovecot that sees a lower ``N``
  deletes the file.
* A broken file is not deleted: ``quarantine_broken`` renames it to ``dovecot-uidlist.broken.<time>``
  and the caller starts over with a new UIDVALIDITY (§3.3.4).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

from maildird.store.base import Corrupt
from maildird.store.maildir.filenames import INFO_SEP
from maildird.store.maildir.lock import adopt_dir_permissions, dir_file_mode, fsync_dir

UIDLIST_NAME = "dovecot-uidlist"
TMP_NAME = "dovecot-uidlist.tmp"
BROKEN_PREFIX = "dovecot-uidlist.broken."
VERSION = 3
MAX_UID = 2**32 - 2
"""UIDs are 1 .. 2^32-2 (Dovecot treats 0 and (uint32)-1 as invalid)."""
MAX_UIDVALIDITY = 2**32 - 1
GUID_HEX_LEN = 32

_GUID_RE = re.compile(r"[0-9a-fA-F]{32}")


class UidlistCorrupt(Corrupt):
    """The file cannot be trusted; ``line`` is 1-based (like Dovecot's "Broken file ... line N")."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"dovecot-uidlist line {line}: {reason}")
        self.line = line
        self.reason = reason


class UidlistLowered(ValueError):
    """A rewrite would lower ``N`` (or a UID) for the same UIDVALIDITY (§3.3.1)."""


class UidRecord(NamedTuple):
    """One record: ``uid``, the ``filename`` as stored (Dovecot writes the base name; older
    versions wrote the full name) and the extension fields ``(key, value)`` in file order.
    A ``NamedTuple``: a restart may parse 100,000 of them, and a tuple is cheap to build."""

    uid: int
    filename: str
    extensions: tuple[tuple[str, str], ...] = ()

    @property
    def base(self) -> str:
        cut = self.filename.find(INFO_SEP)
        return self.filename if cut < 0 else self.filename[:cut]

    def ext(self, key: str) -> str | None:
        for k, v in self.extensions:
            if k == key:
                return v
        return None


@dataclass(frozen=True, slots=True)
class Uidlist:
    """The parsed file.

    ``next_uid`` is the header ``N`` as read; use ``effective_next_uid``. ``guid`` is the mailbox GUID
    (32 hex digits) or None when the header has none. ``header_extra`` keeps unknown header fields.
    ``needs_rewrite`` says that the file should be recreated (version 1, no GUID, dropped invalid
    extension fields or duplicate base names), as Dovecot would.
    """

    uidvalidity: int
    next_uid: int
    guid: str | None
    records: tuple[UidRecord, ...] = ()
    header_extra: tuple[tuple[str, str], ...] = ()
    version: int = VERSION
    needs_rewrite: bool = False

    @property
    def last_uid(self) -> int:
        return self.records[-1].uid if self.records else 0

    @property
    def effective_next_uid(self) -> int:
        return max(self.next_uid, self.last_uid + 1)

    def by_base(self) -> dict[str, UidRecord]:
        return {r.base: r for r in self.records}

    @classmethod
    def new(cls, uidvalidity: int) -> Uidlist:
        """An empty list for a fresh mailbox (or one whose list was lost): N = 1, a new GUID."""
        return cls(uidvalidity=uidvalidity, next_uid=1, guid=new_guid())

    def with_records(self, records: Iterable[UidRecord]) -> Uidlist:
        """The same header with these records (in ascending UID order); ``N`` is kept, not lowered."""
        recs = tuple(records)
        _check_ascending(recs, 0)
        n = max(self.effective_next_uid, (recs[-1].uid + 1) if recs else 1)
        return replace(self, records=recs, next_uid=n, version=VERSION)


def new_guid() -> str:
    """A new 128-bit mailbox/message GUID as 32 lowercase hex digits."""
    return secrets.token_hex(GUID_HEX_LEN // 2)


# --------------------------------------------------------------------------------------------------
# Parsing


def parse_uidlist(data: bytes) -> Uidlist:
    """Parse the bytes of a dovecot-uidlist (v1 or v3); raise ``UidlistCorrupt``.

    Only complete (LF-terminated) lines are used; a trailing fragment is ignored.
    """
    end = data.rfind(b"\n")
    if end < 0:
        raise UidlistCorrupt(1, "Corrupted header (empty file)")
    lines = data[:end].split(b"\n")
    text = [ln[:-1] if ln.endswith(b"\r") else ln for ln in lines]
    header = text[0].decode("utf-8", "surrogateescape")
    version_s, _, rest = header.partition(" ")
    if version_s == "3":
        uidlist = _parse_header_v3(rest)
    elif version_s == "1":
        uidlist = _parse_header_v1(rest)
    elif version_s.isdigit():
        raise UidlistCorrupt(1, f"Unsupported version {version_s}")
    else:
        raise UidlistCorrupt(1, "Corrupted header (invalid version number)")
    records: list[UidRecord] = []
    positions: dict[str, int] = {}
    needs_rewrite = uidlist.needs_rewrite
    duplicates = False
    prev = 0
    v3 = uidlist.version == VERSION
    for lineno, raw in enumerate(text[1:], start=2):
        line = raw.decode("utf-8", "surrogateescape")
        if not line:
            continue
        # The common v3 line "<uid> :<base>" is taken apart inline (a restart may read 100,000);
        # anything else (extensions, odd UIDs, v1) goes through the full record parser.
        sp = line.find(" ")
        uid_s = line[:sp]
        filename = line[sp + 2 :]
        if (
            v3
            and line[sp + 1 : sp + 2] == ":"
            and uid_s.isascii()
            and uid_s.isdigit()
            and filename
            and "/" not in filename
            and 0 < (uid := int(uid_s)) <= MAX_UID
        ):
            rec = UidRecord(uid, filename)
        else:  # also raises the precise error for a broken line
            rec, dropped = _parse_record(line, lineno, uidlist.version)
            needs_rewrite |= dropped
            uid, filename = rec.uid, rec.filename
        if uid <= prev:
            raise UidlistCorrupt(lineno, f"UIDs not ordered ({prev} >= {uid})")
        prev = uid
        cut = filename.find(INFO_SEP)
        base = filename if cut < 0 else filename[:cut]
        if base in positions:  # the later line wins (Dovecot "Duplicate file entry")
            records[positions[base]] = UidRecord(0, "")
            needs_rewrite = duplicates = True
        positions[base] = len(records)
        records.append(rec)
    recs = tuple(r for r in records if r.uid) if duplicates else tuple(records)
    return replace(uidlist, records=recs, needs_rewrite=needs_rewrite)


def _parse_header_v3(rest: str) -> Uidlist:
    uidvalidity = next_uid = 0
    guid: str | None = None
    extra: list[tuple[str, str]] = []
    for field in rest.split(" "):
        if not field:
            continue
        key, value = field[0], field[1:]
        if key in "VN":
            if not value.isdigit():
                raise UidlistCorrupt(1, f"Broken header field {field!r}")
            if key == "V":
                uidvalidity = int(value)
            else:
                next_uid = int(value)
        elif key == "G":
            if not _GUID_RE.fullmatch(value):
                raise UidlistCorrupt(1, f"Invalid mailbox GUID {value!r}")
            guid = value.lower()
        else:
            extra.append((key, value))
    _check_header(uidvalidity, next_uid)
    return Uidlist(uidvalidity, next_uid, guid, (), tuple(extra), 3, guid is None)


def _parse_header_v1(rest: str) -> Uidlist:
    parts = rest.split()
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise UidlistCorrupt(1, "Corrupted header")
    uidvalidity, next_uid = int(parts[0]), int(parts[1])
    _check_header(uidvalidity, next_uid)
    return Uidlist(uidvalidity, next_uid, None, (), (), 1, True)


def _check_header(uidvalidity: int, next_uid: int) -> None:
    if not (0 < uidvalidity <= MAX_UIDVALIDITY) or not (0 < next_uid <= MAX_UID + 1):
        raise UidlistCorrupt(1, "Broken header (uidvalidity = 0 or next_uid = 0)")


def _parse_record(line: str, lineno: int, version: int) -> tuple[UidRecord, bool]:
    uid_s, sep, rest = line.partition(" ")
    if not (uid_s.isascii() and uid_s.isdigit()) or not sep:  # "²".isdigit(), but int() refuses it
        raise UidlistCorrupt(lineno, "Invalid data")
    uid = int(uid_s)
    if not (0 < uid <= MAX_UID):
        raise UidlistCorrupt(lineno, f"Invalid UID {uid}")
    dropped = False
    exts: list[tuple[str, str]] = []
    if version == 1:
        filename = rest
    else:
        while not rest.startswith(":"):
            field, sep, rest = rest.partition(" ")
            if not sep:
                raise UidlistCorrupt(lineno, "Invalid data (no filename)")
            if field and "A" <= field[0] <= "Z":
                exts.append((field[0], field[1:]))
            elif field:
                dropped = True  # Dovecot: "Invalid extension record, removing"
        filename = rest[1:]
    if not filename or "/" in filename:
        raise UidlistCorrupt(lineno, f"Broken filename {filename!r}")
    return UidRecord(uid, filename, tuple(exts)), dropped


def _check_ascending(records: Iterable[UidRecord], after: int) -> None:
    prev = after
    for rec in records:
        if not (prev < rec.uid <= MAX_UID):
            raise ValueError(f"record UIDs must ascend: {prev} then {rec.uid}")
        prev = rec.uid


# --------------------------------------------------------------------------------------------------
# Serializing


def format_record(rec: UidRecord) -> bytes:
    """``<uid>[ <K><value>...] :<base>\\n``. The base name only (Dovecot strips at the first ``:``)."""
    if "/" in rec.filename or "\n" in rec.filename or "\r" in rec.filename or not rec.filename:
        raise ValueError(f"invalid filename for dovecot-uidlist: {rec.filename!r}")
    fields = "".join(f"{k}{v} " for k, v in rec.extensions)
    return f"{rec.uid} {fields}:{rec.base}\n".encode("utf-8", "surrogateescape")


def serialize_uidlist(uidlist: Uidlist) -> bytes:
    """Version 3 bytes with LF line ends: ``3 V<uv> N<next> G<guid>[ extra]`` then the records.

    The header carries the effective next UID.
    """
    _check_ascending(uidlist.records, 0)
    head = [f"3 V{uidlist.uidvalidity} N{uidlist.effective_next_uid}"]
    if uidlist.guid is not None:
        head.append(f"G{uidlist.guid}")
    head.extend(f"{k}{v}" for k, v in uidlist.header_extra)
    out = [(" ".join(head) + "\n").encode("utf-8", "surrogateescape")]
    out.extend(format_record(r) for r in uidlist.records)
    return b"".join(out)


# --------------------------------------------------------------------------------------------------
# Files


def read_uidlist(dirpath: Path) -> Uidlist | None:
    """Read ``<dirpath>/dovecot-uidlist``; None if it does not exist. Raises ``UidlistCorrupt``."""
    try:
        data = (Path(dirpath) / UIDLIST_NAME).read_bytes()
    except FileNotFoundError:
        return None
    return parse_uidlist(data)


HEADER_READ = 4096
"""Octets read at a time while looking for the end of the header line (``read_header``)."""


def read_header(dirpath: Path) -> tuple[Uidlist, tuple[int, int, int]] | None:
    """The header of ``<dirpath>/dovecot-uidlist`` alone (``records`` empty, so its
    ``effective_next_uid`` is only the header's ``N``) and the file's (inode, size, mtime_ns) as of
    this read; None when there is no file. Raises ``UidlistCorrupt`` for a broken header.
    A restart that can trust its sidecar needs no more than this (``sync.Folder``)."""
    try:
        fd = os.open(Path(dirpath) / UIDLIST_NAME, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return None
    try:
        st = os.fstat(fd)
        data = b""
        while b"\n" not in data:
            chunk = os.read(fd, HEADER_READ)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(fd)
    header = parse_uidlist(data[: data.find(b"\n") + 1] if b"\n" in data else data)
    return header, (st.st_ino, st.st_size, st.st_mtime_ns)


def append_records(dirpath: Path, records: Iterable[UidRecord], *, fsync: bool = True) -> None:
    """Append new record lines (under the uidlist lock; the header ``N`` is left stale, §3.4).

    The caller must have re-read the file under the lock, so the UIDs continue its sequence.
    Raises ``FileNotFoundError`` when there is no file (recreate it instead) and ``UidlistCorrupt``
    when the file ends in a partial line (appending would glue onto it; recreate instead).
    """
    recs = tuple(records)
    if not recs:
        return
    _check_ascending(recs, 0)
    data = b"".join(format_record(r) for r in recs)
    fd = os.open(Path(dirpath) / UIDLIST_NAME, os.O_RDWR | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0))
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            raise UidlistCorrupt(0, "file ends in a partial line; recreate it instead of appending")
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)


def rewrite_uidlist(dirpath: Path, uidlist: Uidlist, *, fsync: bool = True) -> Uidlist:
    """Recreate the file via ``dovecot-uidlist.tmp`` + ``os.replace`` (under the uidlist lock).

    A missing GUID is filled in. Raises ``UidlistLowered`` if, for the same UIDVALIDITY, the new
    next UID would be below the one on disk. Returns what was written.
    """
    dirpath = Path(dirpath)
    if uidlist.guid is None:
        uidlist = replace(uidlist, guid=new_guid())
    try:
        current = read_uidlist(dirpath)
    except UidlistCorrupt:
        current = None
    if (
        current is not None
        and current.uidvalidity == uidlist.uidvalidity
        and uidlist.effective_next_uid < current.effective_next_uid
    ):
        raise UidlistLowered(
            f"next UID would go down ({current.effective_next_uid} -> {uidlist.effective_next_uid})"
        )
    uidlist = replace(uidlist, next_uid=uidlist.effective_next_uid, version=VERSION, needs_rewrite=False)
    data = serialize_uidlist(uidlist)
    tmp = dirpath / TMP_NAME
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(tmp, flags, dir_file_mode(dirpath))
    try:
        adopt_dir_permissions(fd, dirpath)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if fsync:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.close(fd)
    os.replace(tmp, dirpath / UIDLIST_NAME)
    if fsync:
        fsync_dir(dirpath)
    return uidlist


def quarantine_broken(dirpath: Path) -> Path | None:
    """Rename a broken ``dovecot-uidlist`` to ``dovecot-uidlist.broken.<time>`` (kept as evidence).

    Returns the new path, or None if there was no file.
    """
    dirpath = Path(dirpath)
    stamp = int(time.time())
    for attempt in range(100):
        target = dirpath / f"{BROKEN_PREFIX}{stamp}{'' if attempt == 0 else f'.{attempt}'}"
        if target.exists():
            continue
        try:
            os.rename(dirpath / UIDLIST_NAME, target)
        except FileNotFoundError:
            return None
        return target
    raise FileExistsError(f"too many {BROKEN_PREFIX}{stamp}.* files in {dirpath}")
