"""RFC 4959 §3 SASL-IR with RFC 4616 PLAIN: the initial response on the AUTHENTICATE line (the RFC's
example), ``=`` for an empty initial response, the classic exchange with an empty ``+`` challenge when no
initial response is given (RFC 9051 §6.2.2), ``*`` cancels (BAD), an authzid equal to the authcid is
accepted and a different one refused (RFC 4616 §2), and wrong credentials get AUTHENTICATIONFAILED
(RFC 5530 §3)."""

from __future__ import annotations

import base64
import re

from tests.conftest import RunningServer

LOGGED_IN = re.compile(rb"(\w+) OK \[CAPABILITY IMAP4rev1 [^\]]+\] Logged in\.\r\n")


def plain(authzid: str, authcid: str, password: str) -> str:
    """RFC 4616 §2: message = [authzid] UTF8NUL authcid UTF8NUL passwd, base64 on the wire."""
    return base64.b64encode(f"{authzid}\0{authcid}\0{password}".encode()).decode()


async def test_rfc_example_initial_response(imap_server: RunningServer) -> None:
    """§3: ``C: C01 AUTHENTICATE PLAIN AGFsaWNlAHBhc3N3b3Jk`` / ``S: C01 OK Success``."""
    c = await imap_server.connect()
    lines = await c.cmd(f"C01 AUTHENTICATE PLAIN {plain('', imap_server.user, imap_server.password)}")
    assert len(lines) == 1 and LOGGED_IN.fullmatch(lines[0]), lines
    assert (await c.cmd("C02 SELECT INBOX"))[-1] == b"C02 OK [READ-WRITE] SELECT completed.\r\n"


async def test_without_initial_response(imap_server: RunningServer) -> None:
    c = await imap_server.connect()
    await c.send_raw(b"a1 AUTHENTICATE PLAIN\r\n")
    assert await c.read_line() == b"+ \r\n"
    await c.send_raw(plain("", imap_server.user, imap_server.password).encode() + b"\r\n")
    lines = await c.read_until_tagged("a1")
    assert len(lines) == 1 and LOGGED_IN.fullmatch(lines[0]), lines


async def test_authzid_equal_to_authcid(imap_server: RunningServer) -> None:
    c = await imap_server.connect()
    lines = await c.cmd(
        f"a1 AUTHENTICATE PLAIN {plain(imap_server.user, imap_server.user, imap_server.password)}"
    )
    assert LOGGED_IN.fullmatch(lines[0]), lines


async def test_other_authzid_is_refused(imap_server: RunningServer) -> None:
    c = await imap_server.connect()
    lines = await c.cmd(f"a1 AUTHENTICATE PLAIN {plain('root', imap_server.user, imap_server.password)}")
    assert len(lines) == 1 and lines[0].startswith(b"a1 NO ["), lines


async def test_wrong_password_and_empty_initial_response(imap_server: RunningServer) -> None:
    c = await imap_server.connect()
    assert await c.cmd(f"a1 AUTHENTICATE PLAIN {plain('', imap_server.user, 'wrong')}") == [
        b"a1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"
    ]
    # "=" is an empty initial response (§3), which is not a valid PLAIN message.
    assert await c.cmd("a2 AUTHENTICATE PLAIN =") == [
        b"a2 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"
    ]


async def test_cancel_with_star(imap_server: RunningServer) -> None:
    """RFC 9051 §6.2.2: the client cancels with ``*``; the server answers BAD."""
    c = await imap_server.connect()
    await c.send_raw(b"a1 AUTHENTICATE PLAIN\r\n")
    assert await c.read_line() == b"+ \r\n"
    await c.send_raw(b"*\r\n")
    assert await c.read_until_tagged("a1") == [b"a1 BAD AUTHENTICATE cancelled.\r\n"]
    assert await c.cmd("a2 NOOP") == [b"a2 OK NOOP completed.\r\n"]


async def test_unknown_mechanism(imap_server: RunningServer) -> None:
    c = await imap_server.connect()
    lines = await c.cmd("a1 AUTHENTICATE X-UNKNOWN")
    assert len(lines) == 1 and re.match(rb"a1 (NO|BAD) ", lines[0]), lines
