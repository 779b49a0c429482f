"""The seed's connection limits (unauth_commands, unauth_idle, auth_idle), bad-command and login limits,
shutdown, and hostile input: each gives the client a clear response and leaves the server serving.

Timer tests run the real driver (ClientConnection) over an in-memory stream with Trio's
autojump clock, so "five minutes of silence" takes no real time.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import trio
import trio.testing

from maildird import auth
from maildird.config import AuthConfig, Config, Limits, MailConfig, ServerConfig
from maildird.connection import ClientConnection
from maildird.connection_state import ServerState
from maildird.handlers.context import TransportInfo
from maildird.server import build_services
from tests.conftest import RunningServer
from tests.support.maildirs import make_maildir

LOOPBACK = TransportInfo("tcp", False, "127.0.0.1:5555", "127.0.0.1:1430", True, False)


def strip(lines: list[bytes]) -> list[bytes]:
    return [line.rstrip(b"\r\n") for line in lines]


def _services(tmp_path: Path, failure_delay: float = 0.0, **limits: object):  # type: ignore[no-untyped-def]
    maildir = tmp_path / "Maildir"
    make_maildir(maildir, {"INBOX": [{"id": "<a@x>", "subject": "hi"}]})
    users = tmp_path / "users"
    hasher = auth.make_hasher(time_cost=1, memory_cost=8, parallelism=1)
    auth.add_user(users, "u", "p", maildir=maildir, hasher=hasher)
    authenticator = auth.Authenticator(users, hasher=hasher)
    authenticator.load()
    config = Config(
        server=ServerConfig(state_dir=tmp_path / "state"),
        auth=AuthConfig(users_file=users, failure_delay=failure_delay),
        mail=MailConfig(root=tmp_path),
        limits=Limits(**limits),  # type: ignore[arg-type]
    )
    return build_services(config, None, None, authenticator=authenticator)


class Peer:
    """The client end of a memory stream, reading whole lines."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.buf = b""

    async def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            data = await self.stream.receive_some()
            if not data:
                raise EOFError(self.buf)
            self.buf += data
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    async def until(self, tag: bytes) -> list[bytes]:
        out = []
        while True:
            out.append(await self.line())
            if out[-1].startswith(tag + b" "):
                return out

    async def closed(self) -> bool:
        try:
            while True:
                if not await self.stream.receive_some():
                    return True
        except trio.BrokenResourceError:
            return True


async def _start(nursery: trio.Nursery, services, state: ServerState | None = None) -> Peer:  # type: ignore[no-untyped-def]
    server_side, client_side = trio.testing.memory_stream_pair()
    conn = ClientConnection(server_side, services, LOOPBACK, state or ServerState())
    nursery.start_soon(conn.run)
    peer = Peer(client_side)
    assert (await peer.line()).startswith(b"* OK [CAPABILITY")
    return peer


