"""The output half of the per-client driver (``connection.ClientConnection``): buffering and writes.

Theory of operation
-------------------
Untagged responses are serialized at once and gathered in ``_outbuf`` until about ``OUTPUT_CHUNK``
octets (``_send_untagged``, ``_send_serialized``); a tagged reply goes out behind them in one write
(``send``). A write first tries the socket without a coroutine (``_push``, ``StreamIO.send_nowait``)
and awaits only for what the socket did not take (``_push_rest``). ``StreamIO`` tries a system
call first on plain TCP, Trio's stream only when the socket would block; writes from two tasks (IDLE's
reader and its push) never interleave. Sends follow h11: serialize first, then ``send_all``; a failed
send raises ``Closed`` and closes the connection. ``bye`` sends ``* BYE`` and ends the session.

``ClientConnection`` inherits these methods from ``ConnectionOutput`` unchanged (moved here for the
400-line house rule); the mixin declares the attributes it uses, which ``ClientConnection`` sets.
"""

from __future__ import annotations

import trio

from maildird.connection_state import Closed
from maildird.imap.responses import Code, Response, Status
from maildird.imap.session import ServerConnection
from maildird.transports.streamio import StreamIO

OUTPUT_CHUNK = 65536
"""Untagged output is written in chunks of about this many octets (sendall in large chunks)."""


class ConnectionOutput:
    """The output methods of ``ClientConnection`` (a mixin: the attributes are set there)."""

    io: StreamIO
    core: ServerConnection
    _outbuf: list[bytes]
    _outbuf_size: int
    bytes_out: int

    async def send(self, response: Response) -> None:
        """Send ``response`` now, after any untagged output still buffered: one write."""
        data = self._after_buffered(self.core.send(response))
        sent = self._push(data)
        if sent != len(data):
            await self._push_rest(data, sent)
        self.bytes_out += len(data)

    def _after_buffered(self, data: bytes) -> bytes:
        """``data`` behind the untagged output still buffered, in one buffer (which empties)."""
        if not self._outbuf:
            return data
        self._outbuf.append(data)
        data = b"".join(self._outbuf)
        self._outbuf.clear()
        self._outbuf_size = 0
        return data

    def _push(self, data: bytes) -> int:
        """The octets of ``data`` the socket took at once (``StreamIO.send_nowait``): a reply needs
        no coroutine of its own unless ``_push_rest`` has to finish it."""
        try:
            return self.io.send_nowait(data)
        except trio.BrokenResourceError as exc:
            raise Closed(f"send failed: {exc!r}") from exc

    async def _push_rest(self, data: bytes, sent: int) -> None:
        try:
            await self.io.send_rest(data, sent)
        except (trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError) as exc:
            raise Closed(f"send failed: {exc!r}") from exc

    async def flush(self) -> None:
        """Write the buffered untagged output (IDLE pushes it at once)."""
        if self._outbuf:
            data = b"".join(self._outbuf)
            self._outbuf.clear()
            self._outbuf_size = 0
            await self._write(data)

    async def _write(self, data: bytes) -> None:
        if not data:
            return
        try:
            await self.io.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError) as exc:
            raise Closed(f"send failed: {exc!r}") from exc
        self.bytes_out += len(data)

    async def _send_untagged(self, response: Response) -> None:
        """``Context.send``: untagged responses are gathered into writes of about ``OUTPUT_CHUNK``
        octets (a FETCH of 100,000 messages must not make 100,000 system calls); the tagged reply,
        a continuation or an IDLE push flushes them."""
        data = self.core.send(response)
        self._outbuf.append(data)
        self._outbuf_size += len(data)
        if self._outbuf_size >= OUTPUT_CHUNK:
            await self.flush()

    async def _send_serialized(self, data: bytes) -> None:
        """``Context.send_bytes``: untagged responses the handler serialized itself (a FETCH's lines),
        buffered like ``_send_untagged``'s. Untagged data implies no state change in the core."""
        self._outbuf.append(data)
        self._outbuf_size += len(data)
        if self._outbuf_size >= OUTPUT_CHUNK:
            await self.flush()

    async def bye(self, code: str | None, text: str) -> None:
        """Send ``* BYE`` (best effort) and end the session."""
        try:
            await self.send(Status("BYE", text, Code(code) if code else None))
        except Closed:
            pass
        raise Closed(text)
