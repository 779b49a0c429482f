"""When a client command last ran: background work waits for a quiet moment.

Theory of operation: maildird serves every session from one event loop, and its background work
(the search fill-ahead after a large folder's first open, ``store.maildir.searchfill``: seconds of
CPU) competes with the sessions for that loop and for the GIL. Measured with 8 clients sending
FETCH and NOOP right after a 10,000-message folder's first open: 3,400-6,700 commands per second
while the fill ran, 11,000-13,000 after it. So the connection loop marks each command's start and
end (``mark``: one read of Trio's clock and one store), and background work takes its next step only after
``QUIET_SECONDS`` without a command (``wait_quiet``). A server busy without pause defers the fill;
nothing depends on it (a search derives what the fill has not).
"""

from __future__ import annotations

import trio

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
    while (idle := trio.current_time() - _LAST.get()) < QUIET_SECONDS:
        await trio.sleep(QUIET_SECONDS - idle)


__all__ = ["QUIET_SECONDS", "mark", "wait_quiet"]
