"""When a client command last ran: background work waits for a quiet moment.

Theory of operation: maildird serves every session from one event loop, and its background work
(the search fill-ahead after a large folder's first open, ``store.maildir.searchfill``: seconds of
CPU) competes with the sessions for that loop and for the GIL. Measured with 8 clients sending
FETCH and NOOP right after a 10,000-message folder's first open: 3,400-6,700 commands per second
while the fill ran, 11,000-13,000 after it. So the connection loop marks each command's start and
end (``mark``: one read of Trio's clock and one store), and background work takes its next step only after
``QUIET_SECONDS`` without a command (``wait_quiet``). A server busy without pause defers the fill;
nothing depends on it (a search derives what the fill has not).

``when_quiet`` runs a short synchronous job on the event loop at such a moment, once however often
it is asked for meanwhile: the full garbage collection owed after a large folder build
(``store.maildir.collector.settle_collector``), which would otherwise fall on a client's command.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio

log = logging.getLogger("maildird.activity")

QUIET_SECONDS = 0.05
"""Seconds without a client command before background work takes its next step."""

_LAST: trio.lowlevel.RunVar[float] = trio.lowlevel.RunVar("maildird_activity_last", default=float("-inf"))
"""When the last command started or ended, on the clock of its own Trio run (each run's clock has its
own origin: a value from another run, say an earlier test's, would mean nothing)."""


def mark() -> None:
    """A command starts or ends now (``connection``; in a Trio run)."""
    _LAST.set(trio.current_time())


async def wait_quiet(pause: float = 0.0) -> None:
    """Sleep ``pause`` seconds, then until no command has run for ``QUIET_SECONDS``."""
    await trio.sleep(pause)
    # Compared as deadlines, not as idle time: ``QUIET_SECONDS - idle`` can round to a sleep that
    # does not move the clock (a large clock value), and the loop would never end.
    while trio.current_time() < (quiet_at := _LAST.get() + QUIET_SECONDS):
        await trio.sleep_until(quiet_at)


Job = Callable[[], object]

_QUEUED: trio.lowlevel.RunVar[set[Job]] = trio.lowlevel.RunVar("maildird_activity_queued")
"""The jobs of this Trio run waiting for a quiet moment (``when_quiet``)."""


def when_quiet(job: Job, pause: float = 0.0) -> None:
    """Run ``job`` (synchronous, on the event loop: it blocks every session while it runs) at the next
    quiet moment (``wait_quiet(pause)``), unless it is waiting already; in a Trio run. A job that
    raises is logged, never raised: it runs in a system task. A job may ask for itself again."""
    try:
        queued = _QUEUED.get()
    except LookupError:
        queued = set()
        _QUEUED.set(queued)
    if job in queued:
        return
    trio.lowlevel.spawn_system_task(_run_when_quiet, job, queued, pause, name="maildird when_quiet")
    queued.add(job)


async def _run_when_quiet(job: Job, queued: set[Job], pause: float) -> None:
    try:
        await wait_quiet(pause)
    finally:
        queued.discard(job)  # asked again from now on, it runs again
    try:
        job()
    except Exception:
        log.warning("background job %r failed", job, exc_info=True)


__all__ = ["QUIET_SECONDS", "Job", "mark", "wait_quiet", "when_quiet"]
