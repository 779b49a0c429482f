"""The three commands that touch the transport or read beyond one command line, run by the
connection itself (``ClientConnection._command``): STARTTLS swaps the stream for an ``SSLStream``,
COMPRESS wraps it in a ``DeflateStream``, AUTHENTICATE runs a continuation exchange. Kept apart from
connection.py so that module stays the command loop.
"""

from __future__ import annotations

import logging
import ssl
from typing import TYPE_CHECKING

import trio

from maildird.connection_state import Closed, tagged_from
from maildird.handlers import auth as auth_handlers
from maildird.handlers.context import TransportInfo
from maildird.imap import commands as cmd
from maildird.imap import events as ev
from maildird.imap.events import NEED_DATA
from maildird.imap.responses import Code, Continuation, Tagged
from maildird.transports.compress import DeflateStream

if TYPE_CHECKING:
    from maildird.connection import ClientConnection

__all__ = ["authenticate", "compress", "starttls"]

log = logging.getLogger("maildird.connection")


# -- STARTTLS (RFC 9051 §6.2.1) -------------------------------------------------------------------


async def starttls(conn: ClientConnection, command: cmd.StartTLS) -> None:
    context = conn.state.tls_context() if conn.state.tls_context else None
    if context is None or not conn.ctx.transport.starttls_available:
        await conn.send(Tagged(command.tag, "BAD", "STARTTLS is not available here.", Code("CLIENTBUG")))
        return
    await conn.send(Tagged(command.tag, "OK", "Begin TLS negotiation now."))
    # Anything the client pipelined behind STARTTLS is refused by the core (ProtocolViolation on
    # the next event): it was sent in the clear and must never run inside the TLS session.
    pending = conn.core.next_event()
    if pending is not NEED_DATA:
        if isinstance(pending, ev.ProtocolViolation):
            log.warning("refused data pipelined after STARTTLS from %s", conn.ctx.transport.peer)
        raise Closed("data pipelined after STARTTLS")
    tls_stream = trio.SSLStream(conn.stream, context, server_side=True)
    try:
        with trio.fail_after(conn.limits.tls_handshake_timeout):
            await tls_stream.do_handshake()
    except (trio.BrokenResourceError, trio.TooSlowError, ssl.SSLError) as exc:
        raise Closed(f"TLS handshake failed: {exc!r}") from exc
    conn.stream = tls_stream
    t = conn.ctx.transport
    conn.ctx.transport = TransportInfo("tls", True, t.peer, t.local, t.loopback, False)


# -- COMPRESS (RFC 4978) --------------------------------------------------------------------------


async def compress(conn: ClientConnection, command: cmd.Compress) -> None:
    if command.mechanism != "DEFLATE":
        await conn.send(
            Tagged(command.tag, "NO", f"Unknown compression {command.mechanism}.", Code("CANNOT"))
        )
        return
    if isinstance(conn.stream, DeflateStream):
        await conn.send(
            Tagged(command.tag, "NO", "Compression is already active.", Code("COMPRESSIONACTIVE"))
        )
        return
    await conn.send(Tagged(command.tag, "OK", "DEFLATE active."))
    # Octets the client sent behind COMPRESS are already compressed (RFC 4978 §3): take them
    # back from the core and let the deflate stream inflate them first.
    conn.stream = DeflateStream(conn.stream, initial=conn.core.take_unprocessed())


# -- AUTHENTICATE (RFC 9051 §6.2.2, RFC 4959) -----------------------------------------------------


async def authenticate(conn: ClientConnection, command: cmd.Authenticate) -> Tagged:
    if command.mechanism != "PLAIN":
        return Tagged(command.tag, "NO", f"Unsupported mechanism {command.mechanism}.", Code("CANNOT"))
    data = command.initial_response
    if data is None:
        await conn.send(Continuation(""))
        event = await conn.next_event()
        if isinstance(event, ev.Rejected):
            return tagged_from(event.response, command.tag)
        if not isinstance(event, ev.AuthResponse):
            raise Closed(f"unexpected event during AUTHENTICATE: {event!r}")
        if event.data is None:
            return Tagged(command.tag, "BAD", "AUTHENTICATE cancelled.")
        data = event.data
    return await auth_handlers.authenticate_plain(conn.ctx, command.tag, data)
