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
* Cheaper still while the server watches the folder with inotify (``maildird.watchproof``): the
  caller draws the folder's watch token in the Trio thread BEFORE the check; a full sync, or a stat
  check that found nothing changed, remembers it (``_watch_mark``), and the same token on the next
  check proves nothing changed since, with no ``stat`` and no dirty window, for up to
  ``watchproof.TRUST_NS``. Without a token (no live watch, worker threads) the stats decide.
* The full sync (``sync_locked``): re-read the uidlist, list new/ then cur/, match records to files
  by base name. A record whose file was not listed is only a *candidate* expunge: readdir misses
  entries while others rename (82 % of scans in E9), so both directories are listed again and only a
  base absent from both listings is expunged (§5.2 rule 2). The same base twice in a listing is
  normally a rename in flight; only if both names still exist is it a real duplicate, which gets a
  fresh base name and so a new UID (Dovecot ``maildir_fix_duplicate``).
* New base names get UIDs in Dovecot's sort order (``filenames.sort_key``, ``sortorder``), at
  ``max(uidlist next UID, every UID this incarnation ever had + 1)``, so no UID is ever reused. Expunged
  records are removed from the uidlist at once (by a rewrite that never lowers ``N``), so a file that
  reappears under an expunged base gets a new UID, never the old one (§3.3.3).
* With ``claim_recent`` (a read-write SELECT and its refreshes) files in new/ are renamed to cur/
  (``:2,`` appended when the name has no info) and their UIDs returned: they are \\Recent for that
  session only (§1.7).
* The sidecar (``state.MailboxState``) caches per UID the file name, RFC822.SIZE and INTERNALDATE,
  so reopening a large folder reads no message file: sizes come from ``,W=`` or the cache, and a
  file without ``,W=`` is read once. Every observed change gets a clock-seeded modseq.
* A folder's first open (no sidecar; maybe no uidlist either) measures every file: sizes and
  dates in one pass (``measure``: a ``stat`` per file, a read of each file without ``,W=``, by a
  small thread pool), the uidlist written once with all its records when there was none, the new
  records built column-wise. Dovecot's first SELECT stats and reads no message file (strace: only
  the new/ -> cur/ renames touch them): it learns sizes and dates when a client fetches them, while
  a ``Snapshot`` here carries both for every message.
* Restart (``_warm_start``) and the sync after our own change (``_nothing_moved``) skip the
  listing when nothing can have changed unseen: ``fastpaths`` holds both and their proofs.
* Modules: ``listing`` (new/ and cur/ listings), ``stamps`` (the quick check and the restart
  rule), ``memory`` (records, MessageInfo, snapshots), ``files`` (locate, sizes, new/ -> cur/),
  ``controlfiles`` (the uidlist and the sidecar, ``crash_point``) and ``fastpaths`` (the restart
  and "nothing moved") hold the parts; ``Folder`` here derives from ``fastpaths.FolderFastPaths``
  and runs the quick check and the full sync.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from itertools import repeat
from operator import itemgetter
from pathlib import Path

import trio

from maildird import watchproof
from maildird.store.base import MailboxNotFound
from maildird.store.maildir.collector import bulk_build
from maildird.store.maildir.controlfiles import CRASH_ENV, CRASH_EXIT_CODE, MEMORY_DB, crash_point
from maildird.store.maildir.fastpaths import FolderFastPaths
from maildird.store.maildir.files import RESYNC_RETRY_COUNT
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
from maildird.store.maildir.sortorder import dovecot_order
from maildird.store.maildir.stamps import (
    NS_PER_SEC,
    SYNC_SECS_NS,
    StampPaths,
    Stamps,
    file_stamp,
    read_stamps,
    same_on_disk,
)
from maildird.store.maildir.state import Record, next_modseq
from maildird.store.maildir.uidlist import UIDLIST_NAME, Uidlist, UidRecord
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

CONFIRM_SCANS = 3
"""Extra listings at most to confirm candidate expunges; past the first only while new/ or cur/ change."""


