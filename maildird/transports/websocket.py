"""IMAP over WebSocket: a listener, its HTTP handshake policy, and a ``trio.abc.Stream`` adapter.

Theory of operation
-------------------
No standard binds IMAP to WebSocket (peers.md §6).  maildird speaks the websockify convention: binary
messages carrying the raw IMAP byte stream, message boundaries meaningless in both directions.  The
subprotocol is ``imap`` (our unregistered name); ``binary`` (websockify's) means the same; a client that
offers no subprotocol gets the same stream.  Text messages from the client are taken as their UTF-8
bytes, so a hand-typed command in a WebSocket console works too.

Per accepted TCP connection (``serve_websocket_client``):

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
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Awaitable, Callable, Iterable
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, WebSocketRequest, wrap_server_stream

from maildird.handlers.context import TransportInfo
from maildird.transports.accept import accept_forever
from maildird.transports.peer import is_loopback

if TYPE_CHECKING:
    from maildird.config import Config, Listener

__all__ = [
    "HANDSHAKE_TIMEOUT",
    "SUBPROTOCOLS",
    "HandleStream",
    "OriginPolicy",
    "WebSocketStream",
    "serve_websocket_client",
    "serve_websocket_listener",
]

log = logging.getLogger("maildird.transports.websocket")

SUBPROTOCOLS = ("imap", "binary")
"""Subprotocols we accept, in order of preference: ours, then websockify's raw-binary one."""

HANDSHAKE_TIMEOUT = 30.0
"""Seconds a client has to send its HTTP request head; trio-websocket's connect_timeout is 60 s,
our TLS handshake limit 30 s."""

CLOSE_TIMEOUT = 2.0
"""Seconds to wait for the client's answer to our close frame before dropping the TCP connection."""

MAX_REQUEST_HEAD = 16 * 1024
"""Largest HTTP request head read; h11 (wsproto's parser) stops at 16 KiB too (max_incomplete_event_size)."""

RECEIVE_BYTES = 64 * 1024
"""Octets trio-websocket asks of the transport per read (its default, 4 KiB, costs a syscall per frame)."""

MESSAGE_QUEUE_SIZE = 1
"""Complete messages trio-websocket queues before it stops reading: backpressure, as on TCP."""

PAGE_RESOURCE = ("data", "web", "index.html")
"""The static test page, inside the maildird package."""

HandleStream = Callable[[trio.abc.Stream, TransportInfo], Awaitable[None]]
"""Runs one IMAP session on a stream: ``ClientConnection(stream, services, transport, state).run()``."""

TlsContextGetter = Callable[[], ssl.SSLContext | None]


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
# Handshake policy
# --------------------------------------------------------------------------------------------------------

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
Origin = tuple[str, str, int]  # (scheme, host, port), lowercased, default port filled in


def parse_origin(text: str) -> Origin | None:
    """RFC 6454 §6.2 serialised origin -> (scheme, host, port); None for "null" or anything malformed."""
    try:
        parts = urlsplit(text.strip().lower())
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname or parts.path not in ("", "/"):
        return None
    default = _DEFAULT_PORTS.get(parts.scheme)
    if port is None:
        if default is None:
            return None
        port = default
    return parts.scheme, parts.hostname, port


class OriginPolicy:
    """Which browser origins may open this listener (RFC 6455 §4.2.2 item 8, §10.2)."""

    def __init__(self, allowed: Iterable[str], *, secure: bool) -> None:
        self.any = False
        self.null = False
        self.listed: set[Origin] = set()
        self.page_scheme = "https" if secure else "http"
        for entry in allowed:
            if entry.strip() == "*":
                self.any = True
            elif entry.strip().lower() == "null":
                self.null = True
            elif (origin := parse_origin(entry)) is not None:
                self.listed.add(origin)
            else:
                raise ValueError(f"not an origin (scheme://host[:port]): {entry!r}")

    def self_origins(self, local_host: str, local_port: int) -> set[Origin]:
        """The origins of a page this listener served: its address as reached, and localhost on loopback."""
        host = local_host.lower()  # as parse_origin gives it: an IPv6 literal without brackets
        hosts = {host}
        if is_loopback(host):
            hosts |= {"localhost", "127.0.0.1", "::1"}
        return {(self.page_scheme, h, local_port) for h in hosts}

    def allows(self, origin_header: str | None, local_host: str, local_port: int) -> bool:
        if origin_header is None or self.any:
            return True
        if origin_header.strip().lower() == "null":
            return self.null
        origin = parse_origin(origin_header)
        if origin is None:
            return False
        return origin in self.listed or origin in self.self_origins(local_host, local_port)


class UnsupportedSubprotocol(ValueError):
    """The client proposed subprotocols, none of them ours (a browser would fail an accept without one)."""


def choose_subprotocol(proposed: Iterable[str]) -> str | None:
    """Our pick among the client's proposals (RFC 6455 §4.2.2 item 5.4); None when it proposed none."""
    offered = [p.strip().lower() for p in proposed]
    if not offered:
        return None
    for ours in SUBPROTOCOLS:
        if ours in offered:
            return ours
    raise UnsupportedSubprotocol(", ".join(offered))


def _header(request: WebSocketRequest, name: bytes) -> str | None:
    for key, value in request.headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


# --------------------------------------------------------------------------------------------------------
# Plain HTTP: the request head, the test page
# --------------------------------------------------------------------------------------------------------


class _ReplayStream(trio.abc.Stream):
    """``stream`` with ``prefix`` put back in front: what we read of the request head goes to wsproto."""

    def __init__(self, prefix: bytes, stream: trio.abc.Stream) -> None:
        self._prefix = prefix
        self.stream = stream

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.stream.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self._prefix:
            await trio.lowlevel.checkpoint()
            size = len(self._prefix) if max_bytes is None else max_bytes
            data, self._prefix = self._prefix[:size], self._prefix[size:]
            return data
        return bytes(await self.stream.receive_some(max_bytes))

    async def aclose(self) -> None:
        await self.stream.aclose()


