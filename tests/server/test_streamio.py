"""The connection's I/O fast path (maildird/transports/streamio.py) and the one-checkpoint-per-command
rule of the connection loop: pipelined commands answered in order, partial writes finished by the
slow path, a pipelining client that neither starves other tasks nor escapes the loop."""

from __future__ import annotations

import socket
from pathlib import Path

import trio

from maildird.connection import ClientConnection
from maildird.connection_state import ServerState
from maildird.imap.events import Rejected
from maildird.transports.streamio import RECEIVE_SIZE, StreamIO
from tests.conftest import RunningServer
from tests.server.test_limits import LOOPBACK, _services

PIPELINED = 400


async def _pair() -> tuple[trio.SocketStream, trio.SocketStream]:
    a, b = trio.socket.socketpair()
    return trio.SocketStream(a), trio.SocketStream(b)


async def test_large_write_is_finished_by_the_slow_path_in_order() -> None:
    # Far more than a socket buffer holds: os.write takes a part, the Trio stream the rest.
    server, client = await _pair()
    io = StreamIO(server, output_timeout=30)
    data = bytes(range(256)) * (16 * 1024)  # 4 MiB
    received = bytearray()

    async def reader() -> None:
        while len(received) < len(data):
            chunk = await client.receive_some(7000)
            assert chunk
            received.extend(chunk)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(reader)
        await io.send_all(data)
    assert bytes(received) == data


async def test_writes_from_two_tasks_never_interleave() -> None:
    # A slow-path write holds the lock; a second task's write waits for it instead of cutting in.
    server, client = await _pair()
    io = StreamIO(server, output_timeout=30)
    big = b"A" * (4 * 1024 * 1024)
    small = b"B" * 10
    received = bytearray()

    async def reader() -> None:
        while len(received) < len(big) + len(small):
            received.extend(await client.receive_some(65536))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(io.send_all, big)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(io.send_all, small)
        nursery.start_soon(reader)
    assert bytes(received) == big + small


async def test_receive_nowait_and_receive_some() -> None:
    server, client = await _pair()
    io = StreamIO(server)
    assert io.receive_nowait() is None  # nothing there yet
    await client.send_all(b"a1 NOOP\r\n")
    assert await io.receive_some() == b"a1 NOOP\r\n"
    await client.send_all(b"x")
    await trio.testing.wait_all_tasks_blocked()
    assert io.receive_nowait() == b"x"
    await client.aclose()
    assert await io.receive_some() == b""  # end of input
    await server.aclose()
    assert io.receive_nowait() is None  # closed: no descriptor, no fast path
    try:
        await io.send_all(b"late")
    except trio.ClosedResourceError:
        pass
    else:  # pragma: no cover
        raise AssertionError("a write on a closed stream must fail")


async def test_write_to_a_vanished_peer_is_a_broken_resource() -> None:
    server, client = await _pair()
    io = StreamIO(server)
    await client.aclose()
    try:
        for _ in range(100):  # the first write may still be accepted before the RST comes back
            await io.send_all(b"* OK hello\r\n" * 100)
    except trio.BrokenResourceError:
        pass
    else:  # pragma: no cover
        raise AssertionError("writes to a closed peer must fail")


async def test_pipelined_batch_is_answered_in_order(imap_server: RunningServer) -> None:
    client = await imap_server.login()
    await client.cmd("s1 SELECT INBOX")
    batch = b"".join(
        b"p%d NOOP\r\n" % i if i % 2 else b"p%d FETCH 1:3 (UID FLAGS)\r\n" % i for i in range(PIPELINED)
    )
    await client.send_raw(batch + b"last CHECK\r\n")
    tags = []
    fetches = 0
    while True:
        line = await client.read_line()
        if line.startswith(b"* "):
            fetches += b" FETCH " in line
            continue
        tags.append(line.split(b" ", 2)[:2])
        if line.startswith(b"last "):
            break
    assert tags == [[b"p%d" % i, b"OK"] for i in range(PIPELINED)] + [[b"last", b"OK"]]
    assert fetches == 3 * (PIPELINED // 2)


async def test_a_pipelining_client_checkpoints_once_per_command(imap_server: RunningServer) -> None:
    # Authenticated, nothing selected: NOOP touches no store and no lock, so without the loop's own
    # checkpoint a whole read's worth of commands would run without letting any other task in.
    client = await imap_server.login()
    passes = 0

    async def count_passes() -> None:
        nonlocal passes
        while True:
            await trio.lowlevel.checkpoint()
            passes += 1

    async with trio.open_nursery() as nursery:
        nursery.start_soon(count_passes)
        await client.send_raw(b"".join(b"n%d NOOP\r\n" % i for i in range(PIPELINED)))
        lines = await client.read_until_tagged(b"n%d" % (PIPELINED - 1))
        nursery.cancel_scope.cancel()
    assert len(lines) == PIPELINED
    assert passes >= PIPELINED // 2  # 2 without the checkpoint


async def test_a_replaced_stream_takes_the_trio_path() -> None:
    # After STARTTLS or COMPRESS the connection swaps the stream: no descriptor fast path then.
    server, client = await _pair()
    io = StreamIO(server)
    await client.send_all(b"plain")
    await trio.testing.wait_all_tasks_blocked()
    wrapped, peer = trio.testing.memory_stream_pair()
    io.stream = wrapped
    assert io.stream is wrapped
    assert io.receive_nowait() is None  # the socket's octets are not read behind the new stream
    await peer.send_all(b"y")
    assert await io.receive_some() == b"y"
    await io.send_all(b"z")
    assert await peer.receive_some() == b"z"
    io.stream = server
    assert io.receive_nowait() == b"plain"


async def test_literal_octets_already_there_checkpoint_per_read(tmp_path: Path) -> None:
    # A command whose literals are all in the socket buffer before the server reads (a client that
    # writes faster than it is read): every read finds octets waiting. Each read must still let
    # other tasks run, as Trio's own receive_some would; before, the whole command was read in one go.
    server_sock, client_sock = trio.socket.socketpair()
    client_sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    chunk = 60_000
    data = b"a1 FROB" + b"".join(b" {%d+}\r\n" % chunk + b"x" * chunk for _ in range(3)) + b"\r\n"
    assert await client_sock.send(data) == len(data)  # all of it is queued before the server reads
    conn = ClientConnection(trio.SocketStream(server_sock), _services(tmp_path), LOOPBACK, ServerState())
    passes = 0

    async def count_passes() -> None:
        nonlocal passes
        while True:
            await trio.lowlevel.checkpoint()
            passes += 1

    async with trio.open_nursery() as nursery:
        nursery.start_soon(count_passes)
        await trio.lowlevel.checkpoint()
        before = passes
        event = await conn.next_event()
        during = passes - before
        nursery.cancel_scope.cancel()
    assert isinstance(event, Rejected)  # FROB is no command; the framing was whole
    assert during >= len(data) // RECEIVE_SIZE  # one per read (3+); it was 1 for the whole command
