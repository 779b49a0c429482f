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
  an overflow: the caller marks everything dirty and calls ``rebuild`` (§6.3).

Blocking only where it lists directories it starts to watch, never for message files; the reading
loop in Trio is ``changes.watch``.
"""

from __future__ import annotations

import os
from pathlib import Path

from maildird import inotify as ino
from maildird.changehub import IGNORED_DIR, MESSAGE_DIRS, folder_key
from maildird.inotify import Inotify, RawEvent

__all__ = ["ARRIVED", "MESSAGE_MASK", "SELF_GONE", "TREE_MASK", "TreeWatch"]

TREE_MASK = ino.IN_CREATE | ino.IN_DELETE | ino.IN_MOVED_FROM | ino.IN_MOVED_TO | ino.IN_ONLYDIR
"""Folder and intermediate directories: only children appearing or going away matter (§6.4)."""
MESSAGE_MASK = TREE_MASK | ino.IN_EXCL_UNLINK
"""new/ and cur/: every create, rename and unlink is a message arriving, changing or going."""
ARRIVED = ino.IN_CREATE | ino.IN_MOVED_TO
SELF_GONE = ino.IN_DELETE_SELF | ino.IN_MOVE_SELF | ino.IN_UNMOUNT


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

    @property
    def fd(self) -> int:
        return self.notify.fd

    def start(self) -> None:
        self._walk(self.root, set())

    def rebuild(self) -> None:
        """Drop every watch and walk the tree again (after an overflow lost directory events)."""
        for wd in list(self.watches):
            self.notify.rm_watch(wd)
        self.watches.clear()
        self._by_path.clear()
        self.start()

    def close(self) -> None:
        self.notify.close()

    def _add(self, path: str, message_dir: bool) -> str | None:
        """Watch one directory; returns its folder key, or None when it vanished meanwhile."""
        try:
            wd = self.notify.add_watch(path, MESSAGE_MASK if message_dir else TREE_MASK)
        except (FileNotFoundError, NotADirectoryError):
            return None
        key = folder_key(os.path.dirname(path) if message_dir else path)
        old = self.watches.get(wd)
        if old is not None and old[0] != path:
            self._by_path.pop(old[0], None)  # a moved directory keeps its watch descriptor
        self.watches[wd] = (path, key, message_dir)
        self._by_path[path] = wd
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
            wd = self._by_path.pop(p)
            keys.add(self.watches.pop(wd)[1])
            self.notify.rm_watch(wd)

    def handle(self, events: list[RawEvent]) -> tuple[set[str], bool]:
        """The folder keys a batch of events touched, and whether the kernel queue overflowed."""
        keys: set[str] = set()
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
                if ev.mask & ino.IN_IGNORED and self._by_path.get(path) == ev.wd:
                    del watches[ev.wd], self._by_path[path]
                continue
            if ev.mask & (ino.IN_IGNORED | SELF_GONE):
                keys.add(key)
                if ev.mask & ino.IN_IGNORED and self._by_path.get(path) == ev.wd:
                    del watches[ev.wd], self._by_path[path]
                overflow = overflow or path == self.root  # the Maildir itself moved or went away
                continue
            if not ev.mask & ino.IN_ISDIR:
                continue  # control files (dovecot-uidlist...), maildirfolder, subscriptions
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
        return keys, overflow
