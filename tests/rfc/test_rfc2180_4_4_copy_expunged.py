"""COPY/MOVE by message number of a message another session expunged (RFC 2180 §4.4, RFC 5530 §3).

The pending EXPUNGE responses go out with the COPY (RFC 2180 §4.4: "Pending EXPUNGE response(s) MUST be
returned to the COPY command"). Then a server either refuses the whole COPY, copying nothing (§4.4.1, what
Dovecot does: NO [EXPUNGEISSUED]), or copies every message the numbers meant when the command began,
the expunged ones included (§4.4.2: "MUST appear in the destination mailbox"). maildird cannot copy a file
that is gone, so §4.4.1 it is. It used to answer "OK No messages copied." (or copy only the survivors
with a plain OK), so a client believed a copy that never happened. Found by tests/conformance.
UID COPY/MOVE simply ignore UIDs that no longer exist (RFC 9051 §6.4.9).
"""

from __future__ import annotations

from tests.conftest import RunningServer
from tests.support.rawclient import RawClient


async def _expunged_elsewhere(imap_server: RunningServer) -> RawClient:
    """A session on INBOX (3 messages) that has not yet been told that message 2 was expunged."""
    b = await imap_server.login()
    await b.cmd("b1 SELECT INBOX")
    a = await imap_server.login()
    await a.cmd("a1 SELECT INBOX")
    await a.cmd("a2 STORE 2 +FLAGS.SILENT (\\Deleted)")
    assert await a.cmd("a3 EXPUNGE") == [b"* 2 EXPUNGE\r\n", b"a3 OK EXPUNGE completed.\r\n"]
    await a.aclose()
    return b


async def test_copy_of_only_an_expunged_message_is_refused(imap_server: RunningServer) -> None:
    b = await _expunged_elsewhere(imap_server)
    assert await b.cmd("b2 COPY 2 Sent") == [
        b"* 2 EXPUNGE\r\n",
        b"b2 NO [EXPUNGEISSUED] Some of the requested messages no longer exist.\r\n",
    ]
    assert (await b.cmd("b3 STATUS Sent (MESSAGES)"))[0] == b"* STATUS Sent (MESSAGES 1)\r\n"


async def test_copy_of_a_mixture_copies_nothing(imap_server: RunningServer) -> None:
    b = await _expunged_elsewhere(imap_server)
    lines = await b.cmd("b2 COPY 1:3 Sent")
    assert lines == [
        b"* 2 EXPUNGE\r\n",
        b"b2 NO [EXPUNGEISSUED] Some of the requested messages no longer exist.\r\n",
    ]
    assert (await b.cmd("b3 STATUS Sent (MESSAGES)"))[0] == b"* STATUS Sent (MESSAGES 1)\r\n"
    # Told of the expunge, the client's numbers are right again and the copy goes through.
    lines = await b.cmd("b4 COPY 1:2 Sent")
    assert lines[-1].startswith(b"b4 OK [COPYUID ") and lines[-1].endswith(b" 1,3 2:3] COPY completed.\r\n")


async def test_move_of_an_expunged_message_is_refused(imap_server: RunningServer) -> None:
    b = await _expunged_elsewhere(imap_server)
    assert await b.cmd("b2 MOVE 2:3 Sent") == [
        b"* 2 EXPUNGE\r\n",
        b"b2 NO [EXPUNGEISSUED] Some of the requested messages no longer exist.\r\n",
    ]
    assert (await b.cmd("b3 FETCH 2 (UID)"))[0] == b"* 2 FETCH (UID 3)\r\n"
    assert (await b.cmd("b4 STATUS Sent (MESSAGES)"))[0] == b"* STATUS Sent (MESSAGES 1)\r\n"


async def test_uid_copy_ignores_uids_that_are_gone(imap_server: RunningServer) -> None:
    b = await _expunged_elsewhere(imap_server)
    lines = await b.cmd("b2 UID COPY 2:3 Sent")
    assert lines[0] == b"* 2 EXPUNGE\r\n"
    assert lines[-1].startswith(b"b2 OK [COPYUID ") and lines[-1].endswith(b" 3 2] UID COPY completed.\r\n")
