"""RFC 3501 §6.4.8 UID over a real server (seed bug 10: the unknown subcommand is named)."""

from __future__ import annotations

from tests.conftest import RunningServer


async def test_unknown_uid_subcommand_is_named(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    await c.cmd("a1 SELECT INBOX")
    lines = await c.cmd("a2 UID FROBNICATE 1")
    assert lines[-1].startswith(b"a2 BAD"), lines
    assert b"FROBNICATE" in lines[-1]
    assert b"$subcommand" not in lines[-1]


async def test_uid_commands_carry_uid(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    await c.cmd("a1 SELECT INBOX")
    lines = await c.cmd("a2 UID STORE 3 +FLAGS (\\Answered)")
    assert lines[0] == b"* 3 FETCH (UID 3 FLAGS (\\Answered \\Flagged \\Seen))\r\n"
    lines = await c.cmd("a3 UID COPY 1:2 Sent")
    assert lines[-1].startswith(b"a3 OK [COPYUID ")
    assert lines[-1].split(b"]")[0].endswith(b" 1:2 2:3")
