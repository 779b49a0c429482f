"""\\Recent on messages that APPEND, COPY and MOVE add (RFC 3501 §2.3.2, §6.3.11, §6.4.7; RFC 6851 §3.3).

RFC 3501 §6.3.11 APPEND: "If a flag parenthesized list is specified, the flags SHOULD be set in the
resulting message; otherwise, the flag list of the resulting message is set to empty by default. In either
case, the Recent flag is also set." §6.4.7 COPY: "the Recent flag SHOULD be set, in the copy"; MOVE behaves
as COPY + EXPUNGE (RFC 6851 §3.3). The next session to select the destination is the first to be told of
those messages, so they are \\Recent there. maildird counts only files it finds in new/, so a message that
arrives with flags (written to cur/) is never \\Recent. Found by tests/conformance (Dovecot agrees with the
RFC). Fix: store.maildir -- claim as recent every UID at or above the folder's "first recent UID" kept in
the state dir (design/maildir-format.md §1.7, §7), then advance it; not only the files moved out of new/.
A read-only snapshot (EXAMINE, B5) reports the same set without advancing it.
"""

from __future__ import annotations

from tests.conftest import RunningServer

MESSAGE = b"From: x@example.org\r\nSubject: appended\r\n\r\nbody\r\n"
B2 = "B2: APPEND with flags, COPY and MOVE targets are not \\Recent (store claims only new/ files)"


async def test_append_with_flags_is_recent_to_the_next_select(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    lines = await c.cmd(b"a1 APPEND Sent (\\Seen) {%d}\r\n%s" % (len(MESSAGE), MESSAGE))
    assert lines[-1].startswith(b"a1 OK [APPENDUID ")
    lines = await c.cmd("a2 SELECT Sent")
    assert b"* 2 EXISTS\r\n" in lines
    assert b"* 1 RECENT\r\n" in lines
    assert await c.cmd("a3 FETCH 2 FLAGS") == [
        b"* 2 FETCH (FLAGS (\\Seen \\Recent))\r\n",
        b"a3 OK FETCH completed.\r\n",
    ]


async def test_append_without_flags_is_recent_to_the_next_select(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    await c.cmd(b"a1 APPEND Sent {%d}\r\n%s" % (len(MESSAGE), MESSAGE))
    lines = await c.cmd("a2 SELECT Sent")
    assert b"* 1 RECENT\r\n" in lines
    assert await c.cmd("a3 FETCH 2 FLAGS") == [
        b"* 2 FETCH (FLAGS (\\Recent))\r\n",
        b"a3 OK FETCH completed.\r\n",
    ]


async def test_copy_and_move_targets_are_recent_to_the_next_select(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    await c.cmd("a1 SELECT INBOX")
    assert (await c.cmd("a2 COPY 1 Sent"))[-1].startswith(b"a2 OK [COPYUID ")
    assert (await c.cmd("a3 MOVE 3 Sent"))[0].startswith(b"* OK [COPYUID ")
    lines = await c.cmd("a4 STATUS Sent (MESSAGES RECENT)")
    assert lines[0] == b"* STATUS Sent (MESSAGES 3 RECENT 2)\r\n"
    lines = await c.cmd("a5 SELECT Sent")
    assert b"* 2 RECENT\r\n" in lines
    assert await c.cmd("a6 FETCH 2:3 FLAGS") == [
        b"* 2 FETCH (FLAGS (\\Seen \\Recent))\r\n",
        b"* 3 FETCH (FLAGS (\\Flagged \\Seen \\Recent))\r\n",
        b"a6 OK FETCH completed.\r\n",
    ]


async def test_examine_reports_recent_without_claiming(imap_server: RunningServer) -> None:
    """RFC 3501 §2.3.2: a read-only session is told about \\Recent too, it just does not take it away
    from the sessions after it (§6.3.2 EXAMINE: same responses as SELECT). Dovecot: EXAMINE shows them."""
    c = await imap_server.login()
    await c.cmd(b"a1 APPEND Sent {%d}\r\n%s" % (len(MESSAGE), MESSAGE))
    lines = await c.cmd("a2 EXAMINE Sent")
    assert b"* 1 RECENT\r\n" in lines
    assert await c.cmd("a3 FETCH 2 FLAGS") == [
        b"* 2 FETCH (FLAGS (\\Recent))\r\n",
        b"a3 OK FETCH completed.\r\n",
    ]
    lines = await c.cmd("a4 SELECT Sent")
    assert b"* 1 RECENT\r\n" in lines  # still recent: EXAMINE did not claim it
