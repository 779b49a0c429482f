"""``DeflateStream.receive_some`` is a checkpoint even when the octets are already here (Trio's rule
for streams): the connection loop counts one checkpoint per read, so a client pipelining compressed
commands that inflate to megabytes cannot keep the other connections waiting."""

from __future__ import annotations

import zlib

import trio
import trio.testing

from maildird.transports.compress import MAX_CHUNK, DeflateStream


async def test_buffered_octets_still_checkpoint_and_survive_a_cancellation() -> None:
    server_side, _client_side = trio.testing.memory_stream_pair()
    deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
    commands = b"a1 NOOP\r\n" * (3 * MAX_CHUNK // 9)  # inflates to three reads' worth
    wire = deflate.compress(commands) + deflate.flush(zlib.Z_SYNC_FLUSH)
    stream = DeflateStream(server_side, initial=wire)  # all of it read already (``initial``)
    got = b""
    for _ in range(3):
        with trio.CancelScope() as scope:
            scope.cancel()
            got += await stream.receive_some()
        assert scope.cancelled_caught  # a checkpoint, taken before anything was inflated
        got += await stream.receive_some()
    while len(got) < len(commands):
        got += await stream.receive_some()
    assert got == commands


async def test_every_read_of_buffered_octets_is_a_checkpoint() -> None:
    server_side, _client_side = trio.testing.memory_stream_pair()
    deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
    wire = deflate.compress(b"a1 NOOP\r\n" * (2 * MAX_CHUNK // 9)) + deflate.flush(zlib.Z_SYNC_FLUSH)
    stream = DeflateStream(server_side, initial=wire)
    for _ in range(2):  # no inner read at all: the octets are buffered (``initial``, then pending)
        with trio.testing.assert_checkpoints():
            assert await stream.receive_some()
