"""NOOP after nothing changed answers with the tagged line alone (the view's O(1) path returns the
shared ``NO_UPDATES``), and still reports what did change: a delivered message, a flag set by
another session, an expunge (RFC 9051 §6.1.2, §7.5.1)."""

from __future__ import annotations

from tests.conftest import RunningServer
from tests.support.rawclient import RawClient

MESSAGE = b"From: a@example.org\r\nSubject: late\r\nMessage-ID: <late@example.org>\r\n\r\nbody\r\n"


async def _cmd(client: RawClient, command: str) -> list[bytes]:
    return [line.removesuffix(b"\r\n") for line in await client.cmd(command)]


async def test_noop_reports_only_what_changed(imap_server: RunningServer) -> None:
    client = await imap_server.login()
    other = await imap_server.login()
    await client.cmd("s1 SELECT INBOX")
    await other.cmd("o1 SELECT INBOX")
    assert await _cmd(client, "n1 NOOP") == [b"n1 OK NOOP completed."]
    assert await _cmd(client, "n2 CHECK") == [b"n2 OK CHECK completed."]

    (imap_server.maildir / "new" / "1700000000.late.host").write_bytes(MESSAGE)
    lines = await _cmd(client, "n3 NOOP")
    assert lines[:2] == [b"* 4 EXISTS", b"* 1 RECENT"] and lines[-1] == b"n3 OK NOOP completed."
    assert await _cmd(client, "n4 NOOP") == [b"n4 OK NOOP completed."]

    await other.cmd("o2 STORE 2 +FLAGS (\\Deleted)")
    assert await _cmd(client, "n5 NOOP") == [b"* 2 FETCH (FLAGS (\\Deleted))", b"n5 OK NOOP completed."]
    await other.cmd("o3 EXPUNGE")
    assert await _cmd(client, "n6 NOOP") == [b"* 2 EXPUNGE", b"n6 OK NOOP completed."]
    assert await _cmd(client, "n7 NOOP") == [b"n7 OK NOOP completed."]
