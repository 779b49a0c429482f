"""A recording TCP relay on 127.0.0.1: what Thunderbird and maildird really said, with timestamps.

Thunderbird's own IMAP log shows lines when its parser consumes them, not when they arrived; when the
two sides disagree about a conversation, this relay's record is the ground truth. It forwards bytes
unchanged between a client and ``target_port`` and appends ``(time, connection, direction, bytes)`` to
``records``. Only plain connections are useful here (TLS bytes are opaque).
"""

from __future__ import annotations

import contextlib
import itertools
import re
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import partial

import trio

LOOPBACK = "127.0.0.1"
RECEIVE_CHUNK = 65536
_COMPRESS = re.compile(rb"^(\S+) COMPRESS DEFLATE\r\n", re.IGNORECASE | re.MULTILINE)


@dataclass
class Wiretap:
    """The relay's port and everything it saw."""

    port: int = 0
    records: list[tuple[float, int, str, bytes]] = field(default_factory=list)

    def transcript(self, connection: int | None = None) -> str:
        """One line per chunk: ``+12.345 #2 C: ...`` (C = client to server, S = server to client).

        After ``COMPRESS DEFLATE`` and its tagged OK (RFC 4978 §3) both directions are raw deflate
        streams; they are shown inflated, marked ``C~``/``S~``.
        """
        if not self.records:
            return "(nothing recorded)"
        start = self.records[0][0]
        compress_tag: dict[int, bytes] = {}
        inflaters: dict[tuple[int, str], zlib._Decompress] = {}
        lines = []
        for when, conn, direction, data in self.records:
            shown, mark = data, ""
            inflater = inflaters.get((conn, direction))
            if inflater is not None and data != b"<EOF>":
                shown, mark = inflater.decompress(data), "~"
            elif direction == "C" and (m := _COMPRESS.search(data)):
                compress_tag[conn] = m.group(1)
            elif direction == "S" and conn in compress_tag and data.startswith(compress_tag[conn] + b" OK"):
                inflaters[(conn, "C")] = zlib.decompressobj(-zlib.MAX_WBITS)
                inflaters[(conn, "S")] = zlib.decompressobj(-zlib.MAX_WBITS)
            if connection is None or conn == connection:
                lines.append(f"+{when - start:8.3f} #{conn} {direction}{mark}: {shown!r}")
        return "\n".join(lines)


async def _pump(
    src: trio.SocketStream, dst: trio.SocketStream, tap: Wiretap, conn: int, direction: str
) -> None:
    try:
        while data := await src.receive_some(RECEIVE_CHUNK):
            tap.records.append((trio.current_time(), conn, direction, data))
            await dst.send_all(data)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    tap.records.append((trio.current_time(), conn, direction, b"<EOF>"))
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError):
        await dst.send_eof()


async def _relay(
    tap: Wiretap, target_port: int, counter: itertools.count[int], client: trio.SocketStream
) -> None:
    conn = next(counter)
    async with client:
        server = await trio.open_tcp_stream(LOOPBACK, target_port)
        async with server, trio.open_nursery() as nursery:
            nursery.start_soon(_pump, client, server, tap, conn, "C")
            nursery.start_soon(_pump, server, client, tap, conn, "S")


@contextlib.asynccontextmanager
async def wiretap(target_port: int) -> AsyncIterator[Wiretap]:
    """Listen on 127.0.0.1 port 0 and relay every connection to ``target_port`` while recording it."""
    tap = Wiretap()
    counter = itertools.count(1)
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            partial(trio.serve_tcp, partial(_relay, tap, target_port, counter), 0, host=LOOPBACK)
        )
        tap.port = listeners[0].socket.getsockname()[1]
        yield tap
        nursery.cancel_scope.cancel()
