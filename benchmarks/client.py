"""A raw, literal-aware IMAP client that costs the same whatever server it talks to.

Theory of operation
-------------------
The benchmark's ratios must be the servers', so the client does the least work that is still correct:
it never parses responses beyond framing them. ``Framer`` is sans-IO: received bytes go into one
``bytearray``; a response line ends at CRLF unless the text before the CRLF ends with a literal
announcement ``{n}`` (or ``~{n}``, RFC 3516 §4.3), in which case the next ``n`` octets belong to the line
and the scan continues after them (RFC 9051 §4.3, §7.5). Finding the end of a 10 MB FETCH response is a few
``bytearray.find`` calls per line; nothing is decoded or copied unless the caller asks for the lines.

``Connection`` is a blocking socket (``TCP_NODELAY``, large receive chunks) with ``command()``, which sends
one tagged command and returns a ``Reply`` (status, number of response lines, octets received, and the
lines themselves only when ``keep=True``). Synchronizing literals in commands (APPEND) wait for the ``+``
continuation like a real client. ``Pool`` drives many connections from one thread with ``selectors`` for
the concurrency workloads: each connection runs its own bounded script of commands, one in flight at a
time, and the pool counts completed commands. Every wait is bounded by a timeout.
"""

from __future__ import annotations

import selectors
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

#: Octets asked of the kernel per recv; big responses arrive in few calls.
RECV_CHUNK = 1 << 20
#: Seconds any single wait for the server may take before the client gives up.
DEFAULT_TIMEOUT = 600.0
CRLF = b"\r\n"
_CLOSE_BRACE = ord("}")


class ClientError(Exception):
    """The server closed the connection, timed out or answered something the workload did not expect."""


class Framer:
    """Splits received bytes into response lines; literals stay inside their line (sans-IO)."""

    __slots__ = ("_buf", "_line_start", "_scan")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._line_start = 0
        self._scan = 0  # where to look for the current line's next CRLF (after its last literal)

    def feed(self, data: bytes) -> None:
        if self._line_start > RECV_CHUNK and self._line_start * 2 > len(self._buf):
            del self._buf[: self._line_start]
            self._scan -= self._line_start
            self._line_start = 0
        self._buf += data

    def next_line(self) -> tuple[int, int] | None:
        """(start, end) of the next complete line in ``buffer`` (end after its CRLF), or None."""
        buf = self._buf
        while True:
            end = buf.find(CRLF, self._scan)
            if end < 0:
                return None
            if end > self._line_start and buf[end - 1] == _CLOSE_BRACE:
                opening = buf.rfind(b"{", self._scan, end)
                digits = buf[opening + 1 : end - 1] if opening >= 0 else b""
                if digits.isdigit():
                    size = int(digits)
                    after = end + 2 + size
                    if after > len(buf):
                        return None  # wait for the rest of the literal
                    self._scan = after
                    continue
            start = self._line_start
            self._line_start = self._scan = end + 2
            return start, end + 2

    @property
    def buffer(self) -> bytearray:
        return self._buf

    def line(self, span: tuple[int, int]) -> bytes:
        return bytes(self._buf[span[0] : span[1]])

    def startswith(self, span: tuple[int, int], prefix: bytes) -> bool:
        return self._buf.startswith(prefix, span[0], span[1])


@dataclass(slots=True)
class Reply:
    """One command's outcome: tagged status, response lines before it, octets received."""

    status: str
    tagged: bytes
    lines: int
    octets: int
    kept: list[bytes] = field(default_factory=list)

    def check(self, what: str) -> Reply:
        if self.status != "OK":
            raise ClientError(f"{what}: {self.tagged!r}")
        return self


