"""Folder change hints from the file system into Trio: ``watch`` picks raw inotify or watchdog.

Theory of operation (architecture.md §4.7, §5.1-5.2; maildir-format.md §6):

* ``watch`` feeds a ``ChangeHub`` (``changehub``: per-folder versions, the broadcast IDLE waits on)
  with hints for one Maildir tree until cancelled. It first tries raw inotify (``maildird.inotify``,
  §6.5): ``open_tree`` builds a ``treewatch.TreeWatch`` and ``_read_tree`` waits for the descriptor
  in the Trio thread and turns every batch that one ``read`` returns into one ``mark_dirty`` per
  folder it touched; an overflow marks everything dirty and rebuilds the watches (§6.3). The tree
  also offers its folders to ``maildird.watchproof``, so a snapshot proves a watched folder
  unchanged without ``stat`` calls; that check drains the queue into the hub the same way.
* When inotify is missing or refuses (watch limit, ENOSPC; instance limit, EMFILE), or a watchdog
  ``observer_factory`` is given, ``watchdog_fallback`` runs a watchdog observer instead.
* Either way a periodic tick (``changehub.rescan_tick``) marks everything dirty: events are hints,
  never truth.

Modules: ``changehub`` (``ChangeHub``, ``folder_key``, ``folder_of``), ``treewatch`` (the inotify
watches), ``watchdog_fallback`` (the observer); this module re-exports their public names.
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

import trio

from maildird.changehub import (
    IGNORED_DIR,
    IGNORED_PREFIXES,
    MESSAGE_DIRS,
    ChangeHub,
    folder_key,
    folder_of,
    rescan_tick,
)
from maildird.inotify import Inotify
from maildird.treewatch import ARRIVED, MESSAGE_MASK, SELF_GONE, TREE_MASK, TreeWatch
from maildird.watchdog_fallback import (
    EVENT_FILTER,
    INOTIFY_LOGGER,
    JOIN_TIMEOUT,
    OVERFLOW_TEXT,
    POLL_SECONDS,
    ObserverFactory,
    _Handler,
    _OverflowHook,
    polling,
    watch_observer,
)

__all__ = [
    "ARRIVED",
    "EVENT_FILTER",
    "IGNORED_DIR",
    "IGNORED_PREFIXES",
    "INOTIFY_LOGGER",
    "JOIN_TIMEOUT",
    "MESSAGE_DIRS",
    "MESSAGE_MASK",
    "OVERFLOW_TEXT",
    "POLL_SECONDS",
    "SELF_GONE",
    "TREE_MASK",
    "ChangeHub",
    "Inotify",
    "ObserverFactory",
    "TreeWatch",
    "_Handler",
    "_OverflowHook",
    "folder_key",
    "folder_of",
    "open_tree",
    "watch",
]

log = logging.getLogger(__name__)


def open_tree(root: Path) -> TreeWatch:
    """Start watching a Maildir tree. Raises ``OSError`` when inotify cannot be used."""
    tree = TreeWatch(root, Inotify())
    try:
        tree.start()
    except BaseException:
        tree.close()
        raise
    return tree


def _to_hub(tree: TreeWatch, hub: ChangeHub, keys: set[str], overflow: bool) -> None:
    """``TreeWatch.listener``: one bump per folder a batch touched; everything after an overflow."""
    if overflow:
        log.warning("inotify queue overflowed for %s; rescanning every folder", tree.root)
        hub.mark_all_dirty()
    for key in keys:
        hub.mark_dirty(key)


async def _read_tree(tree: TreeWatch, hub: ChangeHub) -> None:
    """Turn each batch of events into one bump per folder (Trio thread, no worker threads). A
    snapshot's freshness check may have drained the queue first (``TreeWatch.token``): the events
    reached the hub through the same listener then."""
    while True:
        await trio.lowlevel.wait_readable(tree.fd)
        tree.drain()


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
            observer_factory = polling(poll_seconds)
        else:
            try:
                tree.listener = partial(_to_hub, tree, hub)
                tree.publish()  # before ``started``: a session's first snapshot may use the proof
                task_status.started()
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(rescan_tick, hub, rescan_seconds)
                    await _read_tree(tree, hub)
            finally:
                trio.lowlevel.notify_closing(tree.fd)
                tree.close()
            return
    await watch_observer(root, hub, rescan_seconds, poll_seconds, observer_factory, task_status)
