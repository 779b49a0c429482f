"""The worker threads that do a Maildir store's blocking file-system work (``run_fs``).

Every blocking call of the store (listing, syncing, renames, fsync) runs in a Trio worker thread
under ``FS_LIMITER``, process-wide, so the event loop never waits on the disk. When the work was a
large build whose objects ``collector`` promoted, the full collection it owes is paid at the next
quiet moment on the event loop (``settle_when_idle``), once no such work is in flight.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import trio

from maildird import activity
from maildird.store.maildir.collector import collection_owed, settle_collector

FS_THREADS = 8
"""Worker threads doing Maildir file-system work at once, over all folders of the process."""
FS_LIMITER = trio.CapacityLimiter(FS_THREADS)


async def run_fs(fn: Any, *args: Any) -> Any:
    """Run blocking file-system work in a worker thread under the module limiter. When the work was a
    large build (a folder's load, a STORE on thousands of messages) whose objects were promoted, the
    full collection it owes is run at the next quiet moment (``collector.collection_owed``)."""
    result = await trio.to_thread.run_sync(partial(fn, *args), limiter=FS_LIMITER)
    if collection_owed():
        activity.when_quiet(settle_when_idle)
    return result


def settle_when_idle() -> None:
    """``collector.settle_collector`` (on the event loop, at a quiet moment), once no file-system work is
    in flight: a worker thread's STORE or load needs the GIL the collection holds, and a command
    still running after ``activity.QUIET_SECONDS`` looks quiet."""
    if FS_LIMITER.borrowed_tokens:
        activity.when_quiet(settle_when_idle, activity.QUIET_SECONDS)
        return
    settle_collector()


__all__ = ["FS_LIMITER", "FS_THREADS", "run_fs", "settle_when_idle"]
