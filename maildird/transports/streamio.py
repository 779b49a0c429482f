"""One connection's reads and writes, with a fast path for plain TCP.

Theory of operation
-------------------
A lockstep IMAP client (one command in flight) costs the server one read and one write per
command, and on loopback the two system calls are cheap; Trio's stream layer around them is not
(``SocketStream.send_all`` with its conflict detector, error-translating context manager and
memoryview slicing, a ``fail_after`` scope per write, a ``Lock`` that checkpoints, a checkpoint
after every successful socket call). For a plain ``trio.SocketStream`` this class therefore tries
the system call first, synchronously, on the socket's descriptor (Trio keeps it non-blocking):

- ``send_all``: ``os.write`` of the whole buffer. Only when the kernel takes part of it (a full
  socket buffer: a large FETCH to a slow reader) does the rest go through the Trio stream, under
  the output timeout and the send lock. Every other stream (TLS, DEFLATE, WebSocket) always takes
  that path. The two halves are public (``send_nowait``, ``send_rest``) so that the connection's
  reply to every command needs no coroutine of its own when the first half writes everything.
- ``receive_nowait``: ``os.read`` of what has already arrived, or None when nothing has (the caller
  then waits with ``receive_some`` under its autologout timer, which waits for the descriptor to
  become readable and reads).

Writes from two tasks (the IDLE reader's tagged reply and a push) stay whole: a synchronous write
cannot be interrupted by another task, and a write that finds the lock held (another task is in
the slow path) waits for it, so octets never interleave.

Skipping Trio's checkpoints is only safe if the caller still checkpoints once per command: the
connection loop does (``receive_nowait`` returning data is followed by ``trio.lowlevel.checkpoint``),
so a client pipelining thousands of commands cannot starve the other connections or escape
cancellation.

The descriptor is looked up on every call (``-1`` once the socket is closed), never cached: a
cached number could by then belong to another client's socket.

Errors: a failed write raises ``trio.BrokenResourceError`` (or ``ClosedResourceError`` /
``TooSlowError`` from the slow path), a failed read ``trio.BrokenResourceError``, as the Trio
stream would.
"""

from __future__ import annotations

import math
import os

import trio

__all__ = ["RECEIVE_SIZE", "StreamIO"]

RECEIVE_SIZE = 65536
"""Octets asked of the stream per read; the IMAP core bounds what it buffers, not this."""


class StreamIO:
    """Reads and writes on ``stream`` (see the module docstring). Replace ``stream`` freely (after
    STARTTLS or COMPRESS): the fast path follows the attribute."""

    __slots__ = ("_lock", "_socket", "_stream", "direct", "output_timeout")

    def __init__(self, stream: trio.abc.Stream, output_timeout: float = math.inf) -> None:
        self.stream = stream
        self.output_timeout = output_timeout
        self._lock = trio.Lock()

    @property
    def stream(self) -> trio.abc.Stream:
        return self._stream

    @stream.setter
    def stream(self, stream: trio.abc.Stream) -> None:
        self._stream = stream
        # Exactly a plain SocketStream: a subclass or wrapper may add framing of its own.
        self._socket = stream.socket if type(stream) is trio.SocketStream else None
        self.direct = self._socket is not None  # reads and writes go to the socket first

    def _fd(self) -> int:
        """The socket's descriptor when the fast path applies, else -1 (also once it is closed)."""
        sock = self._socket
        return -1 if sock is None else sock.fileno()

    def send_nowait(self, data: bytes) -> int:
        """The fast path of ``send_all`` alone: the octets of ``data`` the socket took at once (all
        of them, nearly always), 0 when the fast path does not apply. ``send_rest`` writes the
        rest. Never blocks and never checkpoints."""
        if self._lock.locked():  # another task's write is on the slow path: queue behind it
            return 0
        sock = self._socket
        fd = -1 if sock is None else sock.fileno()
        if fd < 0:
            return 0
        try:
            return os.write(fd, data)
        except BlockingIOError:
            return 0
        except OSError as exc:
            raise trio.BrokenResourceError(f"send failed: {exc!r}") from exc

    async def send_rest(self, data: bytes, sent: int) -> None:
        """Write ``data`` from offset ``sent`` on through the Trio stream, under the output timeout
        and the send lock (the slow path of ``send_all``)."""
        async with self._lock:
            with trio.fail_after(self.output_timeout):
                await self.stream.send_all(memoryview(data)[sent:] if sent else data)

    async def send_all(self, data: bytes) -> None:
        """Write all of ``data`` (see the module docstring for the two paths)."""
        sent = self.send_nowait(data)
        if sent != len(data):
            await self.send_rest(data, sent)

    def receive_nowait(self) -> bytes | None:
        """The octets already received (``b""`` at end of input), or None when none have arrived
        or the stream has no fast path. Never blocks and never checkpoints."""
        sock = self._socket
        fd = -1 if sock is None else sock.fileno()
        if fd < 0:
            return None
        try:
            return os.read(fd, RECEIVE_SIZE)
        except BlockingIOError:
            return None
        except OSError as exc:
            raise trio.BrokenResourceError(f"receive failed: {exc!r}") from exc

    async def receive_some(self) -> bytes:
        """Wait for octets (``b""`` at end of input). On plain TCP: wait until the socket is
        readable, then read (``receive_nowait`` has just found it empty, so no read comes first)."""
        fd = self._fd()
        if fd < 0:
            return bytes(await self.stream.receive_some(RECEIVE_SIZE))
        while True:
            await trio.lowlevel.wait_readable(fd)
            data = self.receive_nowait()
            if data is not None:
                return data
