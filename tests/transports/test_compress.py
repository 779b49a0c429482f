"""COMPRESS=DEFLATE stream wrapper (RFC 4978): correct across partial flushes and arbitrary splits."""

from __future__ import annotations

import zlib

import trio
import trio.testing

from maildird.transports.compress import MAX_CHUNK, DeflateStream


def _client() -> tuple[zlib._Compress, zlib._Decompress]:
    return zlib.compressobj(6, zlib.DEFLATED, -15), zlib.decompressobj(-15)


async def test_each_send_is_decodable_on_its_own_after_a_sync_flush() -> None:
    server_side, client_side = trio.testing.memory_stream_pair()
    stream = DeflateStream(server_side)
    _, inflate = _client()
    for line in (b"* OK first\r\n", b"* 1 EXISTS\r\n", b"a1 OK done\r\n"):
        await stream.send_all(line)
        wire = await client_side.receive_some()
        # Every send ends with a sync flush: the client can decode all of it right away.
        assert wire.endswith(b"\x00\x00\xff\xff")
        assert inflate.decompress(wire) == line


async def test_receive_survives_splits_anywhere_including_inside_flush_markers() -> None:
    server_side, client_side = trio.testing.memory_stream_pair()
    stream = DeflateStream(server_side)
    deflate, _ = _client()
    commands = [b"a1 NOOP\r\n", b"a2 SELECT INBOX\r\n", b"a3 FETCH 1:* (FLAGS)\r\n" * 50]
    wire = b"".join(deflate.compress(c) + deflate.flush(zlib.Z_SYNC_FLUSH) for c in commands)
    for i in range(0, len(wire), 3):  # three octets at a time: cuts fall inside every marker
        await client_side.send_all(wire[i : i + 3])
    await client_side.aclose()
    got = b""
    while chunk := await stream.receive_some():
        got += chunk
    assert got == b"".join(commands)


async def test_a_zip_bomb_is_inflated_at_most_max_chunk_per_read() -> None:
    server_side, client_side = trio.testing.memory_stream_pair()
    stream = DeflateStream(server_side)
    deflate, _ = _client()
    bomb = deflate.compress(b"A" * (10 * MAX_CHUNK)) + deflate.flush(zlib.Z_SYNC_FLUSH)
    assert len(bomb) < MAX_CHUNK // 10
    await client_side.send_all(bomb)
    sizes = []
    total = 0
    while total < 10 * MAX_CHUNK:
        chunk = await stream.receive_some()
        sizes.append(len(chunk))
        total += len(chunk)
    assert max(sizes) <= MAX_CHUNK
    assert total == 10 * MAX_CHUNK


async def test_garbage_is_a_broken_stream_not_a_crash() -> None:
    server_side, client_side = trio.testing.memory_stream_pair()
    stream = DeflateStream(server_side)
    await client_side.send_all(b"\xff\xff\xff\xff not deflate")
    try:
        await stream.receive_some()
    except trio.BrokenResourceError as exc:
        assert "DEFLATE" in str(exc)
    else:
        raise AssertionError("garbage was accepted")


async def test_compress_end_to_end_with_commands_pipelined_behind_it(imap_server) -> None:  # type: ignore[no-untyped-def]
    """RFC 4978: octets right behind COMPRESS DEFLATE are compressed; a real session continues."""
    stream = await trio.open_tcp_stream(imap_server.host, imap_server.port)
    deflate, inflate = _client()
    buf = b""

    async def read_plain_until(marker: bytes) -> bytes:
        nonlocal buf
        while marker not in buf:
            buf += await stream.receive_some()
        out, _, buf = buf.partition(marker)
        return out + marker

    await read_plain_until(b"\r\n")  # greeting
    await stream.send_all(f'a1 LOGIN {imap_server.user} "{imap_server.password}"\r\n'.encode())
    assert b"a1 OK" in await read_plain_until(b"a1 OK")
    await read_plain_until(b"\r\n")
    pipelined = deflate.compress(b"a3 SELECT INBOX\r\n") + deflate.flush(zlib.Z_SYNC_FLUSH)
    await stream.send_all(b"a2 COMPRESS DEFLATE\r\n" + pipelined)
    assert (await read_plain_until(b"\r\n")).startswith(b"a2 OK")
    plain = inflate.decompress(buf)
    while b"a3 OK" not in plain:
        plain += inflate.decompress(await stream.receive_some())
    assert b"* 3 EXISTS\r\n" in plain
    await stream.send_all(deflate.compress(b"a4 LOGOUT\r\n") + deflate.flush(zlib.Z_SYNC_FLUSH))
    while b"a4 OK" not in plain:
        plain += inflate.decompress(await stream.receive_some())
    await stream.aclose()
