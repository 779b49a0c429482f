"""The inotify watches of one Maildir tree, and which folders a batch of raw events touched.

Theory of operation (architecture.md §4.7; maildir-format.md §6.1, §6.3-6.5):

* ``TreeWatch`` keeps one watch per directory of the Maildir tree except tmp/ and the insides of
  new/ and cur/, and knows each watch's folder key (resolved once, when the watch is added). Every
  batch that one ``read`` returns becomes one set of folder keys, so the server's own STORE of
  10,000 messages costs one cheap pass over 20,000 events, not watchdog's move pairing (a queue
  searched linearly) and two thread hops per event.
* A directory created or moved into the tree is walked and watched, and every folder in it reported
  (messages may have arrived before its watch existed, §6.1); a directory deleted or moved away
  loses its watches (the kernel keeps watching a moved inode under its new name, so it is forgotten
  and re-added where it lands). ``IN_Q_OVERFLOW``, or the Maildir itself going away, is reported as
  an overflow: ``drain`` tells the ``listener`` and calls ``rebuild`` (§6.3).
* Freshness tokens (``maildird.watchproof``): every folder whose directory, new/ and cur/ are all
  watched has a token, a fresh number whenever an event touches the folder (a control file
  created, renamed over, written or removed included: the hub ignores those, the token does not)
  or a watch of it comes or goes. ``token`` empties the queue first (a zero-timeout ``poll``), so
  an unchanged token proves the folder unchanged without a ``stat``. Folder directories are
  watched with ``IN_MODIFY`` for that: Dovecot may append to ``dovecot-uidlist`` in place (§6.1).
* Muting (``mute``/``unmute``, through ``watchproof.quiet``): while the server's own STORE renames
  thousands of files, the folder's new/ and cur/ watches keep their descriptors but lose the child
  events, so the queue does not fill with 20,000 events of ours (nor overflow at the kernel's
  16,384). The folder has no token meanwhile, and lifting the mute draws a fresh one and reports the
  folder changed: the next look at it stats and lists it, which sees whatever others did meanwhile.

Blocking only where it lists directories it starts to watch, never for message files; the reading
loop in Trio is ``changes.watch``. Not thread-safe: after ``start`` (which may run in a worker
thread, before ``publish``), touch it from the Trio thread only.
"""

from __future__ import annotations

import logging
import os
import select
import threading
from collections.abc import Callable
from pathlib import Path

from maildird import inotify as ino
from maildird import watchproof
from maildird.changehub import IGNORED_DIR, MESSAGE_DIRS, folder_key
from maildird.inotify import Inotify, RawEvent

__all__ = ["ARRIVED", "CONTROL_FILES", "MESSAGE_MASK", "SELF_GONE", "TREE_MASK", "Listener", "TreeWatch"]

_CHILD_MASK = ino.IN_CREATE | ino.IN_DELETE | ino.IN_MOVED_FROM | ino.IN_MOVED_TO | ino.IN_ONLYDIR
TREE_MASK = _CHILD_MASK | ino.IN_MODIFY
"""Folder and intermediate directories: children appearing or going away (§6.4), and files written
in place, for the control files' tokens (module docstring)."""
MESSAGE_MASK = _CHILD_MASK | ino.IN_EXCL_UNLINK
"""new/ and cur/: every create, rename and unlink is a message arriving, changing or going."""
MUTED_MASK = ino.IN_DELETE_SELF | ino.IN_ONLYDIR
"""new/ and cur/ while muted (``mute``): no event of the files inside (a mask needs one event)."""
ARRIVED = ino.IN_CREATE | ino.IN_MOVED_TO
SELF_GONE = ino.IN_DELETE_SELF | ino.IN_MOVE_SELF | ino.IN_UNMOUNT
CONTROL_FILES = (b"dovecot-uidlist", b"dovecot-keywords")
"""The control files whose change is a change of the folder (maildir-format.md §3, §4), by name."""

_ROLES = {"": 0, "new": 1, "cur": 2}
"""Index of a watch's role in a folder's counts: the folder directory itself, new/, cur/."""

Listener = Callable[[set[str], bool], None]
"""Told the folder keys each drained batch touched and whether the queue overflowed."""

log = logging.getLogger("maildird.changes")


