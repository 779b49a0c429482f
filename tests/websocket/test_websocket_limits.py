"""WebSocket connections count against the connection limits from accept on, like TCP/TLS ones.

Was (session note, stop 10): ``server.py`` admitted a WebSocket client only after its HTTP upgrade, which
may take ``HANDSHAKE_TIMEOUT`` (30 s; plus the TLS handshake on ``wss``), so any number of half-open
connections to a ws listener were counted by no limit.  Now ``server.handle_ws`` applies the access list
and ``ConnectionLimits.try_acquire`` before the TLS and HTTP handshakes, and gives the slot back however
the connection ends (session over, plain HTTP answered, upgrade refused, handshake timed out).

A refused plain ``ws`` client gets an HTTP error (503 for a limit, 403 for the access list) after its
request head; a refused ``wss`` client is closed before the TLS handshake, as on the implicit-TLS port.

The tests run ``maildird.server.serve`` itself with ws/wss listeners and watch the server's
``ConnectionLimits`` through the ``ServerState`` they pass in (waiting for counts to change, never timing
anything).
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trio
from trio_websocket import ConnectionRejected, open_websocket_url

from maildird import auth
from maildird.config import AuthConfig, Config, Limits, Listener, MailConfig, ServerConfig, TlsConfig
from maildird.connection_state import ServerState
from maildird.server import serve
from maildird.transports.websocket import WebSocketStream
from tests.conftest import PASSWORD, USER
from tests.support.maildirs import make_maildir
from tests.support.rawclient import RawClient, client_context

HANG_GUARD = 20.0
"""Seconds before a test gives up waiting (a hang guard, not a timing assertion)."""
POLL = 0.01
UPGRADE = (
    b"GET /imap HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


@dataclass
class WsWorld:
    host: str
    ws_port: int
    wss_port: int
    state: ServerState
    ca: Any

    @property
    def counted(self) -> int:
        assert self.state.limits is not None
        return self.state.limits.total

    async def wait_counted(self, n: int) -> None:
        with trio.fail_after(HANG_GUARD):
            while self.counted != n:
                await trio.sleep(POLL)

    def url(self, *, secure: bool = False) -> str:
        return f"{'wss' if secure else 'ws'}://{self.host}:{self.wss_port if secure else self.ws_port}/imap"

    @asynccontextmanager
    async def imap(self, *, secure: bool = False) -> AsyncIterator[RawClient]:
        context = client_context(self.ca) if secure else None
        async with open_websocket_url(
            self.url(secure=secure), ssl_context=context, subprotocols=["imap"]
        ) as ws:
            client = RawClient(WebSocketStream(ws))
            client.greeting = await client.read_line()
            yield client


async def start(
    tmp_path: Path, nursery: trio.Nursery, tls_files: Any, *, allow: tuple[str, ...] = (), **limits: Any
) -> WsWorld:
    maildir = tmp_path / "Maildir"
    make_maildir(maildir, {"INBOX": [{"id": "<m1@example.org>", "subject": "Hello"}]})
    users = tmp_path / "users"
    hasher = auth.make_hasher(time_cost=1, memory_cost=8, parallelism=1)
    auth.add_user(users, USER, PASSWORD, maildir=maildir, hasher=hasher)
    ca, cert, key = tls_files
    config = Config(
        server=ServerConfig(hostname="localhost", mode="virtual", state_dir=tmp_path / "state"),
        listeners=(
            Listener("127.0.0.1", 0, tls="none", kind="ws", path="/imap", allow=allow),
            Listener("127.0.0.1", 0, tls="implicit", kind="ws", path="/imap", allow=allow),
        ),
        tls=TlsConfig(certificate=cert, private_key=key),
        auth=AuthConfig(users_file=users, failure_delay=0.0),
        mail=MailConfig(root=tmp_path),
        limits=Limits(**limits),
    )
    authenticator = auth.Authenticator(users, hasher=hasher)
    authenticator.load()
    state = ServerState()

    async def run(task_status: trio.TaskStatus[list[tuple[str, int]]] = trio.TASK_STATUS_IGNORED) -> None:
        await serve(
            config, authenticator=authenticator, handle_signals=False, task_status=task_status, state=state
        )

    (host, ws_port), (_, wss_port) = await nursery.start(run)
    return WsWorld(host, ws_port, wss_port, state, ca)


async def read_all(stream: trio.abc.Stream) -> bytes:
    data = b""
    with trio.fail_after(HANG_GUARD):
        while chunk := await stream.receive_some():
            data += chunk
    return data


@pytest.mark.parametrize("limit", ["max_connections", "max_unauth_per_ip"])
async def test_half_open_connections_count_and_the_extra_ones_are_refused(
    tmp_path: Path, nursery: trio.Nursery, tls_files: Any, limit: str
) -> None:
    world = await start(tmp_path, nursery, tls_files, **{limit: 2})
    # Two TCP connections that never start the HTTP handshake: counted at accept.
    silent = [await trio.open_tcp_stream(world.host, world.ws_port) for _ in range(2)]
    await world.wait_counted(2)

    # A WebSocket client now gets 503 with the limit's text instead of a session.
    with trio.fail_after(HANG_GUARD), pytest.raises(ConnectionRejected) as info:
        async with world.imap():
            pass
    assert info.value.status_code == 503
    assert info.value.body is not None and info.value.body.startswith(b"Too many connections")

    # The same for a raw upgrade request: the whole answer, then the server closes.
    raw = await trio.open_tcp_stream(world.host, world.ws_port)
    await raw.send_all(UPGRADE)
    answer = await read_all(raw)
    assert answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\n"), answer
    assert world.state.limits is not None
    text = world.state.limits.message(limit).encode()
    assert answer.split(b"\r\n\r\n", 1)[1] == text + b"\n", answer
    await raw.aclose()

    # On wss the refused connection is closed before any TLS handshake.
    tcp = await trio.open_tcp_stream(world.host, world.wss_port)
    tls = trio.SSLStream(tcp, client_context(world.ca), server_hostname="localhost")
    with trio.fail_after(HANG_GUARD), pytest.raises((trio.BrokenResourceError, ssl.SSLError)):
        await tls.do_handshake()
    await trio.aclose_forcefully(tls)
    assert world.counted == 2  # refusals counted nothing

    # Once the half-open connections go, normal WebSocket clients are served again (ws and wss).
    for stream in silent:
        await stream.aclose()
    await world.wait_counted(0)
    for secure in (False, True):
        async with world.imap(secure=secure) as client:
            assert client.greeting.startswith(b"* OK [CAPABILITY IMAP4rev1"), client.greeting
            assert world.counted == 1
            lines = await client.cmd(f'a1 LOGIN {USER} "{PASSWORD}"')
            assert lines[-1].startswith(b"a1 OK"), lines
            lines = await client.cmd("a2 LOGOUT")
            assert lines[-1] == b"a2 OK LOGOUT completed.\r\n"
        await world.wait_counted(0)


async def test_slot_is_given_back_when_no_session_runs(
    tmp_path: Path, nursery: trio.Nursery, tls_files: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plain HTTP request (the test page), a refused upgrade and a handshake that times out each held
    a slot while they lasted and give it back afterwards."""
    from maildird.transports import websocket

    world = await start(tmp_path, nursery, tls_files, max_connections=1)
    for request, status in (
        (b"GET /imap HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", b"HTTP/1.1 200 OK\r\n"),
        (UPGRADE.replace(b"/imap", b"/elsewhere"), b"HTTP/1.1 404 "),
    ):
        stream = await trio.open_tcp_stream(world.host, world.ws_port)
        await stream.send_all(request)
        assert (await read_all(stream)).startswith(status)
        await stream.aclose()
        await world.wait_counted(0)

    monkeypatch.setattr(websocket, "HANDSHAKE_TIMEOUT", 0.2)
    silent = await trio.open_tcp_stream(world.host, world.ws_port)
    await world.wait_counted(1)
    assert await read_all(silent) == b""  # dropped by the handshake timeout
    await silent.aclose()
    await world.wait_counted(0)
    async with world.imap() as client:
        assert client.greeting.startswith(b"* OK"), client.greeting


async def test_access_list_refuses_at_accept_with_403(
    tmp_path: Path, nursery: trio.Nursery, tls_files: Any
) -> None:
    world = await start(tmp_path, nursery, tls_files, allow=("10.0.0.0/8",))  # loopback not allowed
    with trio.fail_after(HANG_GUARD), pytest.raises(ConnectionRejected) as info:
        async with world.imap():
            pass
    assert info.value.status_code == 403
    assert info.value.body == b"Access denied.\n"
    tcp = await trio.open_tcp_stream(world.host, world.wss_port)
    tls = trio.SSLStream(tcp, client_context(world.ca), server_hostname="localhost")
    with trio.fail_after(HANG_GUARD), pytest.raises((trio.BrokenResourceError, ssl.SSLError)):
        await tls.do_handshake()
    await trio.aclose_forcefully(tls)
    assert world.counted == 0
