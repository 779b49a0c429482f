"""A small literal-aware raw IMAP client for transcript tests (trio streams, and a blocking socket variant).

Theory of operation
-------------------
``ResponseFramer`` is sans-IO: bytes go in, whole response lines come out. A response line ends with CRLF
unless the part before the CRLF ends with a literal announcement ``{n}`` (or ``~{n}``, RFC 3516 §4.3);
then the next ``n`` bytes belong to the same line and framing continues after them (RFC 9051 §4.3,
§7.5). A returned line therefore contains its literals' bytes inline, e.g.
``b'* 1 FETCH (BODY[] {5}\\r\\nhello)\\r\\n'``.

``RawClient`` (trio) and ``SyncRawClient`` (socket) read the greeting on connect and offer:
``cmd(line)`` -- send a command (CRLF appended unless it ends with one outside a literal) and return
every line up to and including the tagged one; synchronizing literals ``{n}\\r\\n`` in the command wait
for the server's ``+`` continuation (which is kept in the returned list), non-synchronizing ``{n+}`` are
sent straight on (RFC 7888);
``send_raw(bytes)``, ``read_line()``, ``read_until_tagged(tag)``; and ``starttls(ctx)``.
Every read has a timeout so a silent server fails the test instead of hanging it.

TLS: ``tls_pair()`` makes a trustme CA, a server context with a certificate for 127.0.0.1, ::1 and
localhost, and a client context trusting the CA.
"""

from __future__ import annotations

import re
import socket
import ssl
from dataclasses import dataclass
from types import TracebackType

import trio
import trustme

# Seconds one read may wait for the server before the client gives up.
DEFAULT_READ_TIMEOUT = 15.0
# Bytes asked of the transport per read.
RECEIVE_CHUNK = 65536
# A response line longer than this without a CRLF is a server bug; fail instead of buffering forever.
MAX_PENDING_BYTES = 64 * 1024 * 1024

CRLF = b"\r\n"
# A literal announcement at the end of a line: {n}, binary ~{n} (RFC 3516), and in commands {n+} (RFC 7888).
_RESPONSE_LITERAL = re.compile(rb"~?\{(\d+)\}\Z")
_COMMAND_LITERAL = re.compile(rb"~?\{(\d+)(\+?)\}\r\n")


class RawClientError(Exception):
    """The server closed the connection, went silent, or answered a literal with a tagged response."""

    def __init__(self, message: str, lines: list[bytes]) -> None:
        super().__init__(f"{message}; lines so far: {lines!r}")
        self.lines = lines