class TreeWatch:
    """The inotify watches of one Maildir tree and what each stands for (module docstring).

    ``watches`` maps a watch descriptor to ``(path, folder key, is new/ or cur/)``. Blocking (it
    lists directories it starts to watch), but only for directories, never for message files.
    """

    def __init__(self, root: Path, notify: Inotify) -> None:
        self.root = os.fspath(root)
        self.notify = notify
        self.watches: dict[int, tuple[str, str, bool]] = {}
        self._by_path: dict[str, int] = {}
        self.listener: Listener | None = None
        self._roles: dict[str, list[int]] = {}  # key -> watches of its directory, new/, cur/
        self._tokens: dict[str, int] = {}
        self._full: set[str] = set()  # keys whose directory, new/ and cur/ are all watched
        self._muted: set[str] = set()  # keys whose new/ and cur/ are narrowed to MUTED_MASK
        self._published = False
        self.degraded = False  # a rebuild failed: no tokens any more (``drain``)
        self._owner = 0  # the thread that published the tree (its Trio thread)
        self._poll = select.poll()
        self._poll.register(notify.fd, select.POLLIN)

    @property
    def fd(self) -> int:
        return self.notify.fd

    def start(self) -> None:
        self._walk(self.root, set())

    def publish(self) -> None:
        """Offer this tree's folders to ``watchproof`` (Trio thread, after ``start``)."""
        self._published = True
        self._owner = threading.get_ident()
        for key in self._roles:
            watchproof.publish(key, self)

    def rebuild(self) -> None:
        """Drop every watch and walk the tree again (after an overflow lost directory events).
        Every folder gets a new token on the way."""
        for wd in list(self.watches):
            self.notify.rm_watch(wd)
            self._drop(wd)
        self.start()

    def close(self) -> None:
        if self._published:
            self._published = False
            for key in self._roles:
                watchproof.withdraw(key, self)
        self._full.clear()
        self.notify.close()

    # -- freshness tokens --------------------------------------------------------------------------

    def token(self, key: str) -> int | None:
        """``watchproof.WatchSource.token``: drain what is queued, then the folder's token, or None
        unless its directory, new/ and cur/ are all watched. Asked from another thread (a second
        Trio run in the process, on the same Maildir), None: only the owner touches the tree."""
        if threading.get_ident() != self._owner or self.degraded:
            return None
        if self._poll.poll(0):
            self.drain()
        if key not in self._full or key in self._muted or self.degraded:
            return None
        return self._tokens[key]

    def mute(self, key: str) -> bool:
        """``watchproof.WatchSource.mute``: narrow the folder's new/ and cur/ watches to
        ``MUTED_MASK`` (the same descriptors: events queued before stay readable) until ``unmute``;
        meanwhile the folder has no token. False, changing nothing, unless both are watched under
        the key's own path (a key reached through a symbolic link is not) and both narrowed."""
        if threading.get_ident() != self._owner or self.degraded:
            return False
        if key not in self._full or key in self._muted:
            return False
        paths = [f"{key}/{sub}" for sub in MESSAGE_DIRS]
        wds = [self._by_path.get(p) for p in paths]
        if None in wds:
            return False
        for i, (path, wd) in enumerate(zip(paths, wds, strict=True)):
            try:
                same = self.notify.add_watch(path, MUTED_MASK) == wd
            except OSError:
                same = False  # gone or replaced meanwhile: its events will say so
            if not same:  # put back what was narrowed; a new inode's watch gets its full mask
                for undo in paths[: i + 1]:
                    self._rewatch(undo)
                return False
        self._muted.add(key)
        self._tokens[key] = watchproof.next_token()
        return True

    def unmute(self, key: str) -> None:
        """``watchproof.WatchSource.unmute``: the full mask again, a fresh token, and the folder
        reported changed to the listener (the events it did not queue may have woken IDLE)."""
        if key not in self._muted:
            return
        self._muted.discard(key)
        if self.notify.fd < 0:
            return  # closed meanwhile
        for sub in MESSAGE_DIRS:
            self._rewatch(f"{key}/{sub}")
        if key in self._tokens:
            self._tokens[key] = watchproof.next_token()
        if self.listener is not None:
            self.listener({key}, False)

    def _rewatch(self, path: str) -> None:
        """Give a watched new/ or cur/ its full mask again. The kernel answers with the same
        descriptor, or a new one when the path now names another directory (recorded as
        ``handle`` does for a directory that arrives). A failure other than the directory being
        gone may leave events unqueued: that is handled as an overflow."""
        wd = self._by_path.get(path)
        entry = self.watches.get(wd) if wd is not None else None
        if entry is None:
            return  # dropped meanwhile (IN_IGNORED): nothing to restore
        try:
            new_wd = self.notify.add_watch(path, MESSAGE_MASK)
        except (FileNotFoundError, NotADirectoryError):
            return  # gone: IN_IGNORED or the parent's event reports it
        except OSError as exc:
            log.warning("cannot watch %s again (%s); rescanning every folder", path, exc)
            self._recover(set(), True)
            return
        if self.watches.get(new_wd) != entry:
            self._set(new_wd, entry)

    def drain(self) -> None:
        """Read and handle every queued event; tell the listener; rebuild after an overflow.

        A watch that cannot be added (ENOSPC past ``max_user_watches``, EACCES) counts as an
        overflow: events may be lost. If the rebuild fails too, the tree stops giving tokens
        (``degraded``): the stats decide for every folder, and the watches it still has keep
        feeding the hub. Drained from a snapshot, such an error must not fail a client's command."""
        while batch := self.notify.read():
            try:
                keys, overflow = self.handle(batch)
            except OSError as exc:
                log.warning("cannot watch a directory below %s (%s); rescanning every folder", self.root, exc)
                keys, overflow = set(), True
            self._recover(keys, overflow)

    def _recover(self, keys: set[str], overflow: bool) -> None:
        """Tell the listener; after an overflow, rebuild the watches (or give up the tokens)."""
        if self.listener is not None:
            self.listener(keys, overflow)
        if overflow:
            try:
                self.rebuild()
            except OSError as exc:
                log.warning("cannot rebuild the watches of %s (%s); stat checks only", self.root, exc)
                self.degraded = True

    def _count(self, entry: tuple[str, str, bool], delta: int) -> None:
        """One watch of ``entry``'s folder more or less: its token changes either way."""
        path, key, message_dir = entry
        counts = self._roles.get(key)
        if counts is None:
            counts = self._roles[key] = [0, 0, 0]
            if self._published:
                watchproof.publish(key, self)
        counts[_ROLES[os.path.basename(path)] if message_dir else 0] += delta
        self._tokens[key] = watchproof.next_token()
        if all(counts):
            self._full.add(key)
            return
        self._full.discard(key)
        if not any(counts):
            del self._roles[key], self._tokens[key]
            if self._published:
                watchproof.withdraw(key, self)

    def _set(self, wd: int, entry: tuple[str, str, bool]) -> None:
        old = self.watches.get(wd)
        if old is not None:  # the same inode again, or a moved directory that kept its descriptor
            self._count(old, -1)
            if old[0] != entry[0] and self._by_path.get(old[0]) == wd:
                del self._by_path[old[0]]
        self.watches[wd] = entry
        self._by_path[entry[0]] = wd
        self._count(entry, 1)

    def _drop(self, wd: int) -> None:
        entry = self.watches.pop(wd, None)
        if entry is None:
            return
        if self._by_path.get(entry[0]) == wd:
            del self._by_path[entry[0]]
        self._count(entry, -1)

    # -- watching ----------------------------------------------------------------------------------

    def _add(self, path: str, message_dir: bool) -> str | None:
        """Watch one directory; returns its folder key, or None when it vanished meanwhile."""
        try:
            wd = self.notify.add_watch(path, MESSAGE_MASK if message_dir else TREE_MASK)
        except (FileNotFoundError, NotADirectoryError):
            return None
        key = folder_key(os.path.dirname(path) if message_dir else path)
        self._set(wd, (path, key, message_dir))
        return key

    def _walk(self, path: str, keys: set[str]) -> None:
        """Watch ``path`` and the directories below it (not tmp/, not inside new/ and cur/); add
        the key of every folder found to ``keys``."""
        key = self._add(path, False)
        if key is None:
            return
        keys.add(key)
        try:
            with os.scandir(path) as it:
                children = [e.name for e in it if e.is_dir(follow_symlinks=False)]
        except (FileNotFoundError, NotADirectoryError):
            return
        for name in children:
            child = f"{path}/{name}"
            if name in MESSAGE_DIRS:
                self._add(child, True)
            elif name != IGNORED_DIR:
                self._walk(child, keys)

    def _forget(self, path: str, keys: set[str]) -> None:
        """Drop the watches of ``path`` and below (deleted or moved away); their folders changed."""
        prefix = path + "/"
        for p in [p for p in self._by_path if p == path or p.startswith(prefix)]:
            wd = self._by_path[p]
            keys.add(self.watches[wd][1])
            self._drop(wd)
            self.notify.rm_watch(wd)

    def handle(self, events: list[RawEvent]) -> tuple[set[str], bool]:
        """The folder keys a batch of events touched, and whether the kernel queue overflowed.
        Every folder touched, or whose control files were, gets a new token."""
        keys: set[str] = set()
        control: set[str] = set()
        overflow = False
        watches = self.watches
        for ev in events:
            info = watches.get(ev.wd)
            if info is None:
                overflow = overflow or bool(ev.mask & ino.IN_Q_OVERFLOW)
                continue
            path, key, message_dir = info
            if message_dir:
                keys.add(key)  # anything in new/ or cur/ (IN_IGNORED included: it went away)
                if ev.mask & ino.IN_IGNORED:
                    self._drop(ev.wd)  # the descriptor is dead, whatever path it had
                continue
            if ev.mask & (ino.IN_IGNORED | SELF_GONE):
                keys.add(key)
                if ev.mask & ino.IN_IGNORED:
                    self._drop(ev.wd)
                overflow = overflow or path == self.root  # the Maildir itself moved or went away
                continue
            if not ev.mask & ino.IN_ISDIR:
                if ev.name in CONTROL_FILES:
                    control.add(key)  # the token only: our own uidlist writes wake no IDLE session
                continue  # other files (maildirfolder, subscriptions, dovecot.index*)
            name = os.fsdecode(ev.name)
            if name == IGNORED_DIR:
                continue
            child = f"{path}/{name}"
            arrived = bool(ev.mask & ARRIVED)
            if name in MESSAGE_DIRS:
                keys.add(key)
                if arrived:
                    self._add(child, True)
                else:
                    self._forget(child, keys)
            elif arrived:
                self._walk(child, keys)  # a folder created or moved in: watch it, rescan it (§6.1)
            else:
                keys.add(folder_key(child))
                self._forget(child, keys)
        tokens = self._tokens
        for key in keys.union(control):
            if key in tokens:  # a folder no longer watched needs none
                tokens[key] = watchproof.next_token()
        return keys, overflow
