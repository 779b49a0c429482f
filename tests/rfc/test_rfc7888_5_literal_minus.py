"""RFC 7888 §5 LITERAL-: "LITERAL- is the same as LITERAL+, but it disallows the alternate form of literals
unless they are 4096 bytes or less". capabilities.md asks for LITERAL- as the configurable alternative
(``[limits] literal_minus``, cap ``max_nonsync_literal``); under it CAPABILITY says LITERAL- (not LITERAL+),
a ``{4096+}`` literal is taken without a continuation, and a larger non-synchronizing one is read and
the command rejected (§4 choice 1) with a tagged BAD -- for APPEND "the tagged BAD response MUST contain
the TOOBIG response code" -- while the connection stays in step (maildird.imap.framing implements this).
§5: "IMAP servers MUST NOT advertise both of these capabilities at the same time"."""

from __future__ import annotations

import pytest

from tests.conftest import RunningServer

LITERAL_MINUS_CAP = 4096


@pytest.mark.server_config(literal_minus=True)
async def test_literal_minus_caps_non_synchronizing_literals(imap_server: RunningServer) -> None:
    c = await imap_server.connect()
    caps = (await c.cmd("a0 CAPABILITY"))[0].split()
    assert b"LITERAL-" in caps and b"LITERAL+" not in caps
    c = await imap_server.login()
    assert b"LITERAL-" in (await c.cmd("a1 CAPABILITY"))[0].split()
    await c.cmd("a2 SELECT INBOX")
    fits = b"y" * LITERAL_MINUS_CAP
    await c.send_raw(b"a3 SEARCH BODY {%d+}\r\n%s\r\n" % (len(fits), fits))
    assert await c.read_until_tagged("a3") == [b"* SEARCH\r\n", b"a3 OK SEARCH completed.\r\n"]
    too_big = b"y" * (LITERAL_MINUS_CAP + 1)
    await c.send_raw(b"a4 SEARCH BODY {%d+}\r\n%s\r\n" % (len(too_big), too_big))
    lines = await c.read_until_tagged("a4")
    assert len(lines) == 1 and lines[0].startswith(b"a4 BAD "), lines
    message = b"Subject: big\r\n\r\n" + too_big + b"\r\n"
    await c.send_raw(b"a5 APPEND INBOX {%d+}\r\n%s\r\n" % (len(message), message))
    lines = await c.read_until_tagged("a5")
    assert len(lines) == 1 and lines[0].startswith(b"a5 BAD [TOOBIG] "), lines
    assert await c.cmd("a6 NOOP") == [b"a6 OK NOOP completed.\r\n"]
