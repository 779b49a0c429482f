"""End-to-end smoke test: a real server on a real socket, a real Maildir, imaplib-like raw commands."""

from __future__ import annotations

from tests.conftest import RunningServer


def strip(lines: list[bytes]) -> list[bytes]:
    return [line.rstrip(b"\r\n") for line in lines]


async def test_login_select_fetch_logout(imap_server: RunningServer) -> None:
    c = await imap_server.connect()
    assert c.greeting.startswith(b"* OK [CAPABILITY IMAP4rev1")
    lines = strip(await c.cmd(f'a1 LOGIN {imap_server.user} "{imap_server.password}"'))
    assert lines[-1].startswith(b"a1 OK [CAPABILITY IMAP4rev1"), lines
    lines = strip(await c.cmd("a2 SELECT INBOX"))
    assert b"* 3 EXISTS" in lines, lines
    assert lines[-1].startswith(b"a2 OK [READ-WRITE]"), lines
    lines = strip(await c.cmd("a3 UID FETCH 1:* (UID FLAGS)"))
    assert lines[:-1] == [
        b"* 1 FETCH (UID 1 FLAGS (\\Seen))",
        b"* 2 FETCH (UID 2 FLAGS ())",
        b"* 3 FETCH (UID 3 FLAGS (\\Flagged \\Seen))",
    ], lines
    lines = strip(await c.cmd("a4 LOGOUT"))
    assert lines[0].startswith(b"* BYE"), lines
    assert lines[-1] == b"a4 OK LOGOUT completed."
