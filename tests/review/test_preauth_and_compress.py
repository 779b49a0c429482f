"""Hostile review: what an unauthenticated client, or a COMPRESS stream, can make the server hold.

Each test here failed on the tree it was written against (review task, capabilities.md "Rules every
handler keeps": nothing a client sends may make the server hold unbounded memory).
"""

from __future__ import annotations

import zlib

import trio
import trio.testing

from maildird.transports.compress import DeflateStream

# Bigger than every non-APPEND literal limit (64 KiB) and far below APPENDLIMIT (50 MiB).
BIG_LITERAL = 10 * 1024 * 1024
# A hang guard for reads that must finish at once (not a performance assertion).
HANG_GUARD = 10


def _deflate() -> zlib._Compress:
    return zlib.compressobj(6, zlib.DEFLATED, -15)


async def test_compress_is_refused_before_login(imap_server) -> None:  # type: ignore[no-untyped-def]
    """RFC 4978 §5: ``command-auth =/ compress``; COMPRESS is valid only once authenticated.
    Before login it is not even advertised (handlers.any_state), yet it was accepted."""
    client = await imap_server.connect()
    lines = await client.cmd("c1 COMPRESS DEFLATE")
    assert lines == [b"c1 BAD [CLIENTBUG] COMPRESS not allowed now.\r\n"]
    # The connection is still plain text and usable.
    assert (await client.cmd("c2 NOOP"))[-1].startswith(b"c2 OK")
    await client.aclose()


async def test_unauthenticated_append_gets_no_append_sized_literal(imap_server) -> None:  # type: ignore[no-untyped-def]
    """The framer gave any command named APPEND the APPENDLIMIT budget (50 MiB) even before login,
    where APPEND is not allowed: every unauthenticated connection could make the server buffer
    50 MiB (x max_unauth_per_ip x addresses). Before login a literal gets the ordinary limit."""
    client = await imap_server.connect()
    await client.send_raw(b"p1 APPEND INBOX {%d}\r\n" % BIG_LITERAL)
    line = await client.read_line()
    assert line.startswith(b"p1 NO [TOOBIG]"), line
    assert (await client.cmd("p2 NOOP"))[-1].startswith(b"p2 OK")
    await client.aclose()


async def test_unauthenticated_nonsync_append_literal_is_swallowed_not_buffered(imap_server) -> None:  # type: ignore[no-untyped-def]
    """The same with LITERAL+ ``{n+}``: refused at the announcement, octets counted off, never held."""
    client = await imap_server.connect()
    await client.send_raw(b"p1 APPEND INBOX {%d+}\r\n" % (256 * 1024))
    await client.send_raw(b"x" * (256 * 1024) + b"\r\np2 NOOP\r\n")
    lines = await client.read_until_tagged(b"p2")
    assert lines[0].startswith(b"p1 NO [TOOBIG]"), lines
    assert lines[-1].startswith(b"p2 OK"), lines
    await client.aclose()


async def test_authenticated_append_keeps_its_large_budget(imap_server) -> None:  # type: ignore[no-untyped-def]
    """The fix must not shrink APPEND after login: a 1 MiB message is still welcome."""
    client = await imap_server.login()
    body = b"Subject: big\r\n\r\n" + b"y" * (1024 * 1024) + b"\r\n"
    lines = await client.cmd(b"a1 APPEND INBOX {%d}\r\n" % len(body) + body)
    assert lines[0] == b"+ Ready\r\n"
    assert lines[-1].startswith(b"a1 OK [APPENDUID "), lines
    await client.aclose()


