"""What tells a folder changed without listing it: the stamps of new/, cur/ and the control files.

Theory of operation (maildir-format.md §5.3, Dovecot ``maildir_sync_quick_check``):

* Every change to the set of messages or to their flags is a create, rename or unlink in new/ or
  cur/, and each of those sets the directory's mtime to the current time. The uidlist and the
  keywords file are only ever replaced (new inode) or appended to (new size) under the uidlist lock.
  So ``Stamps`` holds (device, inode, mtime) of new/ and cur/, (inode, size, mtime) of
  ``dovecot-uidlist`` and ``dovecot-keywords``, and ``checked_ns``: the wall clock read just
  BEFORE those ``stat`` calls.
* The dirty window: Linux takes directory mtimes from a coarse clock, so a change made in the same
  tick as an earlier one leaves the mtime as it was. A directory whose mtime lies within
  ``SYNC_SECS_NS`` (Dovecot's ``MAILDIR_SYNC_SECS``, which also covers clock skew between hosts) of
  the moment it was checked is therefore never trusted.
* ``settled`` (the rule the restart fast path and the quick check share): let M be a directory's
  mtime as stat'ed at time t0 (``checked_ns``), with t0 - M >= 1 s. A change before t0 is visible to
  a listing that starts after t0. A change at t > t0 sets the mtime to about t (at most a clock tick
  behind), and t - tick > t0 - 1 s >= M, so the mtime can no longer be M. Hence if a later ``stat``
  still shows (device, inode, M), the directory holds exactly what a listing after t0 saw. Replacing
  the directory (rm and mkdir, or a restore with ``cp -a`` that keeps mtimes) changes the inode.
* ``SyncMark`` is that argument made durable: after a full sync whose start stamps are settled, the
  sidecar records them (with the uidlist's effective next UID) in the same transaction as the sync's
  records. A restarted server whose current stamps equal the mark may take the records from the
  sidecar without listing the directories (``sync.Folder``). Every other sidecar write clears the
  mark (``state.MailboxState.commit``), so a mark never describes records changed after it.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from maildird.store.base import MailboxNotFound

NS_PER_SEC = 1_000_000_000
SYNC_SECS_NS = NS_PER_SEC
"""Dovecot's ``MAILDIR_SYNC_SECS``: a directory changed this close to our check is rescanned."""
MARK_VERSION = 1
"""Bumped when the ``SyncMark`` encoding changes; another version is simply not trusted."""

FileStamp = tuple[int, int, int]
"""(inode, size, mtime_ns) of a control file."""
DirId = tuple[int, int]
"""(device, inode) of a directory."""
NO_DIR: DirId = (-1, -1)