async def test_unauthenticated_idle_client_is_logged_out(
    tmp_path: Path, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    peer = await _start(nursery, _services(tmp_path, unauth_idle=300.0))
    start = trio.current_time()
    assert await peer.line() == b"* BYE Autologout; idle for too long."
    assert trio.current_time() - start == pytest.approx(300.0)
    assert await peer.closed()


async def test_authenticated_idle_timeout_is_longer(
    tmp_path: Path, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    peer = await _start(nursery, _services(tmp_path, unauth_idle=300.0, auth_idle=1800.0))
    await peer.stream.send_all(b"a1 LOGIN u p\r\n")
    assert (await peer.until(b"a1"))[-1].startswith(b"a1 OK")
    start = trio.current_time()
    assert await peer.line() == b"* BYE Autologout; idle for too long."
    assert trio.current_time() - start == pytest.approx(1800.0)


async def test_too_many_commands_before_login(tmp_path: Path, nursery: trio.Nursery) -> None:
    peer = await _start(nursery, _services(tmp_path, unauth_commands=10))
    for i in range(10):
        await peer.stream.send_all(b"n%d NOOP\r\n" % i)
        assert (await peer.until(b"n%d" % i))[-1] == b"n%d OK NOOP completed." % i
    await peer.stream.send_all(b"n10 NOOP\r\n")
    assert await peer.line() == b"* BYE Too many commands before authentication."
    assert await peer.closed()


async def test_too_many_bad_commands_in_a_row(tmp_path: Path, nursery: trio.Nursery) -> None:
    peer = await _start(nursery, _services(tmp_path, max_bad_commands=3, unauth_commands=100))
    for i in range(3):
        await peer.stream.send_all(b"b%d FROBNICATE\r\n" % i)
        assert (await peer.line()).startswith(b"b%d BAD" % i)
    await peer.stream.send_all(b"b3 FROBNICATE\r\n")
    lines = [await peer.line()]
    if not lines[0].startswith(b"* BYE"):
        lines.append(await peer.line())
    assert lines[-1].startswith(b"* BYE"), lines
    assert await peer.closed()


async def test_failed_logins_close_the_connection(tmp_path: Path, nursery: trio.Nursery) -> None:
    peer = await _start(nursery, _services(tmp_path, login_failures_before_disconnect=3))
    for i in range(3):
        await peer.stream.send_all(b"l%d LOGIN u wrong\r\n" % i)
        assert (await peer.until(b"l%d" % i))[-1].startswith(b"l%d NO [AUTHENTICATIONFAILED]" % i)
    assert await peer.line() == b"* BYE Too many failed logins."
    assert await peer.closed()


async def test_shutdown_sends_bye_unavailable_to_waiting_clients(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    state = ServerState()
    services = _services(tmp_path)
    server_side, client_side = trio.testing.memory_stream_pair()
    conn = ClientConnection(server_side, services, LOOPBACK, state)
    nursery.start_soon(conn.run)
    peer = Peer(client_side)
    await peer.line()
    await trio.testing.wait_all_tasks_blocked()
    state.shutting_down.set()
    conn.interrupt_for_shutdown()
    assert await peer.line() == b"* BYE [UNAVAILABLE] Server shutting down."
    assert await peer.closed()


HOSTILE = [
    b'a1 LOGIN "unbalanced\r\n',
    b"a2 SELECT \x00INBOX\r\n",
    b"a3 FETCH 1:* (((((((((((((((((((((((((((((((((((((((((((((((((((\r\n",
    b"\xff\xfe\xfd 8-bit tag\r\n",
    b"a4 APPEND INBOX {99999999999}\r\n",
    b"a5 SEARCH " + b"NOT " * 5000 + b"ALL\r\n",
    b"a6 LOGIN {5}\r\nab\r\n",
    b"*\r\n",
    b"+\r\n",
    b"a7 UID FROB 1\r\n",
    b"a8 STORE 1 +FLAGS (\\Recent)\r\n",
    b'a9 LIST "" "\\"\r\n',
    b"a10 " + b"x" * 70000 + b"\r\n",
]


async def test_hostile_lines_get_bad_or_no_and_the_connection_goes_on(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    assert strip(await c.cmd("s1 SELECT INBOX"))[-1].startswith(b"s1 OK")
    for i, line in enumerate(HOSTILE):
        await c.send_raw(line)
        early: list[bytes] = []
        if line.endswith(b"}\r\n"):
            # A synchronizing literal: its refusal must arrive before we send anything else (bytes
            # sent behind a refused literal could be its octets, so the server would close).
            early.append((await c.read_line()).rstrip(b"\r\n"))
        await c.send_raw(b"\r\nz%d NOOP\r\n" % i)
        lines = early + strip(await c.read_until_tagged(b"z%d" % i))
        assert lines[-1].startswith(b"z%d OK" % i), (line[:40], lines)
        for response in lines[:-1]:
            # Every answer is a well-formed status line, never a crash or a raw echo.
            assert response.split(b" ")[1] in (b"BAD", b"NO", b"OK") or response.startswith(b"+"), response


@pytest.mark.server_config(max_bad_commands=5000)
async def test_a_thousand_random_hostile_commands_leave_the_server_serving(
    imap_server: RunningServer,
) -> None:
    rng = random.Random(20261128)
    verbs = [b"FETCH", b"STORE", b"SEARCH", b"SELECT", b"LIST", b"UID", b"APPEND", b"COPY", b"STATUS", b"XYZ"]
    alphabet = b'()[]{}<>"\\*%$:,.+-~ \x00\x01\x7f\x80\xffaZ09'
    c = await imap_server.login()
    await c.cmd("s1 SELECT INBOX")
    for i in range(1000):
        junk = bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))
        # Never announce a literal: the server would rightly wait for its octets.
        junk = junk.replace(b"{", b"(").replace(b"}", b")")
        await c.send_raw(b"h%d " % i + rng.choice(verbs) + b" " + junk + b"\r\n")
        if i % 100 == 99:
            lines = strip(await c.cmd(f"p{i} NOOP"))
            assert lines[-1].startswith(b"p%d OK" % i), lines[-3:]
    fresh = await imap_server.login()
    assert strip(await fresh.cmd("f1 SELECT INBOX"))[-1].startswith(b"f1 OK")


async def test_a_flood_of_bad_commands_ends_that_session_only(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    for i in range(imap_server.config.limits.max_bad_commands + 5):
        try:
            await c.send_raw(b"x%d FROB\r\n" % i)
        except trio.BrokenResourceError:
            break
    lines = []
    try:
        while True:
            lines.append(await c.read_line())
    except Exception:
        pass
    assert any(line.startswith(b"* BYE") for line in lines), lines[-3:]
    other = await imap_server.login()
    assert strip(await other.cmd("o1 NOOP"))[-1].startswith(b"o1 OK")


async def test_failed_logins_wait_longer_each_time_per_address(
    tmp_path: Path, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    """Dovecot's auth_failure_delay grown by the anvil penalty: 2, 4, 8 s for one address."""
    from maildird.auth import LoginPenalty

    services = _services(tmp_path, failure_delay=2.0, login_failures_before_disconnect=10)
    state = ServerState(penalty=LoginPenalty(2.0, 15.0, clock=trio.current_time))
    peer = await _start(nursery, services, state)
    waits = []
    for i in range(3):
        start = trio.current_time()
        await peer.stream.send_all(b"l%d LOGIN u wrong%d\r\n" % (i, i))
        assert (await peer.until(b"l%d" % i))[-1].startswith(b"l%d NO [AUTHENTICATIONFAILED]" % i)
        waits.append(round(trio.current_time() - start))
    assert waits == [2, 4, 8]
    start = trio.current_time()
    await peer.stream.send_all(b"ok LOGIN u p\r\n")
    assert (await peer.until(b"ok"))[-1].startswith(b"ok OK")
    assert trio.current_time() - start < 1
    assert state.penalty is not None and state.penalty.failures("127.0.0.1") == 0
