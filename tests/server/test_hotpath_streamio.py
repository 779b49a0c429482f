"""``StreamIO.send_nowait`` and ``send_rest``, the two halves of ``send_all`` that the connection's reply
to every command uses directly: what the socket takes at once, then the rest in order; nothing on
the fast path for a stream that is not a plain socket, or while another task's write is unfinished."""

from __future__ import annotations

import trio
import trio.testing

from maildird.transports.streamio import StreamIO
from tests.server.test_streamio import _pair


async def test_a_short_reply_is_written_whole_at_once() -> None:
    server, client = await _pair()
    io = StreamIO(server, output_timeout=30)
    assert io.send_nowait(b"a1 OK NOOP completed.\r\n") == 23
    assert await client.receive_some(100) == b"a1 OK NOOP completed.\r\n"


async def test_the_rest_of_a_partial_write_follows_in_order() -> None:
    server, client = await _pair()
    io = StreamIO(server, output_timeout=30)
    data = bytes(range(256)) * (16 * 1024)  # 4 MiB: more than the socket buffer holds
    sent = io.send_nowait(data)
    assert 0 < sent < len(data)
    received = bytearray()

    async def reader() -> None:
        while len(received) < len(data):
            received.extend(await client.receive_some(65536))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(reader)
        await io.send_rest(data, sent)
    assert bytes(received) == data


async def test_no_fast_path_for_other_streams_or_behind_a_slow_write() -> None:
    one, _two = trio.testing.memory_stream_pair()
    assert StreamIO(one).send_nowait(b"x") == 0  # not a plain socket: everything goes to send_rest
    server, client = await _pair()
    io = StreamIO(server, output_timeout=30)
    big = b"A" * (4 * 1024 * 1024)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(io.send_all, big)
        await trio.testing.wait_all_tasks_blocked()  # the big write waits in the slow path
        assert io.send_nowait(b"B") == 0  # so a reply must queue behind it, not cut in
        received = bytearray()
        while len(received) < len(big):
            received.extend(await client.receive_some(65536))
    assert bytes(received) == big
