"""RFC 3502 MULTIAPPEND and RFC 4315 APPENDUID over a real server and Maildir."""

from __future__ import annotations

import re

from tests.conftest import RunningServer
from tests.support.maildirs import read_maildir_state


def strip(lines: list[bytes]) -> list[bytes]:
    """The responses without CRLF and without the continuation requests for the literals."""
    return [line.removesuffix(b"\r\n") for line in lines if not line.startswith(b"+ ")]


async def test_multiappend_stores_all_with_consecutive_uids(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    one = b"Message-ID: <ma1@x>\r\nSubject: one\r\n\r\nfirst\r\n"
    two = b"Message-ID: <ma2@x>\r\nSubject: two\r\n\r\nsecond\r\n"
    lines = strip(
        await c.cmd(
            b"a1 APPEND Sent (\\Seen) {%d}\r\n%s (\\Draft) {%d}\r\n%s" % (len(one), one, len(two), two)
        )
    )
    m = re.fullmatch(rb"a1 OK \[APPENDUID (\d+) (\d+):(\d+)\] APPEND completed\.", lines[-1])
    assert m is not None, lines
    assert int(m.group(3)) == int(m.group(2)) + 1
    sent = read_maildir_state(imap_server.maildir)["Sent"]
    assert sent["<ma1@x>"] == frozenset({"\\Seen"})
    assert sent["<ma2@x>"] == frozenset({"\\Draft"})


async def test_append_to_missing_mailbox_says_trycreate(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    lines = strip(await c.cmd(b"a1 APPEND Nowhere {7}\r\nx: y\r\n\r\n"))
    assert lines[-1] == b"a1 NO [TRYCREATE] Mailbox does not exist."


async def test_append_to_the_selected_mailbox_announces_exists_first(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    await c.cmd("a1 SELECT INBOX")
    lines = strip(await c.cmd(b"a2 APPEND INBOX {19}\r\nSubject: new\r\n\r\nhi\r\n"))
    assert lines[0] == b"* 4 EXISTS"
    assert re.fullmatch(rb"a2 OK \[APPENDUID \d+ 4\] APPEND completed\.", lines[-1]), lines