class Folder(FolderFastPaths):
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
        super().__init__(path, root=root, state_dir=state_dir, fsync=fsync)
        self.lock_timeout = lock_timeout
        self.lock = trio.Lock()
        self._stamp_paths = StampPaths.of(path, uidlist=UIDLIST_NAME, keywords=KEYWORDS_NAME)
        self._watch_mark: int | None = None  # the watch token drawn before the last complete look
        self._watch_until = 0  # ``time.monotonic_ns`` after which that proof is checked by stats

    def close(self) -> None:
        self._watch_mark = None
        super().close()

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
        paths = self._stamp_paths
        try:
            return os.stat(paths.new).st_mtime_ns, os.stat(paths.cur).st_mtime_ns
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
        uidlist_changed = file_stamp(self._stamp_paths.uidlist) != self._ul_stamp
        if uidlist_changed or self.keywords.changed_on_disk(self.path):
            self.sync_locked(claim_recent=False)

    def _current_stamps(self) -> Stamps:
        return read_stamps(self._stamp_paths)

    def needs_sync(self, *, claim_recent: bool, watched: int | None = None) -> bool:
        """True unless nothing can have changed since the last full scan (module docstring).

        ``watched``: the folder's ``watchproof.token``, drawn in the Trio thread just before this
        call (None without a live watch, and always in worker threads)."""
        old = self.stamps
        if old is None or self.dirty or not self.has_uidlist:
            return True
        if claim_recent and self.new_count:
            return True
        if watched is not None and watched == self._watch_mark and time.monotonic_ns() < self._watch_until:
            return False  # no event since the last complete look, and none queued now
        if not same_on_disk(self._stamp_paths, old):
            return True
        # The dirty window: a change in the same tick as the mtime we saw would be invisible.
        if any(old.checked_ns - m < SYNC_SECS_NS for m in (old.new_mtime, old.cur_mtime)):
            return True
        self._trust_watch(watched)  # the stats came after the token was drawn
        return False

    def _trust_watch(self, watched: int | None) -> None:
        """Memory shows the folder as it was when ``watched`` was drawn: remember the token."""
        self._watch_mark = watched
        self._watch_until = time.monotonic_ns() + watchproof.TRUST_NS

    # -- the full sync ---------------------------------------------------------------------------

    def sync_locked(self, *, claim_recent: bool, watched: int | None = None) -> frozenset[int]:
        """The full locked sync (module docstring); returns the UIDs claimed as \\Recent.
        ``watched``: the folder's watch token drawn before the sync began (``needs_sync``)."""
        self._watch_mark = None  # until this sync is complete
        with bulk_build():  # an Entry, a record and an info per message, none in a cycle
            claimed = self._sync_locked(claim_recent)
        self._trust_watch(watched)
        return claimed

    def _sync_locked(self, claim_recent: bool) -> frozenset[int]:
        stamps = self._current_stamps()
        fresh_folder = self.state is None and not self.has_uidlist
        if fresh_folder and self._warm_start(stamps, claim_recent=claim_recent):
            return frozenset()
        if self._nothing_moved(stamps, claim_recent=claim_recent):
            return frozenset()
        # No uidlist (a folder never opened, or its list deleted): a new one with a NEW UIDVALIDITY
        # (§3.3.4), written once below with this sync's records, not header-only first (two
        # writes and three fsyncs).
        created = file_stamp(self._stamp_paths.uidlist) is None
        ul = Uidlist.new(next_uidvalidity(self.root)) if created else self.read_uidlist_locked()
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
        if msgs and (len(live) != len(msgs) or not all(r.uid in msgs for _, r in live)):
            live_uids = {r.uid for _, r in live}
            vanished = [uid for uid in msgs if uid not in live_uids]
        fresh = dovecot_order(b for b in seen if b not in ul_bases)
        # Every file memory does not know is measured in one pass (a first open: all of them):
        # the new bases and the live records memory holds under another base or not at all.
        unknown = [b for b, r in live if (o := msgs.get(r.uid)) is None or o.base != b]
        measured = self._measure_many(unknown + fresh, seen) if unknown or fresh else {}

        # New bases get UIDs in Dovecot's order; one that vanished before it could be measured
        # never existed for us. Built column-wise: a first open makes 100,000 of each.
        kept = [(b, m) for b in fresh if (m := measured[b]) is not None]
        first_uid = max(ul.effective_next_uid, self.max_uid + 1)
        new_uids = range(first_uid, first_uid + len(kept))
        new_records: list[UidRecord] = list(
            map(tuple.__new__, repeat(UidRecord), zip(new_uids, map(itemgetter(0), kept), repeat(())))
        )
        if dropped or created:
            ul = self._rewrite_records(ul, [r for _, r in live] + new_records)
        elif new_records:
            ul = self.add_records(ul, new_records)
        self.uidlist = ul

        # Records: compare with what we knew; every change gets one modseq for this sync.
        modseq = next_modseq(self.highestmodseq)
        upserts: list[Record] = []
        new_rec = tuple.__new__  # ``Record(...)`` without its Python-level ``__new__``
        if not msgs:  # memory knows no message (a first open): every live record was measured
            for base, rec in live:
                found = measured[base]
                if found is not None:
                    entry, size, mtime_ns = found
                    upserts.append(
                        new_rec(Record, (rec.uid, base, entry.name, entry.in_new, size, mtime_ns, modseq))
                    )
        else:
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
                    found = measured[base]
                    if found is None:
                        continue
                    entry, size, mtime_ns = found
                    new = Record(rec.uid, base, entry.name, entry.in_new, size, mtime_ns, modseq)
                upserts.append(new)
        changed = bool(kept) or any(r.modseq == modseq for r in upserts)
        upserts += [
            new_rec(Record, (uid, base, entry.name, entry.in_new, size, mtime_ns, modseq))
            for uid, (base, (entry, size, mtime_ns)) in zip(new_uids, kept, strict=True)
        ]
        expunged = [(uid, modseq) for uid in dict.fromkeys(vanished) if uid in msgs]
        # HIGHESTMODSEQ moves only when a message got this modseq or went away; a rename that
        # changes no flag (new/ -> cur/) is stored but is no change for RFC 7162.
        bumped = bool(expunged) or changed
        self._apply(upserts, [u for u, _ in expunged], modseq if bumped else None)
        if self.keywords.dirty:
            self.keywords.save(self.path, fsync=self.fsync)
        self._finish_sync(stamps, upserts, expunged)
        return frozenset(self.by_base[b] for b in claimed if b in self.by_base)