class Connection:
    """One blocking IMAP connection on loopback."""

    def __init__(self, sock: socket.socket, timeout: float) -> None:
        self.sock = sock
        self.timeout = timeout
        self.framer = Framer()
        self.counter = 0
        self.greeting = b""

    @classmethod
    def open(cls, host: str, port: int, *, timeout: float = DEFAULT_TIMEOUT) -> Connection:
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = cls(sock, timeout)
        conn.greeting = conn.read_line()
        if not conn.greeting.startswith(b"* OK"):
            raise ClientError(f"greeting: {conn.greeting!r}")
        return conn

    def close(self) -> None:
        self.sock.close()

    def _fill(self) -> int:
        data = self.sock.recv(RECV_CHUNK)
        if not data:
            raise ClientError("server closed the connection")
        self.framer.feed(data)
        return len(data)

    def read_line(self) -> bytes:
        while (span := self.framer.next_line()) is None:
            self._fill()
        return self.framer.line(span)

    def next_tag(self) -> bytes:
        self.counter += 1
        return b"b%d" % self.counter

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_reply(self, tag: bytes, *, keep: bool = False) -> Reply:
        framer = self.framer
        prefix = tag + b" "
        lines = octets = 0
        kept: list[bytes] = []
        while True:
            span = framer.next_line()
            if span is None:
                octets += self._fill()
                continue
            if framer.startswith(span, prefix):
                tagged = framer.line(span)
                status = tagged[len(prefix) :].split(b" ", 1)[0].decode()
                return Reply(status, tagged, lines, octets, kept)
            lines += 1
            if keep:
                kept.append(framer.line(span))

    def command(self, text: bytes | str, *, keep: bool = False) -> Reply:
        """Send ``tag text`` and read up to the tagged response. Synchronizing literals wait for ``+``."""
        body = text.encode() if isinstance(text, str) else text
        tag = self.next_tag()
        pieces = _split_literals(tag + b" " + body + CRLF)
        for piece in pieces[:-1]:
            self.send(piece)
            line = self.read_line()
            if not line.startswith(b"+"):
                raise ClientError(f"literal refused: {line!r}")
        self.send(pieces[-1])
        return self.read_reply(tag, keep=keep)

    def login(self, user: str, password: str) -> Reply:
        return self.command(f'LOGIN "{user}" "{password}"').check("LOGIN")


def _split_literals(data: bytes) -> list[bytes]:
    """Cut a command after each synchronizing ``{n}CRLF`` announcement (the client must wait there)."""
    pieces: list[bytes] = []
    start = 0
    pos = 0
    while True:
        end = data.find(CRLF, pos)
        if end < 0 or end + 2 == len(data):
            pieces.append(data[start:])
            return pieces
        opening = data.rfind(b"{", pos, end)
        if opening >= 0 and data[end - 1] == _CLOSE_BRACE and data[opening + 1 : end - 1].isdigit():
            size = int(data[opening + 1 : end - 1])
            pieces.append(data[start : end + 2])
            start = end + 2
            pos = end + 2 + size
        else:
            pos = end + 2


@dataclass(slots=True)
class _Slot:
    conn: Connection
    script: Callable[[int], bytes]
    remaining: int
    done: int = 0
    tag: bytes = b""


class Pool:
    """Runs a bounded script on many connections at once from one thread (selectors)."""

    def __init__(self, connections: Sequence[Connection]) -> None:
        self.connections = list(connections)

    def run(self, script: Callable[[int, int], bytes], commands_each: int, *, timeout: float) -> int:
        """Each connection i sends ``script(i, n)`` for n = 0..commands_each-1, one at a time.

        Returns the number of commands completed with OK; raises ClientError on NO/BAD or on timeout.
        """
        selector = selectors.DefaultSelector()
        slots = []
        for i, conn in enumerate(self.connections):
            conn.sock.setblocking(False)
            slot = _Slot(conn, lambda n, i=i: script(i, n), commands_each)
            slots.append(slot)
            selector.register(conn.sock, selectors.EVENT_READ, slot)
            self._send_next(slot)
        active = len(slots)
        deadline = time.monotonic() + timeout
        try:
            while active:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ClientError(f"pool: {active} connections still busy after {timeout} s")
                for key, _ in selector.select(min(left, 1.0)):
                    slot = key.data
                    data = slot.conn.sock.recv(RECV_CHUNK)
                    if not data:
                        raise ClientError("pool: server closed a connection")
                    framer = slot.conn.framer
                    framer.feed(data)
                    prefix = slot.tag + b" "
                    while (span := framer.next_line()) is not None:
                        if framer.startswith(span, prefix):
                            tagged = framer.line(span)
                            if not tagged[len(prefix) :].startswith(b"OK"):
                                raise ClientError(f"pool: {tagged!r}")
                            slot.done += 1
                            if slot.done == slot.remaining:
                                selector.unregister(slot.conn.sock)
                                active -= 1
                            else:
                                self._send_next(slot)
        finally:
            selector.close()
            for conn in self.connections:
                conn.sock.setblocking(True)
                conn.sock.settimeout(conn.timeout)
        return sum(slot.done for slot in slots)

    @staticmethod
    def _send_next(slot: _Slot) -> None:
        slot.tag = slot.conn.next_tag()
        slot.conn.sock.setblocking(True)
        slot.conn.sock.sendall(slot.tag + b" " + slot.script(slot.done) + CRLF)
        slot.conn.sock.setblocking(False)
