"""The change hub: "this folder may have changed" hints from the file system into Trio.

Theory of operation (architecture.md §4.7, §5.1-5.2; maildir-format.md §6):

* ``ChangeHub`` lives in the Trio thread. Each folder key has a version number that only grows;
  ``wait_past(key, seen)`` sleeps until the key's version differs from ``seen``. All waiters share one
  ``trio.Event`` that is replaced on every change, so this is a broadcast (a memory channel would hand
  each hint to a single IDLE session). ``mark_all_dirty`` bumps a global epoch that is part of every
  key's version.
* ``watch`` reads raw inotify events in the Trio thread (``maildird.inotify``, maildir-format.md
  §6.5): ``TreeWatch`` keeps one watch per directory of the Maildir tree except tmp/ and the
  insides of new/ and cur/, knows each watch's folder key (resolved once, when the watch is added),
  and turns every batch that one ``read`` returns into one ``mark_dirty`` per folder it touched. So
  the server's own STORE of 10,000 messages costs one cheap pass over 20,000 events, not watchdog's
  move pairing (a queue searched linearly) and two thread hops per event.
* A directory created or moved into the tree is walked and watched, and every folder in it marked
  dirty (messages may have arrived before its watch existed, §6.1); a directory deleted or moved
  away loses its watches (the kernel keeps watching a moved inode under its new name, so it is
  forgotten and re-added where it lands). ``IN_Q_OVERFLOW`` marks everything dirty and rebuilds all
  watches (§6.3).
* Fallback: when inotify is missing or refuses (watch limit, ENOSPC; instance limit, EMFILE), or a
  watchdog ``observer_factory`` is given, a watchdog observer runs instead (its own threads); its
  handler maps each event path to a folder key and calls ``TrioToken.run_sync_soon(hub.mark_dirty,
  key, idempotent=True)``: the callback cannot raise, bursts coalesce, and a finished Trio run
  (``RunFinishedError``) is ignored. If the observer itself fails, ``PollingObserver`` is used.
* Events are hints, never truth: a periodic tick marks everything dirty to cover what inotify cannot
  see (NFS, other namespaces); with watchdog, which drops ``IN_Q_OVERFLOW`` (it only logs it), a log
  hook on that warning does the same.
* What counts: creations, deletions and moves of files in ``new/`` and ``cur/`` (a rename delivery is a
  move into ``new/``, a link delivery a creation there, a flag change a move inside ``cur/``), and
  folder directories appearing, vanishing or moving. ``tmp/`` and the control files
  (``dovecot-uidlist*``, ``dovecot-keywords*``, ``dovecot.index*``) are ignored: our own uidlist
  writes must not wake every IDLE session.

Keys are ``folder_key(folder_dir)`` = the resolved directory path as ``str``, so the store computes
the same key (``Mailbox.watch_key``).
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio
from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers.polling import PollingObserver

from maildird import inotify as ino
from maildird.inotify import Inotify, RawEvent

log = logging.getLogger(__name__)

MESSAGE_DIRS = ("new", "cur")
IGNORED_DIR = "tmp"
IGNORED_PREFIXES = ("dovecot-uidlist", "dovecot-keywords", "dovecot.index")
POLL_SECONDS = 1.0
"""Scan interval of the polling fallback."""
JOIN_TIMEOUT = 5.0
"""How long shutdown waits for the observer threads."""
INOTIFY_LOGGER = "watchdog.observers.inotify_c"
OVERFLOW_TEXT = "overflow"
EVENT_FILTER: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    FileDeletedEvent,
    FileMovedEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
]
"""Create/delete/move only: messages are immutable, so opens, writes and closes tell nothing."""


def folder_key(path: Path | str) -> str:
    """The hub key of a Maildir folder directory (INBOX: the Maildir root)."""
    return str(Path(path).resolve())


def folder_of(path: str, is_directory: bool) -> str | None:
    """The folder key an event path belongs to, or None when the event says nothing about messages."""
    p = Path(path)
    if p.name.startswith(IGNORED_PREFIXES):
        return None
    parent = p.parent
    if parent.name == IGNORED_DIR or (p.name == IGNORED_DIR and is_directory):
        return None
    if parent.name in MESSAGE_DIRS and not is_directory:
        return folder_key(parent.parent)
    if is_directory:
        if p.name in MESSAGE_DIRS:
            return folder_key(parent)
        return folder_key(p)  # a folder directory created, deleted or moved
    return None


class ChangeHub:
    """Trio-side broadcast of folder versions. Touch only from the Trio thread."""

    def __init__(self) -> None:
        self._versions: dict[str, int] = {}
        self._epoch = 0
        self._changed = trio.Event()

    def version(self, key: str) -> int:
        return self._epoch + self._versions.get(key, 0)

    def mark_dirty(self, key: str) -> None:
        """Bump one folder. Called through ``run_sync_soon``: must not raise."""
        self._versions[key] = self._versions.get(key, 0) + 1
        self._wake()

    def mark_all_dirty(self) -> None:
        """Bump every folder (overflow, periodic safety rescan)."""
        self._epoch += 1
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def wait_past(self, key: str, seen: int) -> int:
        """Wait until ``version(key) != seen``; return the new version."""
        while self.version(key) == seen:
            await self._changed.wait()
        return self.version(key)


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


def open_tree(root: Path) -> TreeWatch:
    """Start watching a Maildir tree. Raises ``OSError`` when inotify cannot be used."""
    tree = TreeWatch(root, Inotify())
    try:
        tree.start()
    except BaseException:
        tree.close()
        raise
    return tree


async def _read_tree(tree: TreeWatch, hub: ChangeHub) -> None:
    """Turn each batch of events into one bump per folder (Trio thread, no worker threads)."""
    while True:
        await trio.lowlevel.wait_readable(tree.fd)
        keys, overflow = tree.handle(tree.notify.read())
        if overflow:
            log.warning("inotify queue overflowed for %s; rescanning every folder", tree.root)
            hub.mark_all_dirty()
            tree.rebuild()
        for key in keys:
            hub.mark_dirty(key)


class _Handler(FileSystemEventHandler):
    """Runs in watchdog's dispatcher thread: only hands keys to Trio."""

    def __init__(self, token: trio.lowlevel.TrioToken, hub: ChangeHub) -> None:
        super().__init__()
        self._token = token
        self._hub = hub

    def on_any_event(self, event: FileSystemEvent) -> None:
        try:
            paths = [event.src_path, getattr(event, "dest_path", "")]
            for raw in paths:
                if not raw:
                    continue
                key = folder_of(os.fsdecode(raw), event.is_directory)
                if key is not None:
                    self._token.run_sync_soon(self._hub.mark_dirty, key, idempotent=True)
        except trio.RunFinishedError:
            return  # trio.run is over: we are shutting down
        except Exception:  # never let the watchdog thread die
            log.exception("change handler failed for %r", event)