class _HeadTooLarge(Exception):
    pass


async def _read_request_head(stream: trio.abc.Stream) -> bytes | None:
    """Octets up to and including the blank line ending the head (and whatever came after); None on EOF."""
    data = b""
    while (end := data.find(b"\r\n\r\n")) < 0:
        if len(data) > MAX_REQUEST_HEAD:
            raise _HeadTooLarge
        chunk = await stream.receive_some(MAX_REQUEST_HEAD)
        if not chunk:
            return None
        data += chunk
    if end + 4 > MAX_REQUEST_HEAD:
        raise _HeadTooLarge
    return data


def _is_upgrade(head: bytes) -> tuple[str, str, bool]:
    """(method, target, wants a WebSocket) from a request head (RFC 9110 §7.8 Upgrade)."""
    lines = head.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    request_line = lines[0].decode("latin-1").split()
    method, target = [*request_line, "", ""][:2]
    upgrade = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"upgrade":
            tokens = {t.strip().split(b"/")[0].lower() for t in value.split(b",")}
            upgrade = upgrade or b"websocket" in tokens
    return method, target, upgrade


@cache
def page_bytes() -> bytes:
    """The static test page (maildird/data/web/index.html)."""
    node = resources.files("maildird")
    for part in PAGE_RESOURCE:
        node = node / part
    return node.read_bytes()


# Served with the page: no framing by other sites, no sniffing, scripts and styles only inline.
_PAGE_HEADERS = (
    b"Content-Type: text/html; charset=utf-8\r\n"
    b"Cache-Control: no-store\r\n"
    b"X-Content-Type-Options: nosniff\r\n"
    b"Referrer-Policy: no-referrer\r\n"
    b"Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    b"connect-src ws: wss:; frame-ancestors 'none'\r\n"
)


def http_response(
    status: int, reason: str, body: bytes = b"", *, headers: bytes = b"", head: bool = False
) -> bytes:
    """A complete HTTP/1.1 response that closes the connection (RFC 9112 §9.6)."""
    if not headers:
        headers = b"Content-Type: text/plain; charset=utf-8\r\n"
    start = f"HTTP/1.1 {status} {reason}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n".encode()
    return start + headers + b"\r\n" + (b"" if head else body)


def plain_http_answer(method: str, target: str, ws_path: str) -> bytes:
    """Our answer to an HTTP request that is not a WebSocket upgrade."""
    path = urlsplit(target).path
    if method not in ("GET", "HEAD"):
        return http_response(405, "Method Not Allowed", b"only GET\n", headers=b"Allow: GET, HEAD\r\n")
    head = method == "HEAD"
    if path == ws_path:
        try:
            page = page_bytes()
        except OSError as exc:  # a broken install: say so instead of dropping the connection
            log.error("cannot read the WebSocket test page: %s", exc)
            return http_response(500, "Internal Server Error", b"test page missing\n", head=head)
        return http_response(200, "OK", page, headers=_PAGE_HEADERS, head=head)
    if path == "/":
        return http_response(303, "See Other", headers=f"Location: {ws_path}\r\n".encode(), head=head)
    return http_response(404, "Not Found", b"not found\n", head=head)


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
    origins: Iterable[str] = (
        allowed_origins if allowed_origins is not None else getattr(spec, "allowed_origins", ())
    )
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
            head = await _read_request_head(client)
        except _HeadTooLarge:
            await client.send_all(http_response(431, "Request Header Fields Too Large", b"too large\n"))
            return None
        if head is None:
            return None
        method, target, upgrade = _is_upgrade(head)
        if not upgrade:
            await client.send_all(plain_http_answer(method, target, spec.path))
            return None
        request = await wrap_server_stream(
            nursery,
            _ReplayStream(head, client),
            message_queue_size=MESSAGE_QUEUE_SIZE,
            max_message_size=config.limits.max_ws_message,
            receive_buffer_size=RECEIVE_BYTES,
        )
        refusal = _refusal(request, spec, policy, local_host, local_port)
        if refusal is not None:
            status, text = refusal
            log.info("WebSocket request from %s refused (%d): %s", transport.peer, status, text)
            await request.reject(status, body=text.encode() + b"\n")
            return None
        return await request.accept(subprotocol=choose_subprotocol(request.proposed_subprotocols))
    log.info("WebSocket handshake with %s timed out", transport.peer)
    return None


def _refusal(
    request: WebSocketRequest, spec: Listener, policy: OriginPolicy, local_host: str, local_port: int
) -> tuple[int, str] | None:
    if urlsplit(request.path).path != spec.path:
        return 404, f"no WebSocket endpoint at {urlsplit(request.path).path}; IMAP is at {spec.path}"
    origin = _header(request, b"origin")
    if not policy.allows(origin, local_host, local_port):
        return 403, f"origin {origin} is not allowed"
    try:
        choose_subprotocol(request.proposed_subprotocols)
    except UnsupportedSubprotocol as exc:
        return 400, f"unsupported subprotocols {exc}; use one of {', '.join(SUBPROTOCOLS)}"
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
    """Accept connections on ``listener`` and serve each in ``clients`` (or a nursery of our own).

    The accept loop retries after running out of file descriptors or memory, as trio's own
    ``serve_listeners`` does; cancel the calling task to stop accepting.
    """
    origins: tuple[str, ...] = tuple(
        allowed_origins if allowed_origins is not None else getattr(spec, "allowed_origins", ())
    )
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
