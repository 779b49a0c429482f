"""RFC 6851 MOVE: §3.3 the COPYUID in an untagged OK before the EXPUNGEs (the RFC's §4.1 example), §4.3
VANISHED instead of EXPUNGE under QRESYNC (the RFC's §4.3 example), §3.1 the messages leave the source
Maildir and keep their flags in the destination, §3.2 UID MOVE, §3.3 TRYCREATE."""

from __future__ import annotations

import re

import pytest

from tests.conftest import RunningServer
from tests.support.maildirs import read_maildir_messages, read_maildir_state

SPEC = {
    "INBOX": [{"id": f"<mv{n}@example.org>", "flags": "S" if n % 2 else "F"} for n in range(1, 7)],
    "foo": [{"id": "<foo1@example.org>"}],
}


def apply_expunges(uids: list[int], lines: list[bytes]) -> list[int]:
    """Replay ``* n EXPUNGE`` on a client's seq -> UID list (RFC 9051 §7.5.1: any order must agree)."""
    remaining = list(uids)
    for line in lines:
        match = re.fullmatch(rb"\* (\d+) EXPUNGE\r\n", line)
        if match is not None:
            del remaining[int(match.group(1)) - 1]
    return remaining


def uidvalidity(lines: list[bytes]) -> bytes:
    match = re.search(rb"UIDVALIDITY (\d+)", b"".join(lines))
    assert match is not None, lines
    return match.group(1)


@pytest.mark.maildir(SPEC)
async def test_uid_move_example(imap_server: RunningServer) -> None:
    """§4.1: ``a UID MOVE 42:69 foo`` -> ``* OK [COPYUID 432432 42:69 1202:1229]``, one EXPUNGE each."""
    c = await imap_server.login()
    dest = uidvalidity(await c.cmd("a0 STATUS foo (UIDVALIDITY)"))
    await c.cmd("a1 SELECT INBOX")
    lines = await c.cmd("a UID MOVE 2:4 foo")
    assert lines[0] == b"* OK [COPYUID %s 2:4 2:4] Moved UIDs.\r\n" % dest
    assert lines[-1] == b"a OK UID MOVE completed.\r\n"
    assert len(lines) == 5 and apply_expunges([1, 2, 3, 4, 5, 6], lines) == [1, 5, 6], lines
    state = read_maildir_state(imap_server.maildir)
    assert sorted(state["INBOX"]) == ["<mv1@example.org>", "<mv5@example.org>", "<mv6@example.org>"]
    assert state["foo"] == {
        "<foo1@example.org>": frozenset(),
        "<mv2@example.org>": frozenset({"\\Flagged"}),
        "<mv3@example.org>": frozenset({"\\Seen"}),
        "<mv4@example.org>": frozenset({"\\Flagged"}),
    }


@pytest.mark.maildir(SPEC)
async def test_move_with_qresync_sends_vanished(imap_server: RunningServer) -> None:
    """§4.3: ``a UID MOVE 42:69 foo`` with QRESYNC -> ``* OK [COPYUID ...]`` then ``* VANISHED 42:69``."""
    c = await imap_server.login()
    await c.cmd("a0 ENABLE QRESYNC")
    dest = uidvalidity(await c.cmd("a1 STATUS foo (UIDVALIDITY)"))
    await c.cmd("a2 SELECT INBOX")
    lines = await c.cmd("a3 UID MOVE 5:6 foo")
    assert lines[:2] == [b"* OK [COPYUID %s 5:6 2:3] Moved UIDs.\r\n" % dest, b"* VANISHED 5:6\r\n"]
    assert re.fullmatch(rb"a3 OK \[HIGHESTMODSEQ \d+\] UID MOVE completed\.\r\n", lines[2]), lines  # §4.4


