"""RFC 2177 IDLE over a real server: another session's changes are pushed to the idling one."""

from __future__ import annotations

from tests.conftest import RunningServer


async def test_idle_pushes_flags_exists_and_expunge(imap_server: RunningServer) -> None:
    a = await imap_server.login()
    b = await imap_server.login()
    await a.cmd("a1 SELECT INBOX")
    await b.cmd("b1 SELECT INBOX")
    await a.send_raw(b"a2 IDLE\r\n")
    assert (await a.read_line()).startswith(b"+ ")
    await b.cmd("b2 STORE 2 +FLAGS.SILENT (\\Answered)")
    assert await a.read_line() == b"* 2 FETCH (FLAGS (\\Answered))\r\n"  # read_line has its own timeout
    await b.cmd("b3 STORE 1 +FLAGS.SILENT (\\Deleted)")
    await b.cmd("b4 EXPUNGE")
    await b.cmd(b"b5 APPEND INBOX {23}\r\nSubject: pushed\r\n\r\nhi\r\n")
    seen: list[bytes] = []
    while b"* 3 EXISTS\r\n" not in seen:
        line = await a.read_line()
        if not line.startswith(b"* 1 FETCH"):  # the \Deleted flag may show before the expunge
            seen.append(line)
    assert seen[0] == b"* 1 EXPUNGE\r\n"
    await a.send_raw(b"DONE\r\n")
    lines = await a.read_until_tagged("a2")
    assert lines[-1] == b"a2 OK IDLE terminated.\r\n"