class ResponseFramer:
    """Splits received bytes into response lines, keeping each literal inside its line (sans-IO)."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        # Offset up to which the current (incomplete) line has been framed: after its last literal.
        self._scan = 0

    def feed(self, data: bytes | bytearray) -> None:
        self._buffer += data
        if len(self._buffer) > MAX_PENDING_BYTES:
            raise ValueError(f"response line exceeds {MAX_PENDING_BYTES} bytes")

    @property
    def pending(self) -> bytes:
        """Bytes received but not yet returned as a line."""
        return bytes(self._buffer)

    def next_line(self) -> bytes | None:
        """The next complete line (with CRLF and inline literals), or None if more bytes are needed."""
        while True:
            end = self._buffer.find(CRLF, self._scan)
            if end < 0:
                return None
            match = _RESPONSE_LITERAL.search(self._buffer, self._scan, end)
            if match is None:
                line = bytes(self._buffer[: end + 2])
                del self._buffer[: end + 2]
                self._scan = 0
                return line
            literal_end = end + 2 + int(match.group(1))
            if len(self._buffer) < literal_end:
                return None
            self._scan = literal_end


def command_chunks(command: bytes) -> list[tuple[bytes, bool]]:
    """Split a command at its literals: ``(chunk, wait_for_continuation_after)`` pairs.

    The chunk boundaries fall right after each ``{n}\\r\\n`` announcement; only synchronizing literals
    (no ``+``) require waiting for ``+`` before sending the rest (RFC 9051 §7.5, RFC 7888 §3).
    """
    chunks: list[tuple[bytes, bool]] = []
    start = 0
    pos = 0
    while (match := _COMMAND_LITERAL.search(command, pos)) is not None:
        literal_start = match.end()
        synchronizing = match.group(2) != b"+"
        if synchronizing:
            chunks.append((command[start:literal_start], True))
            start = literal_start
        pos = literal_start + int(match.group(1))
    chunks.append((command[start:], False))
    return chunks


def _as_bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


def _with_crlf(command: bytes | str) -> bytes:
    """``command`` ending in a CRLF of its own: one is appended unless present after the last literal."""
    data = _as_bytes(command)
    after_literals = 0
    pos = 0
    while (match := _COMMAND_LITERAL.search(data, pos)) is not None:
        after_literals = pos = match.end() + int(match.group(1))
    if data.endswith(CRLF) and len(data) - len(CRLF) >= after_literals:
        return data
    return data + CRLF


def tag_of(command: bytes | str) -> bytes:
    """The tag (first token) of a command line."""
    return _as_bytes(command).split(b" ", 1)[0]


def is_tagged(line: bytes, tag: bytes) -> bool:
    return line.startswith(tag + b" ")


@dataclass(frozen=True, slots=True)
class TlsPair:
    """A test CA with matching server and client contexts for 127.0.0.1, ::1 and localhost."""

    ca: trustme.CA
    server_context: ssl.SSLContext
    client_context: ssl.SSLContext


def tls_pair() -> TlsPair:
    """A fresh trustme CA, a server context presenting a loopback certificate, and a trusting client."""
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "::1", "localhost").configure_cert(server_context)
    return TlsPair(ca, server_context, client_context(ca))


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    """A client SSL context that trusts ``ca`` (and nothing else)."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ca.configure_trust(context)
    return context


class RawClient:
    """A raw IMAP client over a trio stream; ``greeting`` holds the server's first line."""

    def __init__(self, stream: trio.abc.Stream, *, timeout: float = DEFAULT_READ_TIMEOUT) -> None:
        self.stream = stream
        self.timeout = timeout
        self.greeting = b""
        self._framer = ResponseFramer()

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        timeout: float = DEFAULT_READ_TIMEOUT,
    ) -> RawClient:
        """Connect (implicit TLS when ``ssl_context`` is given) and read the greeting."""
        stream: trio.abc.Stream = await trio.open_tcp_stream(host, port)
        if ssl_context is not None:
            tls = trio.SSLStream(stream, ssl_context, server_hostname=server_hostname or host)
            await tls.do_handshake()
            stream = tls
        client = cls(stream, timeout=timeout)
        client.greeting = await client.read_line()
        return client

    async def __aenter__(self) -> RawClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.stream.aclose()

    async def send_raw(self, data: bytes | str) -> None:
        await self.stream.send_all(_as_bytes(data))

    async def read_line(self) -> bytes:
        """The next response line (literal bytes inline); RawClientError on EOF or timeout."""
        while (line := self._framer.next_line()) is None:
            with trio.move_on_after(self.timeout) as scope:
                data = await self.stream.receive_some(RECEIVE_CHUNK)
            if scope.cancelled_caught:
                raise RawClientError(f"no response within {self.timeout}s", [self._framer.pending])
            if not data:
                raise RawClientError("connection closed by server", [self._framer.pending])
            self._framer.feed(data)
        return line

    async def read_until_tagged(self, tag: bytes | str) -> list[bytes]:
        """Every line up to and including the one tagged ``tag``."""
        tag_bytes = _as_bytes(tag)
        lines: list[bytes] = []
        while True:
            try:
                line = await self.read_line()
            except RawClientError as exc:
                raise RawClientError(str(exc), lines) from exc
            lines.append(line)
            if is_tagged(line, tag_bytes):
                return lines

    async def cmd(self, command: bytes | str) -> list[bytes]:
        """Send ``command`` and return every line up to and including its tagged completion."""
        data = _with_crlf(command)
        tag = tag_of(data)
        lines: list[bytes] = []
        for chunk, wait in command_chunks(data):
            await self.send_raw(chunk)
            if wait:
                line = await self.read_line()
                lines.append(line)
                if is_tagged(line, tag):
                    return lines
                if not line.startswith(b"+"):
                    lines.extend(await self.read_until_tagged(tag))
                    return lines
        lines.extend(await self.read_until_tagged(tag))
        return lines

    async def starttls(
        self, ssl_context: ssl.SSLContext, *, tag: str = "tls1", server_hostname: str = "127.0.0.1"
    ) -> list[bytes]:
        """Run STARTTLS (RFC 9051 §6.2.1) and, on OK, wrap the stream; returns the command's lines."""
        lines = await self.cmd(f"{tag} STARTTLS")
        if lines[-1].startswith(f"{tag} OK".encode()):
            if self._framer.pending:
                raise RawClientError("bytes after STARTTLS OK before the handshake", lines)
            tls = trio.SSLStream(self.stream, ssl_context, server_hostname=server_hostname)
            await tls.do_handshake()
            self.stream = tls
        return lines


