"""RFC 5161 §3.1 ENABLE and §3.2 the ENABLED response: the RFC's example (an unknown extension is ignored,
only what was enabled is listed), enabling twice lists nothing new, and ENABLE before login is BAD
(§3.1: valid in the authenticated state)."""

from __future__ import annotations

from tests.conftest import RunningServer


async def test_rfc_example_unknown_extensions_are_ignored(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    assert await c.cmd("t2 ENABLE CONDSTORE X-GOOD-IDEA") == [
        b"* ENABLED CONDSTORE\r\n",
        b"t2 OK ENABLE completed.\r\n",
    ]


async def test_every_enableable_extension(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    assert await c.cmd("t1 ENABLE condstore QRESYNC utf8=accept IMAP4rev2") == [
        b"* ENABLED CONDSTORE QRESYNC UTF8=ACCEPT IMAP4rev2\r\n",
        b"t1 OK ENABLE completed.\r\n",
    ]


async def test_enabling_again_lists_nothing_new(imap_server: RunningServer) -> None:
    """§3.2: ENABLED lists what this command enabled; QRESYNC implies CONDSTORE (RFC 7162 §3.2.3)."""
    c = await imap_server.login()
    await c.cmd("t1 ENABLE QRESYNC")
    assert await c.cmd("t2 ENABLE QRESYNC CONDSTORE") == [b"* ENABLED\r\n", b"t2 OK ENABLE completed.\r\n"]


async def test_enable_of_nothing_known(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    assert await c.cmd("t1 ENABLE X-UNKNOWN") == [b"* ENABLED\r\n", b"t1 OK ENABLE completed.\r\n"]


async def test_enable_before_login_is_bad(imap_server: RunningServer) -> None:
    c = await imap_server.connect()
    assert await c.cmd("t1 ENABLE CONDSTORE") == [b"t1 BAD [CLIENTBUG] ENABLE not allowed now.\r\n"]


async def test_capability_list_does_not_change(imap_server: RunningServer) -> None:
    """§3.1: "The server MUST NOT change the CAPABILITY list as a result of executing ENABLE"."""
    c = await imap_server.login()
    before = await c.cmd("t1 CAPABILITY")
    await c.cmd("t2 ENABLE CONDSTORE QRESYNC UTF8=ACCEPT IMAP4rev2")
    assert await c.cmd("t3 CAPABILITY") == [before[0], b"t3 OK CAPABILITY completed.\r\n"]
