"""RFC 3502 §6 MULTIAPPEND: the RFC's example (two messages, flags and date per message, one APPENDUID
range, RFC 4315 §3), and atomicity: "If the server returns NO or BAD for any message, none of the messages
are appended" -- whether the bad part is a date, a flag or a size over APPENDLIMIT. The basic cases are in
test_rfc3502_multiappend.py."""

from __future__ import annotations

import re

import pytest

from tests.conftest import RunningServer
from tests.support.maildirs import read_maildir_state

ONE = b"Message-ID: <ma-one@example.org>\r\nSubject: afternoon meeting\r\n\r\nHello Joe\r\n"
TWO = b"Message-ID: <ma-two@example.org>\r\nSubject: afternoon meeting 2\r\n\r\nHello Joe again\r\n"


def without_continuations(lines: list[bytes]) -> list[bytes]:
    return [line for line in lines if not line.startswith(b"+ ")]


async def test_rfc_example(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    command = b'A003 APPEND Sent (\\Seen) " 1-Jul-2002 22:35:00 +0000" {%d}\r\n%s (\\Seen) {%d}\r\n%s' % (
        len(ONE),
        ONE,
        len(TWO),
        TWO,
    )
    lines = without_continuations(await c.cmd(command))
    match = re.fullmatch(rb"A003 OK \[APPENDUID \d+ (\d+):(\d+)\] APPEND completed\.\r\n", lines[-1])
    assert match is not None and int(match.group(2)) == int(match.group(1)) + 1, lines
    await c.cmd("A004 EXAMINE Sent")
    lines = await c.cmd(b"A005 UID FETCH %s (INTERNALDATE)" % match.group(1))
    assert lines[0] == b'* 2 FETCH (UID %s INTERNALDATE "01-Jul-2002 22:35:00 +0000")\r\n' % match.group(1)


@pytest.mark.parametrize(
    "second",
    [
        b'(\\Seen) "99-Foo-2002 22:35:00 +0000" {%d}\r\n%s',  # invalid date-time: BAD
        b"(\\Recent) {%d}\r\n%s",  # \Recent cannot be set: BAD
    ],
)
async def test_bad_second_message_appends_nothing(imap_server: RunningServer, second: bytes) -> None:
    c = await imap_server.login()
    command = b"a1 APPEND Sent {%d}\r\n%s " % (len(ONE), ONE) + second % (len(TWO), TWO)
    lines = without_continuations(await c.cmd(command))
    assert len(lines) == 1 and lines[0].startswith(b"a1 BAD "), lines
    assert sorted(read_maildir_state(imap_server.maildir)["Sent"]) == ["<s1@example.org>"]
    assert await c.cmd("a2 NOOP") == [b"a2 OK NOOP completed.\r\n"]


@pytest.mark.server_config(max_append=1024)
async def test_too_big_second_message_appends_nothing(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    big = TWO + b"x" * 1024
    lines = without_continuations(
        await c.cmd(b"a1 APPEND Sent {%d}\r\n%s {%d}\r\n%s" % (len(ONE), ONE, len(big), big))
    )
    assert lines == [b"a1 NO [TOOBIG] Message too large\r\n"], lines
    assert sorted(read_maildir_state(imap_server.maildir)["Sent"]) == ["<s1@example.org>"]
    assert await c.cmd("a2 NOOP") == [b"a2 OK NOOP completed.\r\n"]
