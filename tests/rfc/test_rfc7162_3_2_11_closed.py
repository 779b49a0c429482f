"""RFC 7162 §3.2.11: "A server implementing the extension defined in this document MUST return the CLOSED
response code when the currently selected mailbox is closed implicitly using the SELECT/EXAMINE command on
another mailbox" -- whether or not the client enabled CONDSTORE/QRESYNC (the section's closing paragraph).
maildird advertises CONDSTORE and QRESYNC, so a plain IMAP4rev1 session switching mailboxes gets it too.
Found by tests/conformance (Dovecot sends it). Never for CLOSE/UNSELECT, nor for the first SELECT.
Fixed in handlers.mailboxes.select (was: only with QRESYNC or IMAP4rev2 enabled; then: not before a NO).
"""

from __future__ import annotations

from tests.conftest import RunningServer

CLOSED = b"* OK [CLOSED] Previous mailbox closed.\r\n"


async def test_select_while_selected_sends_closed_first(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    first = await c.cmd("a1 SELECT INBOX")
    assert CLOSED not in first
    lines = await c.cmd("a2 EXAMINE Sent")
    assert lines[0] == CLOSED, lines
    assert lines[-1] == b"a2 OK [READ-ONLY] EXAMINE completed.\r\n"
    lines = await c.cmd("a3 SELECT INBOX")
    assert lines[0] == CLOSED, lines
    assert lines.count(CLOSED) == 1


async def test_failed_select_while_selected_ends_the_selection(imap_server: RunningServer) -> None:
    """The implicit close happens before the new mailbox is tried, so CLOSED comes first whatever the
    outcome (Dovecot 2.3 alike; tests/rfc/test_rfc9051_6_3_2_failed_select_closed.py has the rest)."""
    c = await imap_server.login()
    await c.cmd("a1 SELECT INBOX")
    lines = await c.cmd("a2 SELECT Nonexistent")
    assert lines == [CLOSED, b"a2 NO [NONEXISTENT] Nonexistent does not exist\r\n"]
    lines = await c.cmd("a3 EXAMINE Sent")
    assert CLOSED not in lines  # nothing was selected any more


async def test_no_closed_for_unselect_close_or_first_select(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    await c.cmd("a1 SELECT INBOX")
    assert await c.cmd("a2 UNSELECT") == [b"a2 OK UNSELECT completed.\r\n"]
    assert CLOSED not in await c.cmd("a3 SELECT INBOX")
    assert await c.cmd("a4 CLOSE") == [b"a4 OK CLOSE completed.\r\n"]