@pytest.mark.maildir(SPEC)
async def test_move_by_sequence_numbers(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    dest = uidvalidity(await c.cmd("a0 STATUS foo (UIDVALIDITY)"))
    await c.cmd("a1 SELECT INBOX")
    lines = await c.cmd("a2 MOVE 1,6 foo")
    assert lines[0] == b"* OK [COPYUID %s 1,6 2:3] Moved UIDs.\r\n" % dest
    assert len(lines) == 4 and apply_expunges([1, 2, 3, 4, 5, 6], lines) == [2, 3, 4, 5], lines
    assert lines[-1] == b"a2 OK MOVE completed.\r\n"
    assert await c.cmd("a3 FETCH 1:* (UID)") == [
        b"* 1 FETCH (UID 2)\r\n",
        b"* 2 FETCH (UID 3)\r\n",
        b"* 3 FETCH (UID 4)\r\n",
        b"* 4 FETCH (UID 5)\r\n",
        b"a3 OK FETCH completed.\r\n",
    ]


@pytest.mark.maildir(SPEC)
async def test_move_to_missing_mailbox_says_trycreate(imap_server: RunningServer) -> None:
    """§3.3 (by RFC 9051 §6.4.7's COPY rule): nothing moves, the tagged NO carries TRYCREATE."""
    c = await imap_server.login()
    await c.cmd("a1 SELECT INBOX")
    assert await c.cmd("a2 MOVE 1 nowhere") == [b"a2 NO [TRYCREATE] Mailbox does not exist.\r\n"]
    assert len(read_maildir_state(imap_server.maildir)["INBOX"]) == 6


@pytest.mark.maildir(SPEC)
async def test_move_other_session_sees_expunge(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    other = await imap_server.login()
    await c.cmd("a1 SELECT INBOX")
    await other.cmd("b1 SELECT INBOX")
    await c.cmd("a2 UID MOVE 1 foo")
    assert await other.cmd("b2 NOOP") == [b"* 1 EXPUNGE\r\n", b"b2 OK NOOP completed.\r\n"]


@pytest.mark.maildir(SPEC)
async def test_move_with_qresync_reports_highestmodseq(imap_server: RunningServer) -> None:
    """§4.4: "If at least one message was moved, the server MUST send the updated per-mailbox modification
    sequence using the HIGHESTMODSEQ response code ... in the tagged or untagged OK response"."""
    c = await imap_server.login()
    await c.cmd("a0 ENABLE QRESYNC")
    selected = await c.cmd("a1 SELECT INBOX")
    before = int(re.search(rb"HIGHESTMODSEQ (\d+)", b"".join(selected)).group(1))  # type: ignore[union-attr]
    lines = await c.cmd("a2 UID MOVE 1 foo")
    assert b"* VANISHED 1\r\n" in lines, lines
    codes = [m for line in lines if (m := re.match(rb"(?:\* |a2 )OK \[HIGHESTMODSEQ (\d+)\]", line))]
    assert len(codes) == 1 and int(codes[0].group(1)) > before, lines


@pytest.mark.maildir(SPEC)
async def test_move_into_the_selected_mailbox_is_allowed(imap_server: RunningServer) -> None:
    """§3.3: "moving a message to the currently selected mailbox (that is, where the source and target
    mailboxes are the same) is allowed when copying the message to the currently selected mailbox is
    allowed." The message gets a new UID; it is in the mailbox exactly once afterwards."""
    c = await imap_server.login()
    uv = uidvalidity(await c.cmd("a1 SELECT INBOX"))
    copied = await c.cmd("a2 UID COPY 6 INBOX")
    assert copied[-1].startswith(b"a2 OK [COPYUID %s 6 7]" % uv), copied
    lines = await c.cmd("a3 UID MOVE 1 INBOX")
    assert lines[0] == b"* OK [COPYUID %s 1 8] Moved UIDs.\r\n" % uv, lines
    assert lines[-1] == b"a3 OK UID MOVE completed.\r\n"
    uids = await c.cmd("a4 UID SEARCH ALL")
    assert uids == [b"* SEARCH 2 3 4 5 6 7 8\r\n", b"a4 OK UID SEARCH completed.\r\n"], uids
    inbox = read_maildir_messages(imap_server.maildir)["INBOX"]
    assert [m.message_id for m in inbox].count("<mv1@example.org>") == 1
