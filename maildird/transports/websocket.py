"""IMAP over WebSocket: a listener, its HTTP handshake policy, and a ``trio.abc.Stream`` adapter.

Theory of operation
-------------------
No standard binds IMAP to WebSocket (peers.md §6).  maildird speaks the websockify convention: binary
messages carrying the raw IMAP byte stream, message boundaries meaningless in both directions.  The
subprotocol is ``imap`` (our unregistered name); ``binary`` (websockify's) means the same; a client that
offers no subprotocol gets the same stream.  Text messages from the client are taken as their UTF-8
bytes, so a hand-typed command in a WebSocket console works too.

Per accepted TCP connection (``serve_websocket_client``; the server has applied the listener's access
list and the connection limits at accept already, so a connection waiting in steps 1-3 counts):

1. For ``wss``, the TLS handshake (same certificates as IMAP) under ``tls_handshake_timeout``.
2. We read the HTTP request head ourselves (at most ``MAX_REQUEST_HEAD`` octets, under
   ``HANDSHAKE_TIMEOUT``).  A plain ``GET`` that is not a WebSocket upgrade gets the static test page
   (``maildird/data/web/index.html``) when it asks for the listener's path, a redirect there for
   ``/``, and 404 otherwise: trio-websocket can only answer upgrades, and users need the page somewhere.
3. An upgrade is replayed into ``trio_websocket.wrap_server_stream`` (the octets we read come first),
   which parses it; we then refuse a wrong path (404), an unlisted ``Origin`` (403) or only unknown
   subprotocols (400), or accept.  RFC 6455 §10.2: the Origin check is the server's job, since a
   browser lets any page open a WebSocket to any address, loopback included.
4. ``handle_stream(WebSocketStream, TransportInfo)`` runs the IMAP session (``ClientConnection``).

Origins allowed: those configured (``"*"`` allows any, ``"null"`` allows file:// pages and sandboxed
frames), plus the listener's own origin as an IP literal or ``localhost`` (the page served in step 2).
A request without ``Origin`` comes from a non-browser client and is allowed: the Origin check protects
browsers' users, not the server.  Names other than ``localhost`` are never implied, which keeps DNS
rebinding pages (whose origin is their own name) out.

``TransportInfo``: kind ``ws``/``wss``, ``secure`` only for ``wss``, ``loopback`` from the peer address
(so plaintext LOGIN over ``ws`` works from loopback only, the TCP rule), and never STARTTLS.

The HTTP side (origin and subprotocol policy, request heads, the test page and plain HTTP answers) lives
in :mod:`maildird.transports.ws_http`; this module holds the stream adapter, the handshake driver and the
accept loop, and re-exports the policy names.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, wrap_server_stream

from maildird.handlers.context import TransportInfo
from maildird.transports.accept import accept_forever
from maildird.transports.peer import is_loopback
from maildird.transports.ws_http import MAX_REQUEST_HEAD as MAX_REQUEST_HEAD
from maildird.transports.ws_http import SUBPROTOCOLS as SUBPROTOCOLS
from maildird.transports.ws_http import HeadTooLarge, ReplayStream, is_upgrade, read_request_head, refusal_for
from maildird.transports.ws_http import OriginPolicy as OriginPolicy
from maildird.transports.ws_http import UnsupportedSubprotocol as UnsupportedSubprotocol
from maildird.transports.ws_http import choose_subprotocol as choose_subprotocol
from maildird.transports.ws_http import http_response as http_response
from maildird.transports.ws_http import page_bytes as page_bytes
from maildird.transports.ws_http import parse_origin as parse_origin
from maildird.transports.ws_http import plain_http_answer as plain_http_answer

if TYPE_CHECKING:
    from maildird.config import Config, Listener

__all__ = [
    "HANDSHAKE_TIMEOUT",
    "SUBPROTOCOLS",
    "HandleStream",
    "OriginPolicy",
    "WebSocketStream",
    "refuse_connection",
    "serve_websocket_client",
    "serve_websocket_listener",
]

log = logging.getLogger("maildird.transports.websocket")

HANDSHAKE_TIMEOUT = 30.0
"""Seconds a client has to send its HTTP request head; trio-websocket's connect_timeout is 60 s,
our TLS handshake limit 30 s."""

CLOSE_TIMEOUT = 2.0
"""Seconds to wait for the client's answer to our close frame before dropping the TCP connection."""

RECEIVE_BYTES = 64 * 1024
"""Octets trio-websocket asks of the transport per read (its default, 4 KiB, costs a syscall per frame)."""

MESSAGE_QUEUE_SIZE = 1
"""Complete messages trio-websocket queues before it stops reading: backpressure, as on TCP."""

HandleStream = Callable[[trio.abc.Stream, TransportInfo], Awaitable[None]]
"""Runs one IMAP session on a stream: ``ClientConnection(stream, services, transport, state).run()``."""

