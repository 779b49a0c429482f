"""RFC 2971 §3.1 ID: valid in every state; the RFC's example client list and NIL both get the server's
list (§3.2: field/value pairs of quoted strings), and a malformed list is BAD (§3.3: an odd number of
strings is a syntax error)."""

from __future__ import annotations

import re

from tests.conftest import RunningServer

SERVER_ID = re.compile(rb'\* ID \("name" "maildird" "version" "[^"]+"\)\r\n')


async def test_rfc_example_before_login(imap_server: RunningServer) -> None:
    c = await imap_server.connect()
    lines = await c.cmd('a023 ID ("name" "sodr" "version" "19.34" "vendor" "Pink Floyd Music Limited")')
    assert len(lines) == 2 and SERVER_ID.fullmatch(lines[0]), lines
    assert lines[1] == b"a023 OK ID completed.\r\n"


async def test_id_nil_after_login_and_while_selected(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    first = await c.cmd("a1 ID NIL")
    await c.cmd("a2 SELECT INBOX")
    second = await c.cmd("a3 ID NIL")
    assert SERVER_ID.fullmatch(first[0]) and second[0] == first[0]
    assert second[1] == b"a3 OK ID completed.\r\n"


async def test_malformed_id_list_is_bad(imap_server: RunningServer) -> None:
    c = await imap_server.connect()
    for n, arg in enumerate(['("name")', '("name" "x" "version")', "name"]):
        lines = await c.cmd(f"b{n} ID {arg}")
        assert len(lines) == 1 and lines[0].startswith(f"b{n} BAD ".encode()), lines
    assert SERVER_ID.fullmatch((await c.cmd("b9 ID NIL"))[0])
