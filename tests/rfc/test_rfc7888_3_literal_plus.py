"""RFC 7888 §3 LITERAL+: a non-synchronizing literal ``{n+}`` is sent without waiting for a continuation
request, and under LITERAL+ (unlike LITERAL-, §5) its size is not capped at 4096 octets; synchronizing
literals keep their ``+`` continuation (RFC 9051 §4.3)."""

from __future__ import annotations

import re

from tests.conftest import RunningServer
from tests.support.maildirs import read_maildir_state

LITERAL_MINUS_CAP = 4096  # RFC 7888 §5


async def test_rfc_example_create_with_non_synchronizing_literal(imap_server: RunningServer) -> None:
    """§3: ``A001 LOGIN {11+}`` / ``FRED FOOBAR {7+}`` / ``fat man`` -- no ``+`` from the server."""
    c = await imap_server.connect()
    user, password = imap_server.user.encode(), imap_server.password.encode()
    await c.send_raw(b"A001 LOGIN {%d+}\r\n%s {%d+}\r\n%s\r\n" % (len(user), user, len(password), password))
    lines = await c.read_until_tagged("A001")
    assert len(lines) == 1 and re.fullmatch(rb"A001 OK \[CAPABILITY [^\]]+\] Logged in\.\r\n", lines[0]), (
        lines
    )
    await c.send_raw(b"A002 CREATE {7+}\r\nfat man\r\n")
    assert await c.read_until_tagged("A002") == [b"A002 OK CREATE completed.\r\n"]
    assert await c.cmd('A003 LIST "" "fat man"') == [
        b'* LIST (\\HasNoChildren) "." "fat man"\r\n',
        b"A003 OK LIST completed.\r\n",
    ]


async def test_append_larger_than_the_literal_minus_cap(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    message = (
        b"Message-ID: <big@example.org>\r\nSubject: big\r\n\r\n" + b"x" * (2 * LITERAL_MINUS_CAP) + b"\r\n"
    )
    await c.send_raw(b"a1 APPEND INBOX {%d+}\r\n%s\r\n" % (len(message), message))
    lines = await c.read_until_tagged("a1")
    assert len(lines) == 1 and re.fullmatch(rb"a1 OK \[APPENDUID \d+ 4\] APPEND completed\.\r\n", lines[0])
    await c.cmd("a2 SELECT INBOX")
    assert await c.cmd("a3 FETCH 4 (RFC822.SIZE)") == [
        b"* 4 FETCH (RFC822.SIZE %d)\r\n" % len(message),
        b"a3 OK FETCH completed.\r\n",
    ]
    assert "<big@example.org>" in read_maildir_state(imap_server.maildir)["INBOX"]


async def test_search_string_as_large_non_synchronizing_literal(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    await c.cmd("a1 SELECT INBOX")
    needle = b"y" * (LITERAL_MINUS_CAP + 10)
    await c.send_raw(b"a2 SEARCH BODY {%d+}\r\n%s\r\n" % (len(needle), needle))
    assert await c.read_until_tagged("a2") == [b"* SEARCH\r\n", b"a2 OK SEARCH completed.\r\n"]


async def test_mixed_synchronizing_and_non_synchronizing_literals(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    lines = await c.cmd(b"a1 CREATE {3}\r\nabc")
    assert lines == [b"+ Ready\r\n", b"a1 OK CREATE completed.\r\n"]
    lines = await c.cmd(b"a2 RENAME {3+}\r\nabc {3}\r\nxyz")
    assert lines == [b"+ Ready\r\n", b"a2 OK RENAME completed.\r\n"]
    assert await c.cmd('a3 LIST "" xyz') == [
        b'* LIST (\\HasNoChildren) "." xyz\r\n',
        b"a3 OK LIST completed.\r\n",
    ]