class _OverflowHook(logging.Handler):
    """watchdog only logs an inotify queue overflow; turn that log line into "everything dirty"."""

    def __init__(self, token: trio.lowlevel.TrioToken, hub: ChangeHub) -> None:
        super().__init__(logging.WARNING)
        self._token = token
        self._hub = hub

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if OVERFLOW_TEXT in record.getMessage().lower():
                self._token.run_sync_soon(self._hub.mark_all_dirty, idempotent=True)
        except trio.RunFinishedError:
            pass
        except Exception:
            self.handleError(record)


ObserverFactory = Callable[[], Any]


def _start_observer(root: Path, handler: _Handler, factory: ObserverFactory, poll_seconds: float) -> Any:
    # watchdog's emitter re-adds its own callback when both a mkdir event and its walk of the new
    # directory reach one child; the overwrite is harmless, its RuntimeWarning only noise.
    warnings.filterwarnings("ignore", message=r"Callback with id .* already exists", category=RuntimeWarning)
    try:
        observer = factory()
        observer.schedule(handler, str(root), recursive=True, event_filter=EVENT_FILTER)
        observer.start()
        return observer
    except OSError as exc:
        log.warning(
            "inotify unavailable for %s (%s): falling back to polling every %ss", root, exc, poll_seconds
        )
    observer = PollingObserver(timeout=poll_seconds)
    observer.schedule(handler, str(root), recursive=True, event_filter=EVENT_FILTER)
    observer.start()
    return observer


def _stop_observer(observer: Any) -> None:
    # stop() closes the inotify buffer and joins its reader thread: keep that off the Trio thread.
    observer.stop()
    observer.join()


async def _tick(hub: ChangeHub, rescan_seconds: float) -> None:
    while True:
        await trio.sleep(rescan_seconds)
        hub.mark_all_dirty()


async def watch(
    root: Path,
    hub: ChangeHub,
    *,
    rescan_seconds: float,
    poll_seconds: float = POLL_SECONDS,
    observer_factory: ObserverFactory | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Feed ``hub`` with changes below the Maildir ``root`` until cancelled.

    ``rescan_seconds``: every so often mark everything dirty anyway. Use with ``nursery.start``.
    Raw inotify unless ``observer_factory`` names a watchdog observer (module docstring).
    """
    root = Path(root).resolve()
    if observer_factory is None:
        try:
            tree = await trio.to_thread.run_sync(open_tree, root)
        except OSError as exc:
            log.warning(
                "inotify unavailable for %s (%s): falling back to polling every %ss", root, exc, poll_seconds
            )
            observer_factory = _polling(poll_seconds)
        else:
            try:
                task_status.started()
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(_tick, hub, rescan_seconds)
                    await _read_tree(tree, hub)
            finally:
                trio.lowlevel.notify_closing(tree.fd)
                tree.close()
            return
    await _watch_observer(root, hub, rescan_seconds, poll_seconds, observer_factory, task_status)


def _polling(poll_seconds: float) -> ObserverFactory:
    return lambda: PollingObserver(timeout=poll_seconds)


async def _watch_observer(
    root: Path,
    hub: ChangeHub,
    rescan_seconds: float,
    poll_seconds: float,
    observer_factory: ObserverFactory,
    task_status: trio.TaskStatus[None],
) -> None:
    """The watchdog fallback (module docstring)."""
    token = trio.lowlevel.current_trio_token()
    handler = _Handler(token, hub)
    observer = await trio.to_thread.run_sync(_start_observer, root, handler, observer_factory, poll_seconds)
    hook = _OverflowHook(token, hub)
    logging.getLogger(INOTIFY_LOGGER).addHandler(hook)
    try:
        task_status.started()
        await _tick(hub, rescan_seconds)
    finally:
        logging.getLogger(INOTIFY_LOGGER).removeHandler(hook)
        with trio.CancelScope(shield=True), trio.move_on_after(JOIN_TIMEOUT):
            await trio.to_thread.run_sync(_stop_observer, observer, abandon_on_cancel=True)
