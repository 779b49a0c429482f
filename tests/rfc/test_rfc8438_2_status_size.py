"""RFC 8438 §2 STATUS=SIZE: ``STATUS mbox (SIZE)`` is the total of the messages' RFC822.SIZE (CRLF form,
whatever the line endings on disk); it follows APPEND and EXPUNGE; also in LIST-STATUS (RFC 5819)."""

from __future__ import annotations

import re

import pytest

from tests.conftest import RunningServer
from tests.support.rawclient import RawClient

SPEC = {
    "INBOX": [
        {"id": "<z1@example.org>", "line_ending": "\n", "body": "one\ntwo\nthree\n"},
        {"id": "<z2@example.org>", "line_ending": "\r\n"},
        {"id": "<z3@example.org>", "new": True},
    ],
    "Empty": [],
}


def status_size(lines: list[bytes]) -> int:
    match = re.search(rb"SIZE (\d+)\)", lines[0])
    assert match is not None, lines
    return int(match.group(1))


async def fetched_sizes(c: RawClient, mailbox: str) -> int:
    await c.cmd(f"s1 EXAMINE {mailbox}")
    lines = await c.cmd("s2 FETCH 1:* (RFC822.SIZE)")
    await c.cmd("s3 UNSELECT")
    return sum(int(m.group(1)) for line in lines if (m := re.search(rb"RFC822\.SIZE (\d+)", line)))


@pytest.mark.maildir(SPEC)
async def test_size_is_the_sum_of_rfc822_sizes(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    total = await fetched_sizes(c, "INBOX")
    assert total > 0
    assert await c.cmd("A042 STATUS INBOX (SIZE)") == [
        b"* STATUS INBOX (SIZE %d)\r\n" % total,
        b"A042 OK STATUS completed.\r\n",
    ]
    assert await c.cmd("A043 STATUS Empty (MESSAGES SIZE)") == [
        b"* STATUS Empty (MESSAGES 0 SIZE 0)\r\n",
        b"A043 OK STATUS completed.\r\n",
    ]


@pytest.mark.maildir(SPEC)
async def test_size_follows_append_and_expunge(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    before = status_size(await c.cmd("a1 STATUS INBOX (SIZE)"))
    message = b"Subject: sized\n\nLF only on the wire is CRLF in SIZE\n"
    await c.cmd(b"a2 APPEND INBOX (\\Deleted) {%d}\r\n%s" % (len(message), message))
    after = status_size(await c.cmd("a3 STATUS INBOX (SIZE)"))
    assert after - before == len(message.replace(b"\n", b"\r\n"))
    await c.cmd("a4 SELECT INBOX")
    await c.cmd("a5 EXPUNGE")
    await c.cmd("a6 UNSELECT")
    assert status_size(await c.cmd("a7 STATUS INBOX (SIZE)")) == before


@pytest.mark.maildir(SPEC)
async def test_size_in_list_status(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    total = await fetched_sizes(c, "INBOX")
    lines = await c.cmd('a1 LIST "" INBOX RETURN (STATUS (SIZE))')
    assert lines[1] == b"* STATUS INBOX (SIZE %d)\r\n" % total