class SyncRawClient:
    """The blocking-socket twin of RawClient, for sync tests and threads."""

    def __init__(self, sock: socket.socket | ssl.SSLSocket, *, timeout: float = DEFAULT_READ_TIMEOUT) -> None:
        self.sock = sock
        self.sock.settimeout(timeout)
        self.timeout = timeout
        self.greeting = b""
        self._framer = ResponseFramer()

    @classmethod
    def connect(
        cls,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        timeout: float = DEFAULT_READ_TIMEOUT,
    ) -> SyncRawClient:
        sock: socket.socket | ssl.SSLSocket = socket.create_connection((host, port), timeout=timeout)
        if ssl_context is not None:
            sock = ssl_context.wrap_socket(sock, server_hostname=server_hostname or host)
        client = cls(sock, timeout=timeout)
        client.greeting = client.read_line()
        return client

    def __enter__(self) -> SyncRawClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def send_raw(self, data: bytes | str) -> None:
        self.sock.sendall(_as_bytes(data))

    def read_line(self) -> bytes:
        while (line := self._framer.next_line()) is None:
            try:
                data = self.sock.recv(RECEIVE_CHUNK)
            except TimeoutError as exc:
                raise RawClientError(f"no response within {self.timeout}s", [self._framer.pending]) from exc
            if not data:
                raise RawClientError("connection closed by server", [self._framer.pending])
            self._framer.feed(data)
        return line

    def read_until_tagged(self, tag: bytes | str) -> list[bytes]:
        tag_bytes = _as_bytes(tag)
        lines: list[bytes] = []
        while True:
            try:
                line = self.read_line()
            except RawClientError as exc:
                raise RawClientError(str(exc), lines) from exc
            lines.append(line)
            if is_tagged(line, tag_bytes):
                return lines

    def cmd(self, command: bytes | str) -> list[bytes]:
        data = _with_crlf(command)
        tag = tag_of(data)
        lines: list[bytes] = []
        for chunk, wait in command_chunks(data):
            self.send_raw(chunk)
            if wait:
                line = self.read_line()
                lines.append(line)
                if is_tagged(line, tag):
                    return lines
                if not line.startswith(b"+"):
                    lines.extend(self.read_until_tagged(tag))
                    return lines
        lines.extend(self.read_until_tagged(tag))
        return lines

    def starttls(
        self, ssl_context: ssl.SSLContext, *, tag: str = "tls1", server_hostname: str = "127.0.0.1"
    ) -> list[bytes]:
        lines = self.cmd(f"{tag} STARTTLS")
        if lines[-1].startswith(f"{tag} OK".encode()):
            if self._framer.pending:
                raise RawClientError("bytes after STARTTLS OK before the handshake", lines)
            self.sock = ssl_context.wrap_socket(self.sock, server_hostname=server_hostname)
        return lines
