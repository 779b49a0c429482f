"""RFC 4978 COMPRESS=DEFLATE, with a client that compresses too: §3 ``COMPRESS DEFLATE`` / ``OK`` and from
the next octet both directions are raw DEFLATE (RFC 1951, no zlib header); §6 the server flushes after each
response so the client can decode every response as soon as it arrives; the client may cut its compressed
stream anywhere and flush as it likes (here: sync and full flushes, and output sent one octet at a
time); a large FETCH crosses many output blocks; §3 a second COMPRESS is ``NO [COMPRESSIONACTIVE]``.

The client side here is the test's own small zlib wrapper (not maildird's transport), so the two ends are
independent implementations.
"""

from __future__ import annotations

import zlib

import pytest
import trio

from tests.conftest import RunningServer
from tests.support.rawclient import RawClient

BIG_BODY_LINES = 20000  # ~1.2 MB message, many DEFLATE blocks on the way out


class ClientDeflate(trio.abc.Stream):
    """A compressing client stream: raw DEFLATE both ways (wbits -15, RFC 4978 §3)."""

    def __init__(
        self, inner: trio.abc.Stream, *, flush: int = zlib.Z_SYNC_FLUSH, octet_at_a_time: bool = False
    ):
        self.inner = inner
        self.flush_mode = flush
        self.octet_at_a_time = octet_at_a_time
        self.compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        self.decompressor = zlib.decompressobj(-15)
        self.received_compressed = 0

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        out = self.compressor.compress(bytes(data)) + self.compressor.flush(self.flush_mode)
        if self.octet_at_a_time:
            for i in range(len(out)):
                await self.inner.send_all(out[i : i + 1])
        else:
            await self.inner.send_all(out)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        while True:
            data = await self.inner.receive_some(max_bytes)
            if not data:
                return b""
            self.received_compressed += len(data)
            plain = self.decompressor.decompress(data)
            if plain:
                return plain

    async def send_eof(self) -> None:  # pragma: no cover - not used
        raise NotImplementedError

    async def aclose(self) -> None:
        await self.inner.aclose()


async def start_compression(c: RawClient, **options: object) -> ClientDeflate:
    assert await c.cmd("z1 COMPRESS DEFLATE") == [b"z1 OK DEFLATE active.\r\n"]
    stream = ClientDeflate(c.stream, **options)  # type: ignore[arg-type]
    c.stream = stream
    return stream


@pytest.mark.parametrize(
    "options",
    [{}, {"flush": zlib.Z_FULL_FLUSH}, {"octet_at_a_time": True}],
    ids=["sync-flush", "full-flush", "octet-at-a-time"],
)
async def test_session_after_compress(imap_server: RunningServer, options: dict[str, object]) -> None:
    c = await imap_server.login()
    stream = await start_compression(c, **options)
    assert await c.cmd("a1 NOOP") == [b"a1 OK NOOP completed.\r\n"]
    lines = await c.cmd("a2 SELECT INBOX")
    assert lines[-1] == b"a2 OK [READ-WRITE] SELECT completed.\r\n"
    assert await c.cmd("a3 FETCH 1:3 (FLAGS)") == [
        b"* 1 FETCH (FLAGS (\\Seen))\r\n",
        b"* 2 FETCH (FLAGS ())\r\n",
        b"* 3 FETCH (FLAGS (\\Flagged \\Seen))\r\n",
        b"a3 OK FETCH completed.\r\n",
    ]
    # A literal inside the compressed stream (synchronizing: the "+" comes back compressed too).
    message = b"Message-ID: <z@example.org>\r\nSubject: compressed\r\n\r\nhello\r\n"
    lines = await c.cmd(b"a4 APPEND INBOX {%d}\r\n%s" % (len(message), message))
    assert lines[0] == b"+ Ready\r\n" and lines[-1].startswith(b"a4 OK [APPENDUID "), lines
    assert stream.received_compressed > 0


async def test_large_response_across_many_flushes(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    body = b"".join(b"line %06d of a long compressed message\r\n" % i for i in range(BIG_BODY_LINES))
    message = b"Message-ID: <big@example.org>\r\nSubject: big\r\n\r\n" + body
    await c.cmd(b"a1 APPEND INBOX {%d}\r\n%s" % (len(message), message))
    stream = await start_compression(c)
    await c.cmd("a2 EXAMINE INBOX")
    lines = await c.cmd("a3 FETCH 4 (BODY.PEEK[TEXT])")
    assert lines == [
        b"* 4 FETCH (BODY[TEXT] {%d}\r\n%s)\r\n" % (len(body), body),
        b"a3 OK FETCH completed.\r\n",
    ]
    assert stream.received_compressed < len(body) // 4  # it really was compressed


async def test_idle_pushes_arrive_compressed(imap_server: RunningServer) -> None:
    """Responses pushed while idling are flushed at once too (§6), not held in the compressor."""
    c = await imap_server.login()
    await start_compression(c)
    await c.cmd("a1 SELECT INBOX")
    await c.send_raw(b"a2 IDLE\r\n")
    assert await c.read_line() == b"+ idling\r\n"
    other = await imap_server.login()
    await other.cmd("b1 SELECT INBOX")
    await other.cmd("b2 STORE 2 +FLAGS.SILENT (\\Flagged)")
    assert await c.read_line() == b"* 2 FETCH (FLAGS (\\Flagged))\r\n"
    await c.send_raw(b"DONE\r\n")
    assert await c.read_until_tagged("a2") == [b"a2 OK IDLE terminated.\r\n"]


async def test_second_compress_is_refused(imap_server: RunningServer) -> None:
    """§3 lists "BAD ... COMPRESS already active" and keeps "NO [COMPRESSIONACTIVE]" for compression by
    another layer; Dovecot answers the repeated command with NO [COMPRESSIONACTIVE]. Either way compression
    is not started twice and the (single) compressed stream goes on."""
    c = await imap_server.login()
    await start_compression(c)
    lines = await c.cmd("a1 COMPRESS DEFLATE")
    assert len(lines) == 1 and (
        lines[0] == b"a1 NO [COMPRESSIONACTIVE] Compression is already active.\r\n"
        or lines[0].startswith(b"a1 BAD ")
    ), lines
    assert await c.cmd("a2 NOOP") == [b"a2 OK NOOP completed.\r\n"]


async def test_compress_before_login_is_bad(imap_server: RunningServer) -> None:
    """§5: ``command-auth =/ compress`` -- valid in the authenticated and selected states only."""
    c = await imap_server.connect()
    assert await c.cmd("a1 COMPRESS DEFLATE") == [b"a1 BAD [CLIENTBUG] COMPRESS not allowed now.\r\n"]
    assert await c.cmd("a2 NOOP") == [b"a2 OK NOOP completed.\r\n"]


async def test_unknown_mechanism_is_refused(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    lines = await c.cmd("a1 COMPRESS X-LZ4")
    assert len(lines) == 1 and lines[0].split()[1] in (b"NO", b"BAD"), lines
    assert await c.cmd("a2 NOOP") == [b"a2 OK NOOP completed.\r\n"]