TlsContextGetter = Callable[[], ssl.SSLContext | None]

# Kept importable from here under its old private name (tests).
_is_upgrade = is_upgrade


# --------------------------------------------------------------------------------------------------------
# The stream adapter
# --------------------------------------------------------------------------------------------------------


class WebSocketStream(trio.abc.Stream):
    """A WebSocket connection seen as a byte stream (websockify framing).

    ``send_all`` sends one binary message; ``receive_some`` returns the next message's octets (text
    messages UTF-8 encoded), keeping what exceeds ``max_bytes`` for the next call, and ``b""`` once the
    WebSocket is closed.  ``aclose`` sends a close frame, waits up to ``CLOSE_TIMEOUT`` for the answer,
    then closes ``transport_stream`` (trio-websocket leaves it open after some closes, e.g. 1009).
    Works on either side of the connection; the tests use it for the client.
    """

    def __init__(self, ws: WebSocketConnection, transport_stream: trio.abc.Stream | None = None) -> None:
        self.ws = ws
        self.transport_stream = transport_stream
        self._pending = b""
        self._closed = False
        self._sending = False
        self._receiving = False

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self._sending:
            raise trio.BusyResourceError("another task is sending on this WebSocketStream")
        if self._closed:
            raise trio.ClosedResourceError("WebSocketStream is closed")
        self._sending = True
        try:
            if data:
                await self.ws.send_message(bytes(data))
            else:
                await trio.lowlevel.checkpoint()
        except ConnectionClosed as exc:
            raise trio.BrokenResourceError(f"WebSocket closed: {exc.reason}") from exc
        finally:
            self._sending = False

    async def wait_send_all_might_not_block(self) -> None:
        await trio.lowlevel.checkpoint()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self._receiving:
            raise trio.BusyResourceError("another task is receiving on this WebSocketStream")
        if self._closed:
            raise trio.ClosedResourceError("WebSocketStream is closed")
        if max_bytes is not None and max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        self._receiving = True
        try:
            if self._pending:
                # The checkpoint comes before taking octets out, so a cancellation loses none.
                await trio.lowlevel.checkpoint()
            # An empty message is not end of stream; only a closed WebSocket is.
            while not self._pending:
                try:
                    message = await self.ws.get_message()
                except ConnectionClosed:
                    return b""
                self._pending = message.encode("utf-8") if isinstance(message, str) else bytes(message)
            if max_bytes is None or len(self._pending) <= max_bytes:
                data, self._pending = self._pending, b""
            else:
                data, self._pending = self._pending[:max_bytes], self._pending[max_bytes:]
            return data
        finally:
            self._receiving = False

    async def aclose(self) -> None:
        if self._closed:
            await trio.lowlevel.checkpoint()
            return
        self._closed = True
        # A LOGOUT deserves a proper close frame even when the caller closes us under cancellation
        # (trio.aclose_forcefully); the shield is bounded by CLOSE_TIMEOUT.
        with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_TIMEOUT):
            await self.ws.aclose()
        if self.transport_stream is not None:
            await trio.aclose_forcefully(self.transport_stream)


# --------------------------------------------------------------------------------------------------------
# Serving
# --------------------------------------------------------------------------------------------------------


def _endpoints(stream: trio.SocketStream) -> tuple[tuple[str, int], tuple[str, int]]:
    try:
        peer = stream.socket.getpeername()
        local = stream.socket.getsockname()
    except OSError:
        return ("?", 0), ("?", 0)
    return (str(peer[0]), int(peer[1])), (str(local[0]), int(local[1]))


def transport_info(stream: trio.SocketStream, secure: bool) -> TransportInfo:
    """How the session sees a WebSocket connection: never STARTTLS (use wss), loopback by peer address."""
    (peer_host, peer_port), (local_host, local_port) = _endpoints(stream)
    return TransportInfo(
        kind="wss" if secure else "ws",
        secure=secure,
        peer=f"{peer_host}:{peer_port}",
        local=f"{local_host}:{local_port}",
        loopback=is_loopback(peer_host),
        starttls_available=False,
    )


