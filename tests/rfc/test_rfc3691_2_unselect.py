"""RFC 3691 §2 UNSELECT: leaves the selected state like CLOSE but without expunging \\Deleted messages
(the RFC's example ``A342 UNSELECT`` / ``A342 OK Unselect completed``), and is BAD with nothing selected."""

from __future__ import annotations

from tests.conftest import RunningServer
from tests.support.maildirs import read_maildir_state


async def test_unselect_keeps_deleted_messages(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    await c.cmd("A341 SELECT INBOX")
    assert await c.cmd("A1 STORE 1:2 +FLAGS.SILENT (\\Deleted)") == [b"A1 OK STORE completed.\r\n"]
    assert await c.cmd("A342 UNSELECT") == [b"A342 OK UNSELECT completed.\r\n"]
    inbox = read_maildir_state(imap_server.maildir)["INBOX"]
    assert len(inbox) == 3
    assert inbox["<m1@example.org>"] == frozenset({"\\Seen", "\\Deleted"})
    assert await c.cmd("A343 FETCH 1 FLAGS") == [b"A343 BAD [CLIENTBUG] No mailbox selected.\r\n"]
    # CLOSE, by contrast, expunges them (RFC 9051 §6.4.1).
    await c.cmd("A344 SELECT INBOX")
    assert await c.cmd("A345 CLOSE") == [b"A345 OK CLOSE completed.\r\n"]
    assert sorted(read_maildir_state(imap_server.maildir)["INBOX"]) == ["<m3@example.org>"]


async def test_unselect_after_examine(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    await c.cmd("a1 EXAMINE Sent")
    assert await c.cmd("a2 UNSELECT") == [b"a2 OK UNSELECT completed.\r\n"]


async def test_unselect_without_a_selected_mailbox_is_bad(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    assert await c.cmd("a1 UNSELECT") == [b"a1 BAD [CLIENTBUG] No mailbox selected.\r\n"]
