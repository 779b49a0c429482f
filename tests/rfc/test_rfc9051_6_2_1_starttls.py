"""RFC 9051 §6.2.1 STARTTLS, §6.2.3 LOGINDISABLED, and RFC 8314 implicit TLS, over real sockets and TLS."""

from __future__ import annotations

import pytest

from tests.conftest import RunningServer
from tests.support.rawclient import RawClientError


def strip(lines: list[bytes]) -> list[bytes]:
    return [line.rstrip(b"\r\n") for line in lines]


NOT_LOOPBACK_TRUSTED = pytest.mark.server_config(auth={"plaintext_on_loopback": False})


@NOT_LOOPBACK_TRUSTED
async def test_plaintext_session_advertises_starttls_and_logindisabled(imap_server: RunningServer) -> None:
    c = await imap_server.connect()
    assert b" STARTTLS" in c.greeting
    assert b" LOGINDISABLED" in c.greeting
    assert b"AUTH=PLAIN" not in c.greeting
    lines = strip(await c.cmd(f"a1 LOGIN {imap_server.user} x"))
    assert lines[-1].startswith(b"a1 NO [PRIVACYREQUIRED]"), lines
    lines = strip(await c.cmd("a2 AUTHENTICATE PLAIN AGFsaWNlAHg="))
    assert lines[-1].startswith(b"a2 NO [PRIVACYREQUIRED]") or lines[-1].startswith(b"a2 BAD"), lines


@NOT_LOOPBACK_TRUSTED
async def test_starttls_then_login_works_and_capabilities_change(imap_server: RunningServer) -> None:
    c = await imap_server.connect()
    lines = strip(await c.starttls(imap_server.client_ssl_context(), server_hostname="localhost"))
    assert lines == [b"tls1 OK Begin TLS negotiation now."]
    caps = strip(await c.cmd("a1 CAPABILITY"))
    assert b"STARTTLS" not in caps[0] and b"LOGINDISABLED" not in caps[0]
    assert b"AUTH=PLAIN" in caps[0]
    lines = strip(await c.cmd(f'a2 LOGIN {imap_server.user} "{imap_server.password}"'))
    assert lines[-1].startswith(b"a2 OK"), lines
    # A second STARTTLS inside TLS is refused, and the session goes on.
    lines = strip(await c.cmd("a3 STARTTLS"))
    assert lines[-1].startswith(b"a3 BAD"), lines
    assert strip(await c.cmd("a4 NOOP"))[-1].startswith(b"a4 OK")


async def test_commands_pipelined_after_starttls_are_never_executed(imap_server: RunningServer) -> None:
    """The STARTTLS command-injection class: plaintext sent behind STARTTLS must not run."""
    c = await imap_server.connect()
    await c.send_raw(f'tls1 STARTTLS\r\nevil LOGIN {imap_server.user} "{imap_server.password}"\r\n')
    first = await c.read_line()
    assert first.startswith(b"tls1 OK")
    with pytest.raises(RawClientError):
        # The server closes instead of running "evil LOGIN" or starting TLS.
        while True:
            line = await c.read_line()
            assert not line.startswith(b"evil"), line


async def test_implicit_tls_listener(imap_server: RunningServer) -> None:
    c = await imap_server.connect(tls=True)
    assert c.greeting.startswith(b"* OK [CAPABILITY")
    assert b"STARTTLS" not in c.greeting and b"LOGINDISABLED" not in c.greeting
    lines = strip(await c.cmd(f'a1 LOGIN {imap_server.user} "{imap_server.password}"'))
    assert lines[-1].startswith(b"a1 OK"), lines


async def test_tls_garbage_does_not_disturb_other_clients(imap_server: RunningServer) -> None:
    import trio

    stream = await trio.open_tcp_stream(imap_server.host, imap_server.tls_port)
    await stream.send_all(b"this is not a TLS client hello\r\n" * 4)
    with trio.move_on_after(5):
        while await stream.receive_some(4096):
            pass
    await stream.aclose()
    c = await imap_server.login(tls=True)
    assert strip(await c.cmd("a2 NOOP"))[-1].startswith(b"a2 OK")
