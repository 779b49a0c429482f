"""The HTTP side of a WebSocket listener: the upgrade's policy (origins, subprotocols, path) and the
plain HTTP answers (the test page, redirects, errors).

Theory of operation: :mod:`maildird.transports.websocket` reads the request head with
:func:`read_request_head`, answers a request that is not an upgrade with :func:`plain_http_answer`, and
replays an upgrade into wsproto through :class:`ReplayStream`; :func:`refusal_for` then decides 404/403/400
from the path, the ``Origin`` (RFC 6455 §10.2, :class:`OriginPolicy`) and the subprotocols
(:func:`choose_subprotocol`).  Everything here is policy and bytes; the I/O and timeouts stay there.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import trio
from trio_websocket import WebSocketRequest

from maildird.transports.peer import is_loopback

if TYPE_CHECKING:
    from maildird.config import Listener

__all__ = [
    "MAX_REQUEST_HEAD",
    "SUBPROTOCOLS",
    "HeadTooLarge",
    "OriginPolicy",
    "ReplayStream",
    "UnsupportedSubprotocol",
    "choose_subprotocol",
    "http_response",
    "is_upgrade",
    "page_bytes",
    "parse_origin",
    "plain_http_answer",
    "read_request_head",
    "refusal_for",
    "request_header",
]

# The listener's logger: these lines belong to the WebSocket transport's log.
log = logging.getLogger("maildird.transports.websocket")

SUBPROTOCOLS = ("imap", "binary")
"""Subprotocols we accept, in order of preference: ours, then websockify's raw-binary one."""
MAX_REQUEST_HEAD = 16 * 1024
"""Largest HTTP request head read; h11 (wsproto's parser) stops at 16 KiB too (max_incomplete_event_size)."""
PAGE_RESOURCE = ("data", "web", "index.html")
"""The static test page, inside the maildird package."""


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


def request_header(request: WebSocketRequest, name: bytes) -> str | None:
    for key, value in request.headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


class ReplayStream(trio.abc.Stream):
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


class HeadTooLarge(Exception):
    pass


async def read_request_head(stream: trio.abc.Stream) -> bytes | None:
    """Octets up to and including the blank line ending the head (and whatever came after); None on EOF."""
    data = b""
    while (end := data.find(b"\r\n\r\n")) < 0:
        if len(data) > MAX_REQUEST_HEAD:
            raise HeadTooLarge
        chunk = await stream.receive_some(MAX_REQUEST_HEAD)
        if not chunk:
            return None
        data += chunk
    if end + 4 > MAX_REQUEST_HEAD:
        raise HeadTooLarge
    return data


def is_upgrade(head: bytes) -> tuple[str, str, bool]:
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


def refusal_for(
    request: WebSocketRequest, spec: Listener, policy: OriginPolicy, local_host: str, local_port: int
) -> tuple[int, str] | None:
    if urlsplit(request.path).path != spec.path:
        return 404, f"no WebSocket endpoint at {urlsplit(request.path).path}; IMAP is at {spec.path}"
    origin = request_header(request, b"origin")
    if not policy.allows(origin, local_host, local_port):
        return 403, f"origin {origin} is not allowed"
    try:
        choose_subprotocol(request.proposed_subprotocols)
    except UnsupportedSubprotocol as exc:
        return 400, f"unsupported subprotocols {exc}; use one of {', '.join(SUBPROTOCOLS)}"
    return None