async def test_deflate_stream_ends_at_the_end_of_the_client_stream() -> None:
    """A client that finishes its DEFLATE stream (Z_FINISH) and keeps sending: zlib keeps every
    later octet in ``unused_data``, so the old stream grew without bound and never reported the end.
    After the end of the compressed stream there is no more IMAP input: report EOF."""
    server_side, client_side = trio.testing.memory_stream_pair()
    stream = DeflateStream(server_side)
    deflate = _deflate()
    await client_side.send_all(deflate.compress(b"a1 NOOP\r\n") + deflate.flush(zlib.Z_FINISH))
    with trio.fail_after(HANG_GUARD):
        assert await stream.receive_some() == b"a1 NOOP\r\n"
    for _ in range(4):
        await client_side.send_all(b"\0" * 65536)
    with trio.fail_after(HANG_GUARD):
        assert await stream.receive_some() == b""
    assert len(stream._decompress.unused_data) <= 65536


async def test_finished_deflate_stream_closes_the_session(imap_server) -> None:  # type: ignore[no-untyped-def]
    """End to end: after the client's DEFLATE stream ends, the server closes the connection instead
    of reading (and keeping) whatever follows."""
    stream = await trio.open_tcp_stream(imap_server.host, imap_server.port)
    buf = b""

    async def read_until(marker: bytes) -> bytes:
        nonlocal buf
        with trio.fail_after(HANG_GUARD):
            while marker not in buf:
                data = await stream.receive_some()
                assert data, buf
                buf += data
        out, _, buf = buf.partition(marker)
        return out + marker

    await read_until(b"\r\n")
    await stream.send_all(f'a1 LOGIN {imap_server.user} "{imap_server.password}"\r\n'.encode())
    await read_until(b"a1 OK")
    await read_until(b"\r\n")
    await stream.send_all(b"a2 COMPRESS DEFLATE\r\n")
    assert (await read_until(b"\r\n")).startswith(b"a2 OK")
    deflate, inflate = _deflate(), zlib.decompressobj(-15)
    await stream.send_all(deflate.compress(b"a3 NOOP\r\n") + deflate.flush(zlib.Z_FINISH))
    plain = inflate.decompress(buf)
    with trio.fail_after(HANG_GUARD):
        while b"a3 OK" not in plain:
            plain += inflate.decompress(await stream.receive_some())
        await stream.send_all(b"\0" * 65536)
        # The server hangs up: EOF (or a reset) instead of silence.
        try:
            while await stream.receive_some():
                pass
        except trio.BrokenResourceError:
            pass
    await stream.aclose()


# Many more messages in one MULTIAPPEND (RFC 3502) than any client batches; each costs a parsed
# message object and a file, however small its literal.
TINY_MESSAGES = 3000


async def test_multiappend_with_thousands_of_tiny_messages_is_refused(imap_server) -> None:  # type: ignore[no-untyped-def]
    """The command budget counted octets only: 8 octets (`` {1+}\\r\\nx``) made a message, so one
    APPEND within max_command + max_append could carry ~6 million of them: about 1 GiB of parsed
    objects, tens of seconds of parsing on the event loop (every session stalls), then millions of
    files. A command's literals are now counted at their announcement (``Limits.max_literals``)."""
    client = await imap_server.login()
    command = b"m1 APPEND INBOX" + b" {1+}\r\nx" * TINY_MESSAGES + b"\r\n"
    await client.send_raw(command + b"m2 STATUS INBOX (MESSAGES)\r\n")
    lines = await client.read_until_tagged(b"m2")
    assert lines[0].startswith(b"m1 NO [LIMIT]"), lines[:3]
    assert lines[-2:] == [b"* STATUS INBOX (MESSAGES 3)\r\n", b"m2 OK STATUS completed.\r\n"]
    await client.aclose()


async def test_multiappend_of_a_normal_batch_still_works(imap_server) -> None:  # type: ignore[no-untyped-def]
    client = await imap_server.login()
    message = b"Subject: m\r\n\r\nbody\r\n"
    command = b"m1 APPEND INBOX" + b" {%d+}\r\n%s" % (len(message), message) * 100
    lines = await client.cmd(command)
    assert lines[-1].startswith(b"m1 OK [APPENDUID "), lines[-1]
    assert (await client.cmd("m2 STATUS INBOX (MESSAGES)"))[0] == b"* STATUS INBOX (MESSAGES 103)\r\n"
    await client.aclose()
