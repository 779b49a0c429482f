"""RFC 9051 §6.3.2: "The SELECT command automatically deselects any currently selected mailbox before
attempting the selection. Consequently, if a mailbox is selected and a SELECT command that fails is
attempted, no mailbox is selected. When deselecting a selected mailbox, the server MUST return an
untagged OK response with the "[CLOSED]" response code when the currently selected mailbox is closed
(see Section 7.1)." RFC 7162 §3.2.11 asks the same of every CONDSTORE/QRESYNC server.

So a SELECT/EXAMINE that fails while a mailbox is selected sends ``* OK [CLOSED]`` before its tagged NO
or BAD, whatever the client enabled, exactly as Dovecot 2.3.19 does (checked against a real Dovecot,
tests/conformance/test_diff_mailboxes.py::test_failed_select_closes_like_dovecot).
Was: maildird sent only the NO unless QRESYNC or IMAP4rev2 was enabled (session note, stop 10).

A SELECT the core's grammar refuses (``SELECT`` without a name, an unknown select parameter) is
answered by the core before any handler runs; it deselects all the same, with CLOSED first, as
Dovecot does (imap/session_tables.py ``ON_REFUSED``).
"""

from __future__ import annotations

import pytest

from tests.conftest import RunningServer

CLOSED = b"* OK [CLOSED] Previous mailbox closed.\r\n"
NO_SELECTION = b"BAD [CLIENTBUG] No mailbox selected.\r\n"


async def test_failed_select_sends_closed_then_no(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    await c.cmd("a1 SELECT INBOX")
    assert await c.cmd("a2 SELECT Nope") == [CLOSED, b"a2 NO [NONEXISTENT] Nope does not exist\r\n"]
    assert await c.cmd("a3 FETCH 1 FLAGS") == [b"a3 " + NO_SELECTION]
    # Nothing is selected, so a second failure has nothing to close.
    assert await c.cmd("a4 SELECT Nope") == [b"a4 NO [NONEXISTENT] Nope does not exist\r\n"]


async def test_failed_examine_sends_closed_then_no(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    await c.cmd("a1 EXAMINE Sent")
    assert await c.cmd("a2 EXAMINE Nope") == [CLOSED, b"a2 NO [NONEXISTENT] Nope does not exist\r\n"]
    assert await c.cmd("a3 CLOSE") == [b"a3 " + NO_SELECTION]


async def test_select_refused_by_the_handler_sends_closed_then_bad(imap_server: RunningServer) -> None:
    """The QRESYNC parameter without ENABLE QRESYNC is a BAD (RFC 7162 §3.2.5); the previous mailbox is
    closed all the same (Dovecot: ``* OK [CLOSED]`` then ``BAD ... QRESYNC not enabled``)."""
    c = await imap_server.login()
    await c.cmd("a1 SELECT INBOX")
    lines = await c.cmd("a2 SELECT INBOX (QRESYNC (1 2))")
    assert lines == [CLOSED, b"a2 BAD [CLIENTBUG] QRESYNC parameter requires ENABLE QRESYNC first.\r\n"]
    assert await c.cmd("a3 FETCH 1 FLAGS") == [b"a3 " + NO_SELECTION]


@pytest.mark.parametrize("enable", ["QRESYNC", "IMAP4rev2"])
async def test_closed_once_with_extensions_enabled(imap_server: RunningServer, enable: str) -> None:
    c = await imap_server.login()
    await c.cmd(f"e1 ENABLE {enable}")
    await c.cmd("a1 SELECT INBOX")
    assert await c.cmd("a2 SELECT Nope") == [CLOSED, b"a2 NO [NONEXISTENT] Nope does not exist\r\n"]


async def test_successful_switch_still_sends_closed_once_first(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    await c.cmd("a1 SELECT INBOX")
    lines = await c.cmd("a2 EXAMINE Sent")
    assert lines[0] == CLOSED
    assert lines.count(CLOSED) == 1
    assert lines[-1] == b"a2 OK [READ-ONLY] EXAMINE completed.\r\n"


async def test_select_refused_by_the_grammar_closes_like_dovecot(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    await c.cmd("a1 SELECT INBOX")
    lines = await c.cmd("a2 SELECT INBOX (FOO)")
    assert lines[0] == CLOSED, lines
    assert lines[1].startswith(b"a2 BAD "), lines
    assert await c.cmd("a3 FETCH 1 FLAGS") == [b"a3 " + NO_SELECTION]
    # Nothing is selected now: a refused EXAMINE has nothing to close.
    assert (await c.cmd("a4 EXAMINE"))[0].startswith(b"a4 BAD ")
