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
* This module reads and writes the file; the format itself (records, parsing, serializing) is
  ``uidlist_format``, whose names are re-exported here.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from maildird.store.maildir.lock import adopt_dir_permissions, dir_file_mode, fsync_dir
from maildird.store.maildir.uidlist_format import (
    BROKEN_PREFIX,
    GUID_HEX_LEN,
    MAX_UID,
    MAX_UIDVALIDITY,
    TMP_NAME,
    UIDLIST_NAME,
    VERSION,
    Uidlist,
    UidlistCorrupt,
    UidlistLowered,
    UidRecord,
    _check_ascending,
    format_record,
    format_records,
    new_guid,
    parse_uidlist,
    serialize_uidlist,
)

__all__ = [
    "BROKEN_PREFIX",
    "GUID_HEX_LEN",
    "HEADER_READ",
    "MAX_UID",
    "MAX_UIDVALIDITY",
    "TMP_NAME",
    "UIDLIST_NAME",
    "VERSION",
    "UidRecord",
    "Uidlist",
    "UidlistCorrupt",
    "UidlistLowered",
    "append_records",
    "format_record",
    "format_records",
    "new_guid",
    "parse_uidlist",
    "quarantine_broken",
    "read_header",
    "read_uidlist",
    "rewrite_uidlist",
    "serialize_uidlist",
]

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
    data = format_records(recs)
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
