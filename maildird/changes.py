"""The change hub: "this folder may have changed" hints from the file system into Trio.

Theory of operation (architecture.md §4.7, §5.1-5.2; maildir-format.md §6):

* ``ChangeHub`` lives in the Trio thread. Each folder key has a version number that only grows;
  ``wait_past(key, seen)`` sleeps until the key's version differs from ``seen``. All waiters share one
  ``trio.Event`` that is replaced on every change, so this is a broadcast (a memory channel would hand
  each hint to a single IDLE session). ``mark_all_dirty`` bumps a global epoch that is part of every
  key's version.
* ``watch`` runs a watchdog observer (its own threads) on an account's Maildir root. The handler maps
  each event path to a folder key and calls ``TrioToken.run_sync_soon(hub.mark_dirty, key,
  idempotent=True)``: the callback cannot raise, bursts of events for one folder coalesce, and a
  finished Trio run (``RunFinishedError``) is ignored.
* Events are hints, never truth: watchdog drops inotify's ``IN_Q_OVERFLOW`` (it only logs it), so a
  log hook on that warning marks everything dirty, and a periodic tick does the same to cover what
  inotify cannot see (NFS, other namespaces). When inotify cannot be used (watch limit, ENOSPC;
  instance limit, EMFILE) the watcher falls back to watchdog's ``PollingObserver``.
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
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

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


async def watch(
    root: Path,
    hub: ChangeHub,
    *,
    rescan_seconds: float,
    poll_seconds: float = POLL_SECONDS,
    observer_factory: ObserverFactory = Observer,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Feed ``hub`` with changes below the Maildir ``root`` until cancelled.

    ``rescan_seconds``: every so often mark everything dirty anyway. Use with ``nursery.start``.
    """
    root = Path(root).resolve()
    token = trio.lowlevel.current_trio_token()
    handler = _Handler(token, hub)
    observer = await trio.to_thread.run_sync(_start_observer, root, handler, observer_factory, poll_seconds)
    hook = _OverflowHook(token, hub)
    logging.getLogger(INOTIFY_LOGGER).addHandler(hook)
    try:
        task_status.started()
        while True:
            await trio.sleep(rescan_seconds)
            hub.mark_all_dirty()
    finally:
        logging.getLogger(INOTIFY_LOGGER).removeHandler(hook)
        with trio.CancelScope(shield=True), trio.move_on_after(JOIN_TIMEOUT):
            await trio.to_thread.run_sync(_stop_observer, observer, abandon_on_cancel=True)
