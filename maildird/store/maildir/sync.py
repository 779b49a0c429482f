"""The locked scan of one Maildir folder: UID assignment, flag changes, expunges, the cached state.

Theory of operation (maildir-format.md §3, §5.2, §5.3, §7.3):

* ``Folder`` is the process-wide state of one folder directory, shared by every open handle through
  ``maildird.store.registry``. Its methods block (directory scans, renames, fsync): callers run them
  in a worker thread while holding ``Folder.lock`` (a ``trio.Lock``), so inside the process one
  operation at a time touches the folder. Across processes the ``dovecot-uidlist.lock`` dotlock
  serializes us with Dovecot and other maildird processes; every full scan, UID assignment, flag
  rename, expunge and new/->cur/ move happens under it.
* Cheap change detection: ``needs_sync`` compares the mtimes of new/ and cur/, the identity of
  ``dovecot-uidlist`` (inode, size, mtime) and of ``dovecot-keywords`` with the values seen by the
  last scan. A directory whose mtime lies within ``SYNC_SECS`` of the moment we checked it is
  distrusted (Dovecot's ``MAILDIR_SYNC_SECS`` dirty window, §5.3): a change within the same clock
  tick would leave the same mtime. A snapshot with nothing changed costs a few ``stat`` calls.
* The full sync (``sync_locked``): re-read the uidlist, list new/ then cur/, match records to files
  by base name. A record whose file was not listed is only a *candidate* expunge: readdir misses
  entries while others rename (82 % of scans in E9), so both directories are listed again and only a
  base absent from both listings is expunged (§5.2 rule 2). The same base twice in a listing is
  normally a rename in flight; only if both names still exist is it a real duplicate, which gets a
  fresh base name and so a new UID (Dovecot ``maildir_fix_duplicate``).
* New base names get UIDs in Dovecot's sort order (``filenames.sort_key``), at
  ``max(uidlist next UID, every UID this incarnation ever had + 1)``, so no UID is ever reused. Expunged
  records are removed from the uidlist at once (by a rewrite that never lowers ``N``), so a file that
  reappears under an expunged base gets a new UID, never the old one (§3.3.3).
* With ``claim_recent`` (a read-write SELECT and its refreshes) files in new/ are renamed to cur/
  (``:2,`` appended when the name has no info) and their UIDs returned: they are \\Recent for that
  session only (§1.7).
* The sidecar (``state.MailboxState``) caches per UID the file name, RFC822.SIZE and INTERNALDATE,
  so reopening a large folder reads no message file: sizes come from ``,W=`` or the cache, and a
  file without ``,W=`` is read once. Every observed change gets a clock-seeded modseq.
* Restart (``_warm_start``): a fresh ``Folder`` (a restarted server) whose sidecar holds a
  ``stamps.SyncMark`` equal to what new/, cur/, the uidlist and the keywords file show now takes
  its records from the sidecar and lists no directory, reads only the uidlist's header line, and
  parses the rest of the uidlist only when something needs its records (``uidlist``). The proof
  that nothing can have changed unseen is in the ``stamps`` module docstring (Dovecot's
  ``MAILDIR_SYNC_SECS`` rule made durable); a claim of \\Recent with files in new/ still lists.
* Modules: ``listing`` (new/ and cur/ listings), ``stamps`` (the quick check and the restart
  rule), ``memory`` (records, MessageInfo, snapshots) and ``files`` (locate, sizes, new/ -> cur/)
  hold the parts; ``Folder`` here derives from ``files.FolderFiles`` and runs the sync.
* ``crash_point(step)`` exits the process at a named step when ``MAILDIRD_CRASH_AT`` names it: the
  crash-safety tests kill the server between every two steps of APPEND, COPY and EXPUNGE.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import trio

from maildird.store.base import MailboxNotFound
from maildird.store.maildir.filenames import is_message_name, sort_key
from maildird.store.maildir.files import RESYNC_RETRY_COUNT, FolderFiles
from maildird.store.maildir.keywords import KEYWORDS_NAME, Keywords
from maildird.store.maildir.listing import (
    READ_CHUNK,
    SUBDIRS,
    Entry,
    crlf_size,
    file_vsize,
    find_base,
    list_dir,
    open_message,
)
from maildird.store.maildir.lock import DEFAULT_TIMEOUT, UidlistLock
from maildird.store.maildir.stamps import (
    NS_PER_SEC,
    SYNC_SECS_NS,
    Stamps,
    SyncMark,
    current_stamps,
    file_stamp,
)
from maildird.store.maildir.state import MailboxState, Record, next_modseq, state_path
from maildird.store.maildir.uidlist import (
    UIDLIST_NAME,
    Uidlist,
    UidlistCorrupt,
    UidRecord,
    append_records,
    quarantine_broken,
    read_header,
    read_uidlist,
    rewrite_uidlist,
)
from maildird.store.maildir.uidvalidity import next_uidvalidity

__all__ = [
    "CRASH_ENV",
    "CRASH_EXIT_CODE",
    "MEMORY_DB",
    "NS_PER_SEC",
    "READ_CHUNK",
    "SUBDIRS",
    "SYNC_SECS_NS",
    "RESYNC_RETRY_COUNT",
    "Entry",
    "Folder",
    "Stamps",
    "crash_point",
    "crlf_size",
    "file_vsize",
    "find_base",
    "list_dir",
    "open_message",
]

log = logging.getLogger("maildird.store")

MEMORY_DB = ":memory:"
CRASH_ENV = "MAILDIRD_CRASH_AT"
CRASH_EXIT_CODE = 86
CONFIRM_SCANS = 3
"""Extra listings at most to confirm candidate expunges; past the first only while new/ or cur/ change."""


def crash_point(step: str) -> None:
    """Exit at once (no cleanup) if ``$MAILDIRD_CRASH_AT`` names this step: crash-safety tests only."""
    if os.environ.get(CRASH_ENV) == step:
        os._exit(CRASH_EXIT_CODE)


class Folder(FolderFiles):
    """One folder's shared state (module docstring). All methods block; hold ``lock``."""

    def __init__(
        self,
        path: Path,
        *,
        root: Path,
        state_dir: Path,
        fsync: bool = True,
        lock_timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        super().__init__(path, fsync=fsync)
        self.lock_timeout = lock_timeout
        self.root = root
        self.state_dir = state_dir
        self.lock = trio.Lock()
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
            self.state.close()
            self.state = None

    # -- locking ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def dotlock(self) -> Iterator[UidlistLock]:
        """Hold ``dovecot-uidlist.lock`` (touched from a helper thread while held)."""
        if not self.path.is_dir():
            raise MailboxNotFound(f"{self.path} no longer exists")
        lock = UidlistLock(self.path, timeout=self.lock_timeout)
        with lock, lock.keep_fresh():
            yield lock

    # -- quick check -----------------------------------------------------------------------------

    def _dir_mtimes(self) -> tuple[int, int]:
        try:
            return os.stat(self.path / "new").st_mtime_ns, os.stat(self.path / "cur").st_mtime_ns
        except FileNotFoundError:
            return -1, -1

    def refresh_locked(self) -> None:
        """Under the lock: bring memory up to date before a change (a full sync only if needed)."""
        if self.needs_sync(claim_recent=False):
            self.sync_locked(claim_recent=False)

    def refresh_for_delivery_locked(self) -> None:
        """Under the lock, before publishing new messages (APPEND, COPY, MOVE): a delivery depends
        only on the uidlist (the next UID) and the keywords file, and both change only under this
        lock, so while their stamps are the ones we last read or wrote, nothing needs listing.
        Files another program puts into new/ or cur/ meanwhile get their UIDs at the next full
        sync, after ours, as if they had arrived a moment later. Listing a 100,000-message folder
        before every APPEND (our own previous rename always looks like a change for a second,
        ``needs_sync``) is what this saves."""
        if self.stamps is None or not self.has_uidlist or self.state is None:
            self.refresh_locked()
            return
        uidlist_changed = file_stamp(self.path / UIDLIST_NAME) != self._ul_stamp
        if uidlist_changed or self.keywords.changed_on_disk(self.path):
            self.sync_locked(claim_recent=False)

    def _current_stamps(self) -> Stamps:
        return current_stamps(self.path, uidlist=UIDLIST_NAME, keywords=KEYWORDS_NAME)

    def needs_sync(self, *, claim_recent: bool) -> bool:
        """True unless nothing can have changed since the last full scan (module docstring)."""
        old = self.stamps
        if old is None or self.dirty or not self.has_uidlist:
            return True
        if claim_recent and self.new_count:
            return True
        now = self._current_stamps()
        if not now.same_disk(old):
            return True
        # The dirty window: a change in the same tick as the mtime we saw would be invisible.
        return any(old.checked_ns - m < SYNC_SECS_NS for m in (old.new_mtime, old.cur_mtime))

    # -- the full sync ---------------------------------------------------------------------------

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

    def _load_incarnation(self, uidvalidity: int, guid: str) -> None:
        self.close()
        try:
            self.state = MailboxState(state_path(self.state_dir, guid))
        except (OSError, sqlite3.Error):
            # No usable state directory: keep the cache in memory (sizes are re-read and modseqs
            # come from the clock after a restart, which is still correct).
            log.warning("cannot open the state cache in %s; using memory", self.state_dir, exc_info=True)
            self.state = MailboxState(Path(MEMORY_DB))
        loaded = self.state.load(guid, uidvalidity)
        self.uidvalidity, self.guid = uidvalidity, guid
        self.keywords = Keywords.load(self.path)  # a new incarnation: its letters may mean other names
        self.adopt_rows(loaded.rows)
        self.highestmodseq = loaded.highestmodseq
        self.max_uid = loaded.max_uid
        self._loaded_mark = self._mark_written = loaded.sync_mark
        self.hints = {}
        self.version += 1

    def _warm_start(self, stamps: Stamps, *, claim_recent: bool) -> bool:
        """On a fresh ``Folder``: adopt the sidecar's records without listing new/ and cur/ when its
        sync mark trusts ``stamps`` (module docstring). False leaves the full sync to run (with the
        sidecar already loaded when its incarnation matched)."""
        try:
            found = read_header(self.path)
        except UidlistCorrupt:
            return False
        if found is None:
            return False
        head, ul_stamp = found
        if head.guid is None or head.needs_rewrite or ul_stamp != stamps.uidlist:
            return False
        self._load_incarnation(head.uidvalidity, head.guid)
        mark = SyncMark.decode(self._loaded_mark)
        if mark is None or not mark.trusts(stamps):
            return False
        new_count = sum(1 for r in self.msgs.values() if r.in_new)
        if claim_recent and new_count:
            return False  # files to move to cur/: that needs the listing (§1.7)
        if self.keywords.mtime_ns != (stamps.keywords[2] if stamps.keywords is not None else None):
            return False  # replaced between the stat and the read
        self._uidlist = None
        self._ul_deferred = True
        self._ul_next = max(mark.next_uid, head.effective_next_uid)
        self._ul_stamp = ul_stamp
        self.new_count = new_count
        if self.keywords.dirty:  # a letter without a name got ``unknown-N`` (we hold the lock)
            self.keywords.save(self.path, fsync=self.fsync)
            stamps = replace(stamps, keywords=file_stamp(self.path / KEYWORDS_NAME))
        self.stamps = stamps
        self.dirty = False
        self._clean_tmp()
        return True

    def sync_locked(self, *, claim_recent: bool) -> frozenset[int]:
        """The full locked sync (module docstring); returns the UIDs claimed as \\Recent."""
        stamps = self._current_stamps()
        fresh_folder = self.state is None and not self.has_uidlist
        if fresh_folder and self._warm_start(stamps, claim_recent=claim_recent):
            return frozenset()
        if self._nothing_moved(stamps, claim_recent=claim_recent):
            return frozenset()
        ul = self.read_uidlist_locked()
        if (ul.uidvalidity, ul.guid) != (self.uidvalidity, self.guid) or self.state is None:
            assert ul.guid is not None
            self._load_incarnation(ul.uidvalidity, ul.guid)
        if self.keywords.changed_on_disk(self.path) or not self.infos:
            self.keywords = Keywords.load(self.path)
            self.infos = {}  # letters may map to other names now: rebuild every MessageInfo
            self.version += 1
        self._clean_tmp()

        seen, dups = list_dir(self.path)
        ul_bases = self._bases(ul)
        for attempt in range(CONFIRM_SCANS):
            # A known base not listed is only a candidate expunge: list again to confirm (§5.2 rule 2),
            # and keep listing while the directories keep changing under us.
            if ul_bases.keys() <= seen.keys() and self.by_base.keys() <= seen.keys():
                break
            if attempt and self._dir_mtimes() == (stamps.new_mtime, stamps.cur_mtime):
                break
            again, more = list_dir(self.path)
            seen.update(again)
            dups.extend(more)
        if dups:
            self._fix_duplicates(seen, dups)

        claimed: set[str] = set()
        if claim_recent:
            claimed = self._claim_new(seen)
        self.new_count = sum(1 for e in seen.values() if e.in_new)

        live: list[tuple[str, UidRecord]] = []
        dropped = False
        for b, r in ul_bases.items():
            if b in seen:
                live.append((b, r))
            else:
                dropped = True
        msgs = self.msgs
        vanished: list[int] = []
        # Equal sizes and every live UID known means the same UID sets (the common case, no set).
        if len(live) != len(msgs) or not all(r.uid in msgs for _, r in live):
            live_uids = {r.uid for _, r in live}
            vanished = [uid for uid in msgs if uid not in live_uids]
        fresh = sorted((b for b in seen if b not in ul_bases), key=lambda b: cast(Any, sort_key(b)))

        next_uid = max(ul.effective_next_uid, self.max_uid + 1)
        added: list[tuple[UidRecord, Entry, int, int]] = []
        for base in fresh:
            found = self._measure(base, seen[base])
            if found is None:
                continue  # gone again before we could stat it: never existed for us
            entry, size, mtime_ns = found
            seen[base] = entry
            added.append((UidRecord(next_uid, base), entry, size, mtime_ns))
            next_uid += 1
        new_records = [a[0] for a in added]
        if dropped:
            ul = self._rewrite_records(ul, [r for _, r in live] + new_records)
        elif new_records:
            ul = self.add_records(ul, new_records)
        self.uidlist = ul

        # Records: compare with what we knew; every change gets one modseq for this sync.
        modseq = next_modseq(self.highestmodseq)
        upserts: list[Record] = []
        for base, rec in live:
            entry = seen[base]
            old = msgs.get(rec.uid)
            if old is not None and old.base == base:
                if old.name == entry.name and old.in_new == entry.in_new:
                    continue
                flags_changed = self._flags(old.name) != self._flags(entry.name)
                seq = modseq if flags_changed else old.modseq
                new = old._replace(name=entry.name, in_new=entry.in_new, modseq=seq)
            else:
                measured = self._measure(base, entry)
                if measured is None:
                    continue
                entry, size, mtime_ns = measured
                new = Record(rec.uid, base, entry.name, entry.in_new, size, mtime_ns, modseq)
            upserts.append(new)
        for urec, entry, size, mtime_ns in added:
            upserts.append(Record(urec.uid, urec.filename, entry.name, entry.in_new, size, mtime_ns, modseq))
        expunged = [(uid, modseq) for uid in dict.fromkeys(vanished) if uid in msgs]
        # HIGHESTMODSEQ moves only when a message got this modseq or went away; a rename that
        # changes no flag (new/ -> cur/) is stored but is no change for RFC 7162.
        bumped = bool(expunged) or any(r.modseq == modseq for r in upserts)
        self._apply(upserts, [u for u, _ in expunged], modseq if bumped else None)
        if self.keywords.dirty:
            self.keywords.save(self.path, fsync=self.fsync)
        self._finish_sync(stamps, upserts, expunged)
        return frozenset(self.by_base[b] for b in claimed if b in self.by_base)

    def _finish_sync(self, stamps: Stamps, upserts: list[Record], expunged: list[tuple[int, int]]) -> None:
        # Nobody else writes the control files while we hold the lock: remember our own writes.
        self.stamps = replace(
            stamps,
            uidlist=file_stamp(self.path / UIDLIST_NAME),
            keywords=file_stamp(self.path / KEYWORDS_NAME),
        )
        # A settled sync is recorded with its records, for the next restart (``_warm_start``).
        mark = SyncMark(self.stamps, self._ul_next).encode() if self.stamps.settled else ""
        if upserts or expunged:
            self.persist(upserts, expunged, mark)
        elif mark != self._mark_written:
            self._save_mark(mark)
        self.dirty = False
        self.hints.clear()

    def _nothing_moved(self, stamps: Stamps, *, claim_recent: bool) -> bool:
        """The full sync's answer when it is "nothing changed", found cheaply: the control files are
        as we last read or wrote them and new/ and cur/ hold exactly the names our records say.
        Then every step of the full sync would be a no-op (no base missing, none twice, none new,
        no name changed), so the sets of names are compared in C instead of an ``Entry`` per
        file. This is the sync that follows every change of our own (STORE, EXPUNGE, a claim of
        new/): the dirty window (``needs_sync``) makes it run, and it now costs two listings.
        A listing racing with someone's rename can only look unchanged if it missed that rename,
        which then moved the directory's mtime after ``stamps``: the next check syncs again."""
        if self.state is None or not self.has_uidlist or self.hints or len(self.infos) != len(self.msgs):
            return False
        if stamps.uidlist != self._ul_stamp or self.keywords.changed_on_disk(self.path):
            return False
        want_new: set[str] = set()
        want_cur: set[str] = set()
        for rec in self.msgs.values():
            (want_new if rec.in_new else want_cur).add(rec.name)
        for sub, want in (("new", want_new), ("cur", want_cur)):
            try:
                with os.scandir(self.path / sub) as it:
                    names = {e.name for e in it if not e.is_symlink()}  # as ``list_dir``
            except FileNotFoundError:
                return False
            if names != want and {n for n in names if is_message_name(n)} != want:
                return False
            if sub == "new" and claim_recent and want:
                return False  # files to move to cur/ (§1.7)
        self.new_count = len(want_new)
        self._clean_tmp()
        self._finish_sync(stamps, [], [])
        return True

    def persist(self, upserts: list[Record], expunged: list[tuple[int, int]], mark: str = "") -> None:
        """Store changes in the sidecar (and the sync mark: "" clears it, as every change other than
        a settled full sync must). A failure (disk full, broken file) must not fail an operation
        that already happened on disk: the sidecar is a cache, rebuilt by the next diff, and modseqs
        stay monotonic through the clock term (module docstring of ``state``)."""
        if self.state is None:
            return
        try:
            self.state.commit(
                upserts=upserts, expunged=expunged, highestmodseq=self.highestmodseq, sync_mark=mark
            )
            self._mark_written = mark
        except sqlite3.Error:
            self._mark_written = None
            log.warning("cannot update the state cache %s", self.state.path, exc_info=True)

    def _save_mark(self, mark: str) -> None:
        if self.state is None:
            return
        try:
            self.state.set_sync_mark(mark)
            self._mark_written = mark
        except sqlite3.Error:
            self._mark_written = None
            log.warning("cannot update the state cache %s", self.state.path, exc_info=True)

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


def _file_stamp_now(folder: Path) -> tuple[int, int, int] | None:
    return file_stamp(folder / UIDLIST_NAME)
