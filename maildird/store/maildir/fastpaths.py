"""The two ways a folder's full sync is skipped or cut short: the restart and "nothing moved".

Theory of operation (maildir-format.md §5.3, §7.3):

* Restart (``_warm_start``): a fresh ``Folder`` (a restarted server) whose sidecar holds a
  ``stamps.SyncMark`` equal to what new/, cur/, the uidlist and the keywords file show now takes
  its records from the sidecar and lists no directory, reads only the uidlist's header line, and
  parses the rest of the uidlist only when something needs its records (``controlfiles``). The
  proof that nothing can have changed unseen is in the ``stamps`` module docstring (Dovecot's
  ``MAILDIR_SYNC_SECS`` rule made durable); a claim of \\Recent with files in new/ still lists (§1.7).
* Nothing moved (``_nothing_moved``): the sync that follows every change of our own (STORE,
  EXPUNGE, a claim of new/) runs because of the dirty window, yet usually finds what we wrote. When
  the control files are as we last read or wrote them and new/ and cur/ hold exactly the names our
  records say, every step of the full sync would be a no-op, so the sets of names are compared in C
  instead of building an ``Entry`` per file. A listing racing with someone's rename can only look
  unchanged if it missed that rename, which then moved the directory's mtime after the stamps: the
  next check syncs again.
* ``_finish_sync`` ends every sync, full or short: it remembers the stamps of our own control-file
  writes and records a settled sync's mark in the sidecar for the next restart.

All methods block; ``sync.Folder`` derives from ``FolderFastPaths`` and calls them under its lock.
"""

from __future__ import annotations

import os
from dataclasses import replace

from maildird.store.maildir.controlfiles import FolderControl
from maildird.store.maildir.filenames import is_message_name
from maildird.store.maildir.keywords import KEYWORDS_NAME
from maildird.store.maildir.stamps import Stamps, SyncMark, file_stamp
from maildird.store.maildir.state import Record
from maildird.store.maildir.uidlist import UIDLIST_NAME, UidlistCorrupt, read_header

__all__ = ["FolderFastPaths"]


class FolderFastPaths(FolderControl):
    """The restart fast path and the "nothing moved" check (module docstring). All methods block."""

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
