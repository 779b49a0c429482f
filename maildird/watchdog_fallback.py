"""The watchdog fallback: folder changes from a watchdog observer's threads into the Trio thread.

Theory of operation (architecture.md §4.7; maildir-format.md §6.3):

* ``changes.watch`` uses this when raw inotify is missing or refuses (watch limit, ENOSPC; instance
  limit, EMFILE), or when a watchdog ``observer_factory`` is given. The observer runs its own
  threads; ``_Handler`` maps each event path to a folder key (``changehub.folder_of``) and calls
  ``TrioToken.run_sync_soon(hub.mark_dirty, key, idempotent=True)``: the callback cannot raise,
  bursts coalesce, and a finished Trio run (``RunFinishedError``) is ignored. If the observer itself
  fails to start, ``PollingObserver`` is used.
* watchdog drops ``IN_Q_OVERFLOW`` (it only logs it), so ``_OverflowHook``, a log handler on that
  warning, marks everything dirty; the periodic ``rescan_tick`` covers the rest.
* Only creations, deletions and moves are asked for (``EVENT_FILTER``): messages are immutable.
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

from maildird.changehub import ChangeHub, folder_of, rescan_tick

__all__ = [
    "EVENT_FILTER",
    "INOTIFY_LOGGER",
    "JOIN_TIMEOUT",
    "OVERFLOW_TEXT",
    "POLL_SECONDS",
    "ObserverFactory",
    "polling",
    "watch_observer",
]

log = logging.getLogger("maildird.changes")

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


def polling(poll_seconds: float) -> ObserverFactory:
    return lambda: PollingObserver(timeout=poll_seconds)


async def watch_observer(
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
        await rescan_tick(hub, rescan_seconds)
    finally:
        logging.getLogger(INOTIFY_LOGGER).removeHandler(hook)
        with trio.CancelScope(shield=True), trio.move_on_after(JOIN_TIMEOUT):
            await trio.to_thread.run_sync(_stop_observer, observer, abandon_on_cancel=True)
