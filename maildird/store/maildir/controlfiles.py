"""One folder's control files as the sync keeps them: ``dovecot-uidlist`` and maildird's sidecar.

Theory of operation (maildir-format.md §3.3, §7.3):

* The uidlist is read under the uidlist lock (``read_uidlist_locked``); a missing or broken one is
  replaced by a fresh list with a NEW UIDVALIDITY (§3.3.4), a broken file kept as evidence. Its
  stamp (inode, size, mtime) is remembered after every read and every write of ours: an unchanged
  file is not parsed again, and only holders of the lock change it.
* After a restart that trusted the sidecar (``fastpaths``) only the uidlist's header line was read:
  the records are parsed on first use (the ``uidlist`` property, ``_ul_deferred``). Should the file
  differ from the one the restart checked, the folder is marked ``dirty`` and the next snapshot
  runs a full sync.
* New records are appended (``add_records``: costs the new records only); records going away mean
  a rewrite that never lowers the next UID (``_rewrite_records``), with crash points on each side.
* The sidecar (``state.MailboxState``) is opened per incarnation, i.e. per (UIDVALIDITY, GUID)
  (``_load_incarnation``); it is a cache, so a failure to open or write it is logged and never
  fails an operation that already happened on disk (``persist``). Its sync mark is "" except after
  a settled full sync (``stamps`` module docstring). After a failed write its rows lag behind
  memory, so no mark is written again for that incarnation (a restart then runs the full sync,
  which writes what the rows miss).
* A settled sync's mark comes with the packed copy of the records it leaves (``statepack``, read
  by the next restart instead of the rows) when the folder still looks as the mark says: a sync
  that moved files itself (a claim of new/) recorded stamps that no longer hold, and its pack would
  never be read.
* ``crash_point(step)`` exits the process at a named step when ``MAILDIRD_CRASH_AT`` names it: the
  crash-safety tests kill the server between every two steps of APPEND, COPY and EXPUNGE.

All methods block; ``sync.Folder`` derives from ``FolderControl`` and calls them under its lock.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from maildird.store.maildir import statepack
from maildird.store.maildir.collector import bulk_build
from maildird.store.maildir.files import FolderFiles
from maildird.store.maildir.keywords import KEYWORDS_NAME, Keywords
from maildird.store.maildir.stamps import StampPaths, Stamps, SyncMark, file_stamp, read_stamps
from maildird.store.maildir.state import MailboxState, PackSource, Record, state_path
from maildird.store.maildir.uidlist import (
    UIDLIST_NAME,
    Uidlist,
    UidlistCorrupt,
    UidRecord,
    append_records,
    quarantine_broken,
    read_uidlist,
    rewrite_uidlist,
)
from maildird.store.maildir.uidvalidity import next_uidvalidity

__all__ = ["CRASH_ENV", "CRASH_EXIT_CODE", "MEMORY_DB", "FolderControl", "crash_point"]

log = logging.getLogger("maildird.store")

MEMORY_DB = ":memory:"
CRASH_ENV = "MAILDIRD_CRASH_AT"
CRASH_EXIT_CODE = 86

PACK_INTERVAL = 60.0
"""Seconds between the packed copies of the rows (``statepack``) one open folder writes. Each costs
~150-200 ms of CPU for 100,000 messages, and every settled sync after a change (a STORE of one
flag) would write one. A settled sync within the interval writes none (the old pack goes, as after
any write) and owes it; ``close`` pays what is owed, so a restart after a clean stop reads a pack."""


def crash_point(step: str) -> None:
    """Exit at once (no cleanup) if ``$MAILDIRD_CRASH_AT`` names this step: crash-safety tests only."""
    if os.environ.get(CRASH_ENV) == step:
        os._exit(CRASH_EXIT_CODE)


class FolderControl(FolderFiles):
    """The uidlist and sidecar side of a folder (module docstring). All methods block."""

    def __init__(self, path: Path, *, root: Path, state_dir: Path, fsync: bool) -> None:
        super().__init__(path, fsync=fsync)
        self.root = root
        self.state_dir = state_dir
        self.guid: str | None = None
        self.state: MailboxState | None = None
        self.stamps: Stamps | None = None
        self.new_count = 0
        self._uidlist: Uidlist | None = None
        self._ul_deferred = False  # the uidlist's records are parsed on first use (``uidlist``)
        self._ul_stamp: tuple[int, int, int] | None = None
        self._ul_bases: tuple[Uidlist | None, dict[str, UidRecord]] = (None, {})
        self._loaded_mark = ""  # the sync mark the sidecar held when it was loaded
        self._mark_written: str | None = None  # the mark the sidecar holds now (None: unknown)
        self._rows_stale = False  # a sidecar write failed: its rows lag behind memory (no marks)
        self._packed_at: float | None = None  # monotonic time of this folder's last pack (PACK_INTERVAL)
        self._pack_owed = False  # a settled mark went without its pack (PACK_INTERVAL): close writes it

    @property
    def uidlist(self) -> Uidlist | None:
        """The parsed ``dovecot-uidlist`` (None before the first sync). After a restart that trusted
        the sidecar it is parsed here, on first use. That happens under the folder lock; the file is
        the one whose stamp the restart checked, since only holders of the uidlist lock change it
        and every write path re-checks the stamps first (``refresh_locked``). Should it differ
        anyway, the next snapshot does a full sync (``dirty``)."""
        if self._ul_deferred:
            self._ul_deferred = False
            try:
                ul = read_uidlist(self.path)
            except UidlistCorrupt:
                ul = None
            if ul is None or (ul.uidvalidity, ul.guid) != (self.uidvalidity, self.guid):
                self.dirty = True
                raise UidlistCorrupt(0, "dovecot-uidlist changed under a running sync; resyncing")
            if _file_stamp_now(self.path) != self._ul_stamp or ul.needs_rewrite:
                self.dirty = True
            self._uidlist = ul
            self._ul_next = max(self._ul_next, ul.effective_next_uid)
        return self._uidlist

    @uidlist.setter
    def uidlist(self, value: Uidlist | None) -> None:
        self._uidlist = value
        self._ul_deferred = False
        if value is not None:
            self._ul_next = value.effective_next_uid

    @property
    def has_uidlist(self) -> bool:
        """A uidlist was read (parsed or deferred): the folder was synced at least once."""
        return self._uidlist is not None or self._ul_deferred

    @property
    def next_uid(self) -> int:
        """The uidlist's effective next UID, without parsing a deferred uidlist."""
        return self._ul_next

    def close(self) -> None:
        if self.state is not None:
            self._pay_pack()
            self.state.close()
            self.state = None

    def _pay_pack(self) -> None:
        """Write the pack a settled sync owes (``PACK_INTERVAL``) if the sidecar still holds its mark
        and the folder still matches it."""
        mark = self._mark_written
        if not self._pack_owed or not mark or self._rows_stale or self.state is None:
            return
        self._pack_owed = False
        self._packed_at = None  # the interval is for open folders
        source = self._pack_source(mark)
        if source is None:
            return
        try:
            self.state.set_sync_mark(mark, source)
        except sqlite3.Error:
            log.warning("cannot write the packed rows of %s", self.state.path, exc_info=True)

    # -- the uidlist -----------------------------------------------------------------------------

    def read_uidlist_locked(self) -> Uidlist:
        """The uidlist as on disk (under the lock). A missing or broken one is replaced by a fresh
        list with a NEW UIDVALIDITY (§3.3.4); a broken file is kept as evidence. An unchanged file
        (same inode, size and mtime as after our last read or write) is not parsed again."""
        stamp = file_stamp(self.path / UIDLIST_NAME)
        if self.has_uidlist and stamp is not None and stamp == self._ul_stamp:
            try:
                ul_now = self.uidlist
            except UidlistCorrupt:
                ul_now = None
            if ul_now is not None and not ul_now.needs_rewrite:
                return ul_now
        try:
            ul = read_uidlist(self.path)
        except UidlistCorrupt:
            quarantine_broken(self.path)
            ul = None
        if ul is None:
            ul = rewrite_uidlist(self.path, Uidlist.new(next_uidvalidity(self.root)), fsync=self.fsync)
        elif ul.guid is None or ul.needs_rewrite:
            ul = rewrite_uidlist(self.path, ul, fsync=self.fsync)  # adds a GUID, drops bad fields
        self._ul_stamp = file_stamp(self.path / UIDLIST_NAME)
        return ul

    def _bases(self, ul: Uidlist) -> dict[str, UidRecord]:
        """base -> record of a uidlist, in UID order (computed once per parsed list)."""
        if self._ul_bases[0] is not ul:
            self._ul_bases = (ul, ul.by_base())
        return self._ul_bases[1]

    def _write_records(self, ul: Uidlist, records: list[UidRecord], *, dropped: bool) -> Uidlist:
        """Append the new records, or recreate the file when records go away (never lowering N)."""
        if not dropped:
            return self.add_records(ul, [r for r in records if r.uid > ul.last_uid])
        return self._rewrite_records(ul, records)

    def add_records(self, ul: Uidlist, new: list[UidRecord]) -> Uidlist:
        """Append records with UIDs above every one in ``ul`` (a rewrite if the file ends in a
        partial line or is gone). Costs the new records only, not a pass over the whole list."""
        try:
            append_records(self.path, new, fsync=self.fsync)
            self._ul_stamp = file_stamp(self.path / UIDLIST_NAME)  # we hold the lock: only we wrote
            return replace(ul, records=ul.records + tuple(new))
        except (UidlistCorrupt, FileNotFoundError):
            return self._rewrite_records(ul, [*ul.records, *new])  # a partial last line or no file

    def _rewrite_records(self, ul: Uidlist, records: list[UidRecord]) -> Uidlist:
        crash_point("uidlist:before-rewrite")
        written = rewrite_uidlist(self.path, ul.with_records(records), fsync=self.fsync)
        self._ul_stamp = file_stamp(self.path / UIDLIST_NAME)
        crash_point("uidlist:after-rewrite")
        return written

    def message_guid(self, base: str) -> str:
        """A message's GUID: its uidlist ``G`` extension, else its base name (Dovecot, §3.3.2)."""
        try:
            ul = self.uidlist
        except UidlistCorrupt:
            ul = None
        rec = self._bases(ul).get(base) if ul is not None else None
        guid = rec.ext("G") if rec is not None else None
        return guid or base

    # -- the sidecar -----------------------------------------------------------------------------

    def _load_incarnation(self, uidvalidity: int, guid: str) -> None:
        self.close()
        try:
            self.state = MailboxState(state_path(self.state_dir, guid))
        except (OSError, sqlite3.Error):
            # No usable state directory: keep the cache in memory (sizes are re-read and modseqs
            # come from the clock after a restart, which is still correct).
            log.warning("cannot open the state cache in %s; using memory", self.state_dir, exc_info=True)
            self.state = MailboxState(Path(MEMORY_DB))
        self.keywords = Keywords.load(self.path)  # a new incarnation: its letters may mean other names
        with bulk_build():  # a row, a record and an info per message: no collections meanwhile
            loaded = self.state.load(guid, uidvalidity)
            if loaded.columns is not None:
                self.adopt_columns(loaded.columns)
            else:
                self.adopt_rows(loaded.rows)
        self._rows_stale = False
        self.uidvalidity, self.guid = uidvalidity, guid
        self.highestmodseq = loaded.highestmodseq
        self.max_uid = loaded.max_uid
        self._loaded_mark = self._mark_written = loaded.sync_mark
        self.hints = {}
        self.version += 1

    def persist(
        self,
        upserts: list[Record],
        expunged: list[tuple[int, int]],
        mark: str = "",
        renamed: Sequence[Record] = (),
    ) -> None:
        """Store changes in the sidecar (and the sync mark: "" clears it, as every change other than
        a settled full sync must). A failure (disk full, broken file) must not fail an operation
        that already happened on disk: the sidecar is a cache, rebuilt by the next diff, and modseqs
        stay monotonic through the clock term (module docstring of ``state``).

        ``renamed``: records only renamed since their row was written (a STORE's flag change: same
        base, size and mtime), so only name, in_new and modseq are updated (``state.commit``); after
        a failed write the rows may lag behind memory, and they are written whole instead."""
        if self.state is None:
            return
        mark = "" if self._rows_stale else mark
        if self._rows_stale and renamed:
            upserts, renamed = [*upserts, *renamed], ()
        try:
            self.state.commit(
                upserts=upserts,
                expunged=expunged,
                highestmodseq=self.highestmodseq,
                sync_mark=mark,
                pack=self._pack_source(mark),
                renamed=renamed,
            )
            self._mark_written = mark
        except sqlite3.Error:
            self._failed_write()

    def _save_mark(self, mark: str) -> None:
        if self.state is None:
            return
        if self._rows_stale:
            if self._mark_written == "":
                return
            mark = ""
        try:
            self.state.set_sync_mark(mark, self._pack_source(mark))
            self._mark_written = mark
        except sqlite3.Error:
            self._failed_write()

    def _failed_write(self) -> None:
        self._mark_written = None
        self._rows_stale = True
        assert self.state is not None
        log.warning("cannot update the state cache %s", self.state.path, exc_info=True)

    def _pack_source(self, mark: str) -> PackSource | None:
        """What packs the records with ``mark`` (module docstring), or None: no pack for no mark, a
        small folder or a mark the folder no longer matches."""
        if not mark or len(self.msgs) < statepack.PACK_MIN_MESSAGES:
            return None
        if self._packed_at is not None and time.monotonic() - self._packed_at < PACK_INTERVAL:
            self._pack_owed = True
            return None
        decoded = SyncMark.decode(mark)
        paths = StampPaths.of(self.path, uidlist=UIDLIST_NAME, keywords=KEYWORDS_NAME)
        if decoded is None or not decoded.trusts(read_stamps(paths)):
            return None
        self._pack_owed = False
        return self._packed

    def _packed(self) -> tuple[list[Record], list[datetime]]:
        self._packed_at = time.monotonic()
        found = self.pack_rows()
        return found if found is not None else ([], [])


def _file_stamp_now(folder: Path) -> tuple[int, int, int] | None:
    return file_stamp(folder / UIDLIST_NAME)
