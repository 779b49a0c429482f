"""RFC 2342 NAMESPACE (and RFC 9051 §6.3.10): the RFC's §5 example 5.1, adapted to maildird's single
personal namespace with Maildir++'s "." delimiter: ``* NAMESPACE (("" ".")) NIL NIL``."""

from __future__ import annotations

from tests.conftest import RunningServer


async def test_single_personal_namespace(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    assert await c.cmd("A001 NAMESPACE") == [
        b'* NAMESPACE (("" ".")) NIL NIL\r\n',
        b"A001 OK NAMESPACE completed.\r\n",
    ]


async def test_namespace_delimiter_matches_list(imap_server: RunningServer) -> None:
    """RFC 2342 §5: the namespace's delimiter is the hierarchy delimiter LIST reports."""
    c = await imap_server.login()
    assert await c.cmd('A001 LIST "" ""') == [
        b'* LIST (\\Noselect) "." ""\r\n',
        b"A001 OK LIST completed.\r\n",
    ]


async def test_namespace_needs_authentication(imap_server: RunningServer) -> None:
    """RFC 2342 §5: valid in the authenticated and selected states only."""
    c = await imap_server.connect()
    assert await c.cmd("A001 NAMESPACE") == [b"A001 BAD [CLIENTBUG] NAMESPACE not allowed now.\r\n"]