def file_stamp(path: Path | str) -> FileStamp | None:
    """(inode, size, mtime_ns) of a file, or None when it does not exist."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


@dataclass(frozen=True, slots=True)
class Stamps:
    """What the quick check compares (module docstring)."""

    new_mtime: int
    cur_mtime: int
    uidlist: FileStamp | None
    keywords: FileStamp | None
    checked_ns: int
    new_id: DirId = NO_DIR
    cur_id: DirId = NO_DIR

    def same_disk(self, other: Stamps) -> bool:
        """Everything ``stat`` saw is equal (the check time aside)."""
        return (
            self.new_mtime == other.new_mtime
            and self.cur_mtime == other.cur_mtime
            and self.uidlist == other.uidlist
            and self.keywords == other.keywords
            and self.new_id == other.new_id
            and self.cur_id == other.cur_id
        )

    @property
    def settled(self) -> bool:
        """Both directories were last changed at least ``SYNC_SECS_NS`` before they were checked."""
        return all(self.checked_ns - m >= SYNC_SECS_NS for m in (self.new_mtime, self.cur_mtime))


@dataclass(frozen=True, slots=True)
class StampPaths:
    """The four paths the stamps come from, as ``str`` made once per folder: the quick check runs
    for every command, and joining ``Path`` objects cost more than the ``stat`` calls."""

    folder: str
    new: str
    cur: str
    uidlist: str
    keywords: str

    @classmethod
    def of(cls, folder: Path | str, *, uidlist: str, keywords: str) -> StampPaths:
        f = os.fspath(folder)
        join = os.path.join
        return cls(f, join(f, "new"), join(f, "cur"), join(f, uidlist), join(f, keywords))


def read_stamps(paths: StampPaths) -> Stamps:
    """Stat new/, cur/ and the two control files now (``checked_ns`` is read first)."""
    now = time.time_ns()
    try:
        new = os.stat(paths.new)
        cur = os.stat(paths.cur)
    except FileNotFoundError:
        if not os.path.isdir(paths.folder):
            raise MailboxNotFound(f"{paths.folder} no longer exists") from None
        return Stamps(-1, -1, file_stamp(paths.uidlist), file_stamp(paths.keywords), now)
    return Stamps(
        new.st_mtime_ns,
        cur.st_mtime_ns,
        file_stamp(paths.uidlist),
        file_stamp(paths.keywords),
        now,
        (new.st_dev, new.st_ino),
        (cur.st_dev, cur.st_ino),
    )


def current_stamps(folder: Path | str, *, uidlist: str, keywords: str) -> Stamps:
    """``read_stamps`` of a folder given by its path."""
    return read_stamps(StampPaths.of(folder, uidlist=uidlist, keywords=keywords))


def same_on_disk(paths: StampPaths, old: Stamps) -> bool:
    """``read_stamps(paths).same_disk(old)`` without building a ``Stamps`` (the quick check of
    every command); the rare case of a missing new/ or cur/ takes that way itself."""
    stat = os.stat
    try:
        new = stat(paths.new)
        cur = stat(paths.cur)
    except FileNotFoundError:
        return read_stamps(paths).same_disk(old)
    return (
        new.st_mtime_ns == old.new_mtime
        and cur.st_mtime_ns == old.cur_mtime
        and (new.st_dev, new.st_ino) == old.new_id
        and (cur.st_dev, cur.st_ino) == old.cur_id
        and file_stamp(paths.uidlist) == old.uidlist
        and file_stamp(paths.keywords) == old.keywords
    )


@dataclass(frozen=True, slots=True)
class SyncMark:
    """A settled full sync as recorded in the sidecar (module docstring)."""

    stamps: Stamps
    next_uid: int
    """The uidlist's effective next UID at that sync (the file is unchanged while its stamp is)."""

    def encode(self) -> str:
        s = self.stamps
        return json.dumps(
            [
                MARK_VERSION,
                s.new_mtime,
                s.cur_mtime,
                s.uidlist,
                s.keywords,
                s.checked_ns,
                s.new_id,
                s.cur_id,
                self.next_uid,
            ]
        )

    @classmethod
    def decode(cls, text: str) -> SyncMark | None:
        """The mark, or None for an empty, foreign or damaged one (then nothing is trusted)."""
        try:
            v, new_m, cur_m, ul, kw, checked, new_id, cur_id, next_uid = json.loads(text)
            if v != MARK_VERSION:
                return None
            stamps = Stamps(
                int(new_m),
                int(cur_m),
                _file_stamp(ul),
                _file_stamp(kw),
                int(checked),
                (int(new_id[0]), int(new_id[1])),
                (int(cur_id[0]), int(cur_id[1])),
            )
            return cls(stamps, int(next_uid))
        except (ValueError, TypeError, IndexError):
            return None

    def trusts(self, now: Stamps) -> bool:
        """True when ``now`` shows the folder exactly as this mark's sync listed it."""
        return self.stamps.settled and self.stamps.new_id != NO_DIR and self.stamps.same_disk(now)


def _file_stamp(value: object) -> FileStamp | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 3:
        raise ValueError("bad file stamp")
    return (int(value[0]), int(value[1]), int(value[2]))
