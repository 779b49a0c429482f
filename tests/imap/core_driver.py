"""A scripted, synchronous driver for ServerConnection (the tests' stand-in for connection.py).

It answers every event the way a simple server would, records events and output, and checks the
core's promises on every step: bounded work per input byte and bounded memory.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable

from maildird.imap import commands as c
from maildird.imap.events import (
    NEED_DATA,
    AuthResponse,
    CommandReceived,
    ConnectionClosed,
    IdleDone,
    LiteralRequest,
    ProtocolViolation,
    Rejected,
    TooManyBadCommands,
)
from maildird.imap.responses import Continuation, Status, Tagged
from maildird.imap.session import Limits, ServerConnection

SMALL = Limits(
    max_line=64,
    max_literal=16,
    max_command=128,
    max_append=64,
    literal_minus=False,
    max_bad_commands=5,
    max_nonsync_literal=8,
)

MAX_CALLS_PER_BYTE = 4
"""next_event calls allowed per input byte (plus a constant per feed): no busy loops."""


def memory_bound(limits: Limits) -> int:
    """The most a connection may hold after NEED_DATA: a partial line plus the largest command."""
    return limits.max_line + 1 + limits.max_command + limits.max_append


class Driver:
    """Feeds bytes, answers events; ``log`` holds events and ``out`` the bytes sent."""

    def __init__(
        self,
        conn: ServerConnection | None = None,
        *,
        limits: Limits = SMALL,
        accept: Callable[[LiteralRequest], bool] = lambda _: True,
        tagged_status: Callable[[c.Command], str] | None = None,
    ) -> None:
        self.conn = conn if conn is not None else ServerConnection(limits)
        self.accept = accept
        self.tagged_status = tagged_status or _default_status
        self.log: list[object] = []
        self.out = bytearray()
        self.closed = False
        self.max_held = 0
        self.calls = 0

    def feed(self, data: bytes) -> None:
        if self.closed:
            return
        self.conn.receive_data(data)
        self.pump(len(data))

    def feed_all(self, chunks: Iterable[bytes], *, eof: bool = True) -> Driver:
        for chunk in chunks:
            self.feed(chunk)
        if eof:
            self.feed(b"")
        return self

    def pump(self, fed: int = 0) -> None:
        calls = 0
        conn = self.conn
        while not self.closed:
            calls += 1
            assert calls <= MAX_CALLS_PER_BYTE * fed + 8, "next_event loops without consuming input"
            ev = conn.next_event()
            if ev is NEED_DATA:
                held = conn.buffered
                self.max_held = max(self.max_held, held)
                assert held <= memory_bound(conn.limits), held
                break
            self.log.append(ev)
            self._answer(ev)
        self.calls += calls

    def _answer(self, ev: object) -> None:
        conn = self.conn
        if isinstance(ev, CommandReceived):
            cmd = ev.command
            if isinstance(cmd, c.Idle):
                self.out += conn.send(Continuation("idling"))
            elif isinstance(cmd, c.Authenticate) and cmd.initial_response is None:
                self.out += conn.send(Continuation(data=b""))
            elif isinstance(cmd, c.Logout):
                self.out += conn.send(Status("BYE", "bye"))
                self.out += conn.send(Tagged(cmd.tag, "OK", "LOGOUT completed"))
            else:
                self.out += conn.send(Tagged(cmd.tag, self.tagged_status(cmd), "done"))  # type: ignore[arg-type]
        elif isinstance(ev, LiteralRequest):
            if self.accept(ev):
                self.out += conn.accept_literal()
            else:
                self.out += conn.reject_literal(Tagged(ev.tag, "NO", "refused"))
        elif isinstance(ev, Rejected):
            self.out += conn.send(ev.response)
        elif isinstance(ev, IdleDone | AuthResponse):
            cmd = conn.in_flight
            assert cmd is not None
            status = "OK" if isinstance(ev, IdleDone) or ev.data == b"\0u\0p" else "NO"
            self.out += conn.send(Tagged(cmd.tag, status, "done"))  # type: ignore[arg-type]
        elif isinstance(ev, TooManyBadCommands):
            self.out += conn.send(ev.response)
            self.closed = True
        elif isinstance(ev, ProtocolViolation | ConnectionClosed):
            self.closed = True
        else:  # pragma: no cover
            raise AssertionError(f"unknown event {ev!r}")


def _default_status(cmd: c.Command) -> str:
    # STARTTLS and COMPRESS are refused so that the byte stream stays plain IMAP (split invariance).
    return "NO" if isinstance(cmd, c.StartTLS | c.Compress) else "OK"


def run(data: bytes | Iterable[bytes], **kwargs: object) -> Driver:
    """Play ``data`` as a conforming client sends it (``client_packets``), or exactly these chunks."""
    chunks = client_packets(data) if isinstance(data, bytes) else list(data)
    return Driver(**kwargs).feed_all(chunks)  # type: ignore[arg-type]


_SYNC_ANNOUNCEMENT = re.compile(rb"\{[0-9]+\}\r?\n")


def sync_points(data: bytes) -> list[int]:
    """Offsets just after each synchronizing literal announcement."""
    return [m.end() for m in _SYNC_ANNOUNCEMENT.finditer(data)]


def client_packets(data: bytes) -> list[bytes]:
    """``data`` cut where a conforming client stops to wait for ``+`` (RFC 9051 §4.3)."""
    return split_at(data, sync_points(data))


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def split_at(data: bytes, points: Iterable[int]) -> list[bytes]:
    cuts = sorted({p for p in points if 0 < p < len(data)})
    edges = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]
