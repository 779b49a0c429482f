"""RFC 4315 UIDPLUS: §2.1 UID EXPUNGE (the RFC's example: only the named UIDs that are \\Deleted go), §3
APPENDUID and COPYUID response codes (the RFC's examples, with maildird's UIDVALIDITY in a regex slot), and
the UID sets of COPYUID in the order of the source set."""

from __future__ import annotations

import re

import pytest

from tests.conftest import RunningServer
from tests.support.maildirs import read_maildir_state

SPEC = {
    "INBOX": [{"id": f"<u{n}@example.org>", "flags": "T" if n in (2, 3, 4) else ""} for n in range(1, 7)],
    "meeting": [{"id": "<meet1@example.org>"}],
}


def apply_expunges(uids: list[int], lines: list[bytes]) -> list[int]:
    """Replay ``* n EXPUNGE`` responses on a client's seq -> UID list (RFC 9051 §7.5.1: each one renumbers
    the messages after it, so any order the server picks must end at the same list)."""
    remaining = list(uids)
    for line in lines:
        match = re.fullmatch(rb"\* (\d+) EXPUNGE\r\n", line)
        if match is not None:
            del remaining[int(match.group(1)) - 1]
    return remaining


def uidvalidity(lines: list[bytes]) -> bytes:
    match = re.search(rb"\[UIDVALIDITY (\d+)\]", b"".join(lines))
    assert match is not None, lines
    return match.group(1)


@pytest.mark.maildir(SPEC)
async def test_uid_expunge_example(imap_server: RunningServer) -> None:
    """§2.1: ``A003 UID EXPUNGE 3000:3002`` -> three ``* 3 EXPUNGE``; here UIDs 3:5, of which 3 and 4 are
    \\Deleted (5 is not), while \\Deleted UID 2 stays because it is not named."""
    c = await imap_server.login()
    await c.cmd("A001 SELECT INBOX")
    lines = await c.cmd("A003 UID EXPUNGE 3:5")
    assert lines[-1] == b"A003 OK UID EXPUNGE completed.\r\n"
    assert len(lines) == 3 and apply_expunges([1, 2, 3, 4, 5, 6], lines) == [1, 2, 5, 6], lines
    inbox = read_maildir_state(imap_server.maildir)["INBOX"]
    assert sorted(inbox) == ["<u1@example.org>", "<u2@example.org>", "<u5@example.org>", "<u6@example.org>"]
    assert await c.cmd("A004 UID FETCH 1:* (FLAGS)") == [
        b"* 1 FETCH (UID 1 FLAGS ())\r\n",
        b"* 2 FETCH (UID 2 FLAGS (\\Deleted))\r\n",
        b"* 3 FETCH (UID 5 FLAGS ())\r\n",
        b"* 4 FETCH (UID 6 FLAGS ())\r\n",
        b"A004 OK UID FETCH completed.\r\n",
    ]


@pytest.mark.maildir(SPEC)
async def test_uid_expunge_of_nothing_deleted(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    await c.cmd("a1 SELECT INBOX")
    assert await c.cmd("a2 UID EXPUNGE 5:6,100") == [b"a2 OK UID EXPUNGE completed.\r\n"]
    assert await c.cmd("a3 UID EXPUNGE 1") == [b"a3 OK UID EXPUNGE completed.\r\n"]


@pytest.mark.maildir(SPEC)
async def test_appenduid_example(imap_server: RunningServer) -> None:
    """§3: ``A003 OK [APPENDUID 38505 3955] APPEND completed``; the UID is the destination's UIDNEXT."""
    c = await imap_server.login()
    status = await c.cmd("A002 STATUS meeting (UIDVALIDITY UIDNEXT)")
    match = re.fullmatch(rb"\* STATUS meeting \(UIDVALIDITY (\d+) UIDNEXT (\d+)\)\r\n", status[0])
    assert match is not None, status
    message = b"Message-ID: <app@example.org>\r\nSubject: afternoon meeting\r\n\r\nHello Joe\r\n"
    lines = await c.cmd(b"A003 APPEND meeting (\\Seen) {%d}\r\n%s" % (len(message), message))
    assert lines == [b"+ Ready\r\n", b"A003 OK [APPENDUID %s %s] APPEND completed.\r\n" % match.groups()]
    assert read_maildir_state(imap_server.maildir)["meeting"]["<app@example.org>"] == {"\\Seen"}


@pytest.mark.maildir(SPEC)
async def test_copyuid_example(imap_server: RunningServer) -> None:
    """§3: ``A004 COPY 2:4 meeting`` -> ``A004 OK [COPYUID 38505 304,319:320 3956:3958] Done``: the source
    UIDs may be sparse, the destination UIDs follow in the same order."""
    c = await imap_server.login()
    dest = uidvalidity(await c.cmd("A001 EXAMINE meeting"))
    await c.cmd("A002 SELECT INBOX")
    await c.cmd("A003 UID EXPUNGE 3")  # seqs 2:4 are now UIDs 2,4,5
    assert await c.cmd("A004 COPY 2:4 meeting") == [
        b"A004 OK [COPYUID %s 2,4:5 2:4] COPY completed.\r\n" % dest
    ]
    assert await c.cmd("A005 UID COPY 6,1 meeting") == [
        b"A005 OK [COPYUID %s 1,6 5:6] UID COPY completed.\r\n" % dest
    ]
    meeting = read_maildir_state(imap_server.maildir)["meeting"]
    assert sorted(meeting) == sorted(
        ["<meet1@example.org>", *(f"<u{n}@example.org>" for n in (1, 2, 4, 5, 6))]
    )
    assert meeting["<u2@example.org>"] == {"\\Deleted"}  # COPY keeps flags (RFC 9051 §6.4.7)


@pytest.mark.maildir(SPEC)
async def test_copy_to_missing_mailbox_says_trycreate(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    await c.cmd("a1 SELECT INBOX")
    assert await c.cmd("a2 COPY 1 nowhere") == [b"a2 NO [TRYCREATE] Mailbox does not exist.\r\n"]