async def serve_websocket_client(
    stream: trio.SocketStream,
    spec: Listener,
    config: Config,
    handle_stream: HandleStream,
    tls_context: TlsContextGetter,
    *,
    allowed_origins: Iterable[str] | None = None,
) -> None:
    """Serve one accepted connection of a ``ws``/``wss`` listener.  Never raises ``Exception``."""
    secure = spec.tls == "implicit"
    origins: Iterable[str] = allowed_origins if allowed_origins is not None else spec.allowed_origins
    policy = OriginPolicy(origins, secure=secure)
    transport = transport_info(stream, secure)
    _, (local_host, local_port) = _endpoints(stream)
    client: trio.abc.Stream = stream
    try:
        if secure:
            context = tls_context()
            if context is None:
                log.error("wss listener %s: no TLS certificate configured", spec.url())
                return
            tls = trio.SSLStream(stream, context, server_side=True)
            try:
                with trio.fail_after(config.limits.tls_handshake_timeout):
                    await tls.do_handshake()
            except (trio.BrokenResourceError, trio.TooSlowError, ssl.SSLError) as exc:
                log.info("TLS handshake with %s failed: %r", transport.peer, exc)
                return
            client = tls
        async with trio.open_nursery() as nursery:
            ws = await _handshake(nursery, client, spec, config, policy, transport, local_host, local_port)
            if ws is not None:
                await handle_stream(WebSocketStream(ws, client), transport)
            nursery.cancel_scope.cancel()
    except* (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionClosed) as group:
        log.debug("WebSocket client %s went away: %r", transport.peer, group.exceptions)
    except* Exception:
        log.exception("WebSocket connection from %s failed", transport.peer)
    finally:
        await trio.aclose_forcefully(client)


async def refuse_connection(stream: trio.abc.Stream, status: int, reason: str, text: str) -> None:
    """Answer a plain ``ws`` connection the server refused at accept (access list, connection limits),
    before any handshake: read its request head, then send ``status`` with ``text`` and close (RFC 9110
    §15.5.4 403 for an address refused, §15.6.4 503 for a temporary overload).  The caller bounds the
    time this may take (the server's ``REFUSAL_TIMEOUT``); the stream is closed in every case.  Reading
    the head first matters: closing with unread input makes the kernel send RST, and the client may
    then never see the answer."""
    try:
        try:
            await read_request_head(stream)
        except HeadTooLarge:
            pass
        await stream.send_all(http_response(status, reason, text.encode() + b"\n"))
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    finally:
        await trio.aclose_forcefully(stream)


async def _handshake(
    nursery: trio.Nursery,
    client: trio.abc.Stream,
    spec: Listener,
    config: Config,
    policy: OriginPolicy,
    transport: TransportInfo,
    local_host: str,
    local_port: int,
) -> WebSocketConnection | None:
    """Read the request, answer plain HTTP or refuse or accept the upgrade (RFC 6455 §4.2.2)."""
    with trio.move_on_after(HANDSHAKE_TIMEOUT):
        try:
            head = await read_request_head(client)
        except HeadTooLarge:
            await client.send_all(http_response(431, "Request Header Fields Too Large", b"too large\n"))
            return None
        if head is None:
            return None
        method, target, upgrade = is_upgrade(head)
        if not upgrade:
            await client.send_all(plain_http_answer(method, target, spec.path))
            return None
        request = await wrap_server_stream(
            nursery,
            ReplayStream(head, client),
            message_queue_size=MESSAGE_QUEUE_SIZE,
            max_message_size=config.limits.max_ws_message,
            receive_buffer_size=RECEIVE_BYTES,
        )
        refusal = refusal_for(request, spec, policy, local_host, local_port)
        if refusal is not None:
            status, text = refusal
            log.info("WebSocket request from %s refused (%d): %s", transport.peer, status, text)
            await request.reject(status, body=text.encode() + b"\n")
            return None
        return await request.accept(subprotocol=choose_subprotocol(request.proposed_subprotocols))
    log.info("WebSocket handshake with %s timed out", transport.peer)
    return None


async def serve_websocket_listener(
    listener: trio.SocketListener,
    spec: Listener,
    config: Config,
    handle_stream: HandleStream,
    tls_context: TlsContextGetter,
    clients: trio.Nursery | None = None,
    *,
    allowed_origins: Iterable[str] | None = None,
) -> None:
    """Accept connections on ``listener`` and serve each in ``clients`` (or a nursery of our own), with
    no access list and no connection limits: ``maildird.server`` runs its own accept loop, which admits
    each connection before calling ``serve_websocket_client`` (tests and embedders use this one).

    The accept loop retries after running out of file descriptors or memory, as trio's own
    ``serve_listeners`` does; cancel the calling task to stop accepting.
    """
    origins: tuple[str, ...] = tuple(allowed_origins if allowed_origins is not None else spec.allowed_origins)
    OriginPolicy(origins, secure=False)  # a bad entry fails here, before the first client
    async with trio.open_nursery() as own:
        nursery = clients if clients is not None else own

        def start(stream: trio.SocketStream) -> None:
            nursery.start_soon(_serve_one, stream, spec, config, handle_stream, tls_context, origins)

        await accept_forever(listener, start)


async def _serve_one(
    stream: trio.SocketStream,
    spec: Listener,
    config: Config,
    handle_stream: HandleStream,
    tls_context: TlsContextGetter,
    allowed_origins: Iterable[str] | None,
) -> None:
    await serve_websocket_client(
        stream, spec, config, handle_stream, tls_context, allowed_origins=allowed_origins
    )
