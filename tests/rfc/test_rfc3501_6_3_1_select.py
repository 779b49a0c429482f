"""RFC 3501 §6.3.1-§6.3.2 SELECT/EXAMINE over a real server and Maildir (seed bug 3)."""

from __future__ import annotations

import re

from tests.conftest import RunningServer
from tests.support.maildirs import read_maildir_state


def strip(lines: list[bytes]) -> list[bytes]:
    return [line.removesuffix(b"\r\n") for line in lines]


async def test_select_response_shape(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    lines = strip(await c.cmd("a1 SELECT INBOX"))
    shapes = [re.sub(rb"\d{3,}", b"N", line) for line in lines]
    assert shapes == [
        b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)",
        b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted.",
        b"* 3 EXISTS",
        b"* 0 RECENT",
        b"* OK [UNSEEN 2] First unseen is 2.",
        b"* OK [UIDVALIDITY N] UIDs valid.",
        b"* OK [UIDNEXT 4] Predicted next UID.",
        b"* OK [HIGHESTMODSEQ N] Highest.",
        b"a1 OK [READ-WRITE] SELECT completed.",
    ]


async def test_select_and_examine_never_expunge_the_previous_mailbox(imap_server: RunningServer) -> None:
    """Seed bug 3: leaving a mailbox by SELECT/EXAMINE keeps its \\Deleted messages (RFC 3501 §6.3.1)."""
    c = await imap_server.login()
    await c.cmd("a1 SELECT INBOX")
    await c.cmd("a2 STORE 1:* +FLAGS.SILENT (\\Deleted)")
    lines = strip(await c.cmd("a3 SELECT Sent"))
    assert not [line for line in lines if line.endswith(b"EXPUNGE")]
    await c.cmd("a4 SELECT INBOX")
    lines = strip(await c.cmd("a5 EXAMINE Sent"))
    assert not [line for line in lines if line.endswith(b"EXPUNGE")]
    inbox = read_maildir_state(imap_server.maildir)["INBOX"]
    assert len(inbox) == 3
    assert all("\\Deleted" in flags for flags in inbox.values())


async def test_failed_select_leaves_selected_state(imap_server: RunningServer) -> None:
    """RFC 3501 §6.3.1: "if a mailbox is selected and a SELECT command that fails is attempted, no
    mailbox is selected"; the implicit close is announced with CLOSED first (RFC 9051 §7.1)."""
    c = await imap_server.login()
    await c.cmd("a1 SELECT INBOX")
    lines = strip(await c.cmd("a2 SELECT Nope"))
    assert lines == [b"* OK [CLOSED] Previous mailbox closed.", b"a2 NO [NONEXISTENT] Nope does not exist"]
    lines = strip(await c.cmd("a3 FETCH 1 (FLAGS)"))
    assert lines[-1].startswith(b"a3 BAD"), lines  # no mailbox selected any more (RFC 9051 §6.3.2)
