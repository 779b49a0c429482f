"""Hostile review: one FETCH must not hold many copies of a big message.

``MAX_SECTIONS`` (64) bounds the number of BODY[...] items, not their size: 64 distinct partials of
``BODY.PEEK[]`` (``<0.N>``, ``<1.N>``, ...) each copy nearly the whole message into the response,
and the response is then serialized and joined whole (two more copies). With a 50 MiB message
(APPENDLIMIT) one command made the server allocate several GiB. The server runs in this process,
so ``tracemalloc`` sees its allocations; the client below keeps only the last octets it reads.
"""

from __future__ import annotations

import tracemalloc

import pytest
import trio

LINE = "y" * 78 + "\n"
SIZE = 1024 * 1024  # about the message size; the sections ask for all of it from 64 origins
BODY = LINE * (SIZE // len(LINE))
SECTIONS = 64
# A server that streams the sections, or refuses the command, stays far below this; one that
# builds the response whole holds SECTIONS copies (and more while serializing).
PEAK_LIMIT = 16 * SIZE


@pytest.mark.maildir({"INBOX": [{"id": "<big@example.org>", "subject": "big", "body": BODY}]})
async def test_many_whole_message_sections_do_not_multiply_memory(imap_server) -> None:  # type: ignore[no-untyped-def]
    client = await imap_server.login()
    assert (await client.cmd("f0 SELECT INBOX"))[-1].startswith(b"f0 OK")
    items = " ".join(f"BODY.PEEK[]<{i}.{SIZE}>" for i in range(SECTIONS))
    tracemalloc.start()
    try:
        await client.send_raw(f"f1 FETCH 1 ({items})\r\n".encode())
        tail = b""
        with trio.fail_after(60):  # hang guard only
            while b"\r\nf1 " not in b"\r\n" + tail:  # the tagged reply may come first (refused at once)
                data = await client.stream.receive_some(65536)
                assert data, tail
                tail = (tail + data)[-4096:]
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    framed = b"\r\n" + tail
    status = framed[framed.index(b"\r\nf1 ") + 2 :]
    assert status.startswith((b"f1 OK", b"f1 NO [LIMIT]", b"f1 BAD [LIMIT]")), status
    assert peak < PEAK_LIMIT, f"peak {peak / SIZE:.0f}x the message size"
    await client.aclose()
