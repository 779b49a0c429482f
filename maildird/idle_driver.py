"""IDLE (RFC 2177), driven by the connection: the continuation, pushes while the client waits, DONE.

Theory of operation: after ``+ idling`` three helper tasks run beside the reader: one waits on the
change hub for the selected mailbox and sends what changed, one sends ``* OK Still here`` every
``idle_keepalive`` seconds, and one sends ``* BYE`` if the server shuts down. When ``DONE`` (or
anything else) arrives, the helpers are stopped *only where they wait* (``IdleStop``): a push that is
being written finishes, so no response is ever cut in half and no update is lost (a cancelled
``send_all`` would break a TLS or DEFLATE stream). The hub's version is read before the first
refresh, so a change landing between that refresh and the first wait still wakes the push.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from maildird.connection_state import Closed, first_leaf, tagged_from
from maildird.handlers import idle as idle_handlers
from maildird.imap import commands as cmd
from maildird.imap import events as ev
from maildird.imap.errors import Bye
from maildird.imap.responses import Continuation, Status, Tagged

if TYPE_CHECKING:
    from maildird.connection import ClientConnection


async def run_idle(conn: ClientConnection, command: cmd.Idle) -> None:
    """IDLE (RFC 2177): continuation, pushes until DONE, then the tagged reply."""
    # Read the hub's version *before* the first refresh: a change that lands between that
    # refresh and the wait below must still wake us (otherwise it waits for the next change).
    hub = conn.services.hub
    watched = conn.ctx.selected.mailbox.watch_key if conn.ctx.selected is not None else None
    seen = hub.version(watched) if hub is not None and watched is not None else 0
    # The continuation comes first (Dovecot's order; Thunderbird takes any untagged line after
    # IDLE as news and answers DONE at once), then whatever is pending.
    await conn.send(Continuation("idling"))
    await refresh(conn)
    conn.idling = True
    stop = IdleStop()
    done: list[Tagged] = []
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_push, conn, watched, seen, stop)
            nursery.start_soon(_keepalive, conn, stop)
            nursery.start_soon(_shutdown, conn, stop)
            event = await conn.next_event()
            # Stop the helpers only where they wait: a push or keep-alive that is writing
            # finishes its write, so no response is cut or lost (RFC 2177 §3).
            stop.stop()
            if isinstance(event, ev.IdleDone):
                done.append(Tagged(command.tag, "OK", "IDLE terminated."))
            elif isinstance(event, ev.Rejected):
                done.append(tagged_from(event.response, command.tag))
            elif isinstance(event, ev.ConnectionClosed):
                raise Closed("client closed the connection during IDLE")
            else:
                raise Closed(f"unexpected event during IDLE: {event!r}")
    except BaseExceptionGroup as group:
        # A child (keep-alive, shutdown, push) or the reader ended the session. Anything else,
        # Cancelled included, goes up without the Closed parts: when the server is cancelling
        # us, a client hang-up at the same moment is not news.
        _closed, rest = group.split(Closed)
        if rest is not None:
            byes, others = rest.split(Bye)
            if others is not None:
                raise others from None
            assert byes is not None
            raise first_leaf(byes) from None
        raise Closed(str(first_leaf(group))) from None
    finally:
        conn.idling = False
    await conn.send(done[0])


async def _shutdown(conn: ClientConnection, stop: IdleStop) -> None:
    with stop.waiting() as scope:
        await conn.state.shutting_down.wait()
    if not scope.cancelled_caught:
        await conn.bye("UNAVAILABLE", "Server shutting down.")


async def _push(conn: ClientConnection, key: str | None, seen: int, stop: IdleStop) -> None:
    hub = conn.services.hub
    while True:
        with stop.waiting() as scope:
            if hub is None or key is None:
                await trio.sleep_forever()
            else:
                seen = await hub.wait_past(key, seen)
        if scope.cancelled_caught:
            return
        await refresh(conn)


async def refresh(conn: ClientConnection) -> None:
    """Send the selected mailbox's pending updates at once (not buffered)."""
    await idle_handlers.idle_updates(conn.ctx)
    await conn.flush()


async def _keepalive(conn: ClientConnection, stop: IdleStop) -> None:
    while True:
        with stop.waiting() as scope:
            await trio.sleep(conn.limits.idle_keepalive)
        if scope.cancelled_caught:
            return
        await conn.send(Status("OK", "Still here"))


class IdleStop:
    """Ends IDLE's helper tasks only at their waiting points.

    Each helper waits inside ``waiting()``; ``stop()`` cancels those scopes (and every later one at
    once), so a helper that is in the middle of a write finishes it and then returns.
    """

    def __init__(self) -> None:
        self._stopping = False
        self._scopes: list[trio.CancelScope] = []

    def waiting(self) -> trio.CancelScope:
        scope = trio.CancelScope()
        if self._stopping:
            scope.cancel()
        self._scopes = [s for s in self._scopes if not s.cancel_called]
        self._scopes.append(scope)
        return scope

    def stop(self) -> None:
        self._stopping = True
        for scope in self._scopes:
            scope.cancel()
