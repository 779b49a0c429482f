"""COMPRESS=DEFLATE (RFC 4978) as a ``trio.abc.Stream`` wrapper.

Theory of operation: after the tagged OK of ``COMPRESS DEFLATE`` both directions carry a raw
DEFLATE stream (RFC 1951, no zlib or gzip header: ``wbits = -15``, RFC 4978 §3). The compressor is
one long stream for the whole connection; every ``send_all`` ends with a ``Z_SYNC_FLUSH`` so the
client can decode everything we have sent so far (RFC 4978 §6: "the server MUST flush ... after each
response"). Partial flushes are what mox found hard: a flush must never end the stream, and the
decompressor must accept input cut anywhere, including inside a flush marker. ``zlib``'s
decompressobj handles arbitrary cuts; ``unconsumed_tail`` is used so a small ``max_length`` bounds
the memory one receive can create (a "zip bomb" can't make us inflate more than
``MAX_CHUNK`` octets per ``receive_some``).

The compressed stream lasts as long as the connection (RFC 4978 §3: "all subsequent data"), so a
client that *ends* it (a final block, ``Z_FINISH``) has nothing more to say in IMAP: the end of the
DEFLATE stream is the end of input. zlib would otherwise keep every later octet in ``unused_data``,
without bound, while the session waited for a command that can never come.
"""

from __future__ import annotations

import zlib

import trio

MAX_CHUNK = 64 * 1024
"""Most octets one ``receive_some`` inflates; the rest waits in the decompressor's unconsumed tail."""

COMPRESSION_LEVEL = 6
"""zlib's default trade-off; IMAP text compresses well at any level."""


class DeflateStream(trio.abc.Stream):
    """Wrap ``inner`` so that everything sent and received is DEFLATE-compressed."""

    def __init__(self, inner: trio.abc.Stream, initial: bytes = b"") -> None:
        """``initial`` holds compressed octets the client sent right behind ``COMPRESS`` that were
        already read from ``inner`` (the core hands them back with ``take_unprocessed``)."""
        self.inner = inner
        self._initial = initial
        self._compress = zlib.compressobj(COMPRESSION_LEVEL, zlib.DEFLATED, -15)
        self._decompress = zlib.decompressobj(-15)
        self._pending = b""
        self._eof = False

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        out = self._compress.compress(bytes(data)) + self._compress.flush(zlib.Z_SYNC_FLUSH)
        await self.inner.send_all(out)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        limit = MAX_CHUNK if max_bytes is None else max(1, min(max_bytes, MAX_CHUNK))
        if self._pending or self._initial or self._eof:
            # Octets already here: still a checkpoint (Trio's rule for ``receive_some``), taken
            # before any is inflated so a cancellation loses none. The connection loop counts on it:
            # a client pipelining compressed commands that inflate to megabytes must not keep the
            # other connections waiting.
            await trio.lowlevel.checkpoint()
        while True:
            if self._pending:
                data = self._inflate(self._pending, limit)
                if data:
                    return data
            if self._eof:
                return b""
            if self._initial:
                chunk, self._initial = self._initial, b""
            else:
                chunk = bytes(await self.inner.receive_some())
            if not chunk:
                self._eof = True
                continue
            data = self._inflate(chunk, limit)
            if data:
                return data

    def _inflate(self, data: bytes, limit: int) -> bytes:
        try:
            out = self._decompress.decompress(data, limit)
        except zlib.error as exc:
            raise trio.BrokenResourceError(f"bad DEFLATE data from the client: {exc}") from exc
        self._pending = self._decompress.unconsumed_tail
        if self._decompress.eof:
            # The client ended its DEFLATE stream: what follows is not IMAP (module docstring).
            self._pending = b""
            self._eof = True
            self._decompress = zlib.decompressobj(-15)  # drop unused_data; never fed again
        return out

    async def aclose(self) -> None:
        await self.inner.aclose()
