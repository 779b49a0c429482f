"""maildird.control: the control socket (real Unix socket, mode 0600), its JSON protocol, the CLI-side
client, and the provider built from connection objects."""

from __future__ import annotations

import json
import logging
import os
import socket
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import trio

from maildird import control
from maildird.control import ControlSocketInUse, ServerControl
from maildird.control_client import ControlError
from maildird.handlers.context import TransportInfo

ROWS = [
    {
        "user": "alice",
        "peer": "192.0.2.1:50000",
        "transport": "tls",
        "mailbox": "INBOX",
        "idling": True,
        "connected_since": "2026-11-28T06:00:00+00:00",
        "bytes_in": 120,
        "bytes_out": 4096,
    },
    {
        "user": None,
        "peer": "::1:50001",
        "transport": "tcp",
        "mailbox": None,
        "idling": False,
        "connected_since": "2026-11-28T06:01:00+00:00",
        "bytes_in": 10,
        "bytes_out": 200,
    },
]


class FakeProvider:
    def __init__(self) -> None:
        self.kicked: list[str] = []
        self.reloads = 0

    def connections(self) -> list[dict[str, Any]]:
        return list(ROWS)

    def kick(self, target: str) -> int:
        self.kicked.append(target)
        return 2 if target == "alice" else 0

    def reload(self) -> None:
        self.reloads += 1
        if self.reloads > 1:
            raise RuntimeError("users file broken")


@pytest.fixture
def sock_dir() -> Any:
    # A short path: sun_path holds 108 bytes and pytest's tmp_path can be long.
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="mdc-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def served(sock_dir: Path, nursery: trio.Nursery) -> AsyncIterator[tuple[Path, FakeProvider]]:
    provider = FakeProvider()
    path = sock_dir / "control.sock"
    started = await nursery.start(control.serve_control, path, provider)
    assert started == path
    yield path, provider


async def call(fn: Any, *args: Any) -> Any:
    return await trio.to_thread.run_sync(fn, *args)


async def test_socket_is_0600_and_ours(served: tuple[Path, FakeProvider]) -> None:
    path, _ = served
    st = os.stat(path)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_uid == os.geteuid()
    assert sorted(p.name for p in path.parent.iterdir()) == ["control.sock"]  # no staging dir left


async def test_status(served: tuple[Path, FakeProvider]) -> None:
    path, _ = served
    rows = await call(control.status, path)
    assert rows == ROWS
    reply = await call(control.request, path, {"command": "status"})
    assert reply["summary"] == "2 connections, 1 logged in (1 user), 1 idling"


async def test_kick_and_reload(served: tuple[Path, FakeProvider]) -> None:
    path, provider = served
    assert await call(control.kick, path, "alice") == 2
    assert await call(control.kick, path, "192.0.2.0/24") == 0
    assert provider.kicked == ["alice", "192.0.2.0/24"]
    await call(control.reload, path)
    assert provider.reloads == 1
    with pytest.raises(ControlError, match="reload failed: users file broken"):
        await call(control.reload, path)


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ({"command": "shutdown"}, "unknown command shutdown"),
        ({"command": "kick"}, "kick needs a target"),
        ({"command": "kick", "target": ""}, "kick needs a target"),
        ({}, "unknown command None"),
    ],
)
async def test_refused_requests(
    served: tuple[Path, FakeProvider], message: dict[str, Any], error: str
) -> None:
    path, provider = served
    with pytest.raises(ControlError, match=error):
        await call(control.request, path, message)
    assert provider.kicked == []


async def test_raw_protocol_several_requests_and_bad_json(served: tuple[Path, FakeProvider]) -> None:
    path, _ = served
    stream = await trio.open_unix_socket(str(path))
    async with stream:
        await stream.send_all(b'not json\n\n["a list"]\n{"command": "kick", "target": "alice"}\n')
        data = b""
        while data.count(b"\n") < 3:
            data += await stream.receive_some()
    replies = [json.loads(line) for line in data.splitlines()]
    assert replies == [
        {"ok": False, "error": "not a JSON object"},
        {"ok": False, "error": "not a JSON object"},
        {"ok": True, "kicked": 2},
    ]


async def test_overlong_request_is_refused(served: tuple[Path, FakeProvider]) -> None:
    path, _ = served
    stream = await trio.open_unix_socket(str(path))
    async with stream:
        await stream.send_all(b"x" * (control.MAX_REQUEST + 2))
        data = b""
        while True:
            chunk = await stream.receive_some()
            if not chunk:
                break
            data += chunk
    assert json.loads(data) == {"ok": False, "error": "request too long"}


async def test_async_provider(sock_dir: Path, nursery: trio.Nursery) -> None:
    class Async:
        async def connections(self) -> list[dict[str, Any]]:
            await trio.sleep(0)
            return ROWS[:1]

        async def kick(self, target: str) -> int:
            return 7

        async def reload(self) -> None:
            return None

    path = await nursery.start(control.serve_control, sock_dir / "a.sock", Async())
    assert await call(control.status, path) == ROWS[:1]
    assert await call(control.kick, path, "x") == 7


async def test_socket_removed_when_the_server_stops(sock_dir: Path) -> None:
    path = sock_dir / "control.sock"
    async with trio.open_nursery() as nursery:
        await nursery.start(control.serve_control, path, FakeProvider())
        assert path.exists()
        nursery.cancel_scope.cancel()
    assert not path.exists()
    with pytest.raises(ControlError, match="no control socket"):
        await call(control.status, path)


async def test_stale_socket_replaced_live_one_refused(sock_dir: Path, nursery: trio.Nursery) -> None:
    path = sock_dir / "control.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()  # the file stays, nobody listens
    with pytest.raises(ControlError, match="nobody listens"):
        await call(control.status, path)
    await nursery.start(control.serve_control, path, FakeProvider())
    assert await call(control.kick, path, "alice") == 2
    with pytest.raises(ControlSocketInUse):
        await control.serve_control(path, FakeProvider())
    assert await call(control.kick, path, "alice") == 2  # the first server is untouched


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become another user")
async def test_other_users_cannot_connect(served: tuple[Path, FakeProvider]) -> None:
    path, provider = served
    os.chmod(path.parent, 0o755)

    def as_nobody() -> str:
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            try:
                os.setgid(65534)
                os.setuid(65534)
                control.kick(path, "alice")
                out = "connected"
            except ControlError as exc:
                out = str(exc)
            except BaseException as exc:
                out = repr(exc)
            os.write(write_fd, out.encode())
            os._exit(0)
        os.close(write_fd)
        with os.fdopen(read_fd) as f:
            out = f.read()
        os.waitpid(pid, 0)
        return out

    out = await trio.to_thread.run_sync(as_nobody)
    assert "permission denied" in out
    assert provider.kicked == []


# --------------------------------------------------------------------------------------------------------
# ServerControl over connection-like objects
# --------------------------------------------------------------------------------------------------------


class FakeConn:
    def __init__(self, user: str | None, peer: str, kind: str, mailbox: str | None, at: float) -> None:
        transport = TransportInfo(kind, kind != "tcp", peer, "127.0.0.1:993", False, False)  # type: ignore[arg-type]
        selected = SimpleNamespace(name=mailbox) if mailbox else None
        self.ctx = SimpleNamespace(user=user, transport=transport, selected=selected)
        self.bytes_in, self.bytes_out, self.idling, self.connected_at = 11, 22, mailbox == "INBOX", at
        self.kicks: list[str] = []

    def kick(self, text: str) -> None:
        self.kicks.append(text)


async def test_server_control_rows_and_kick() -> None:
    now = trio.current_time()
    conns = {
        FakeConn("alice", "192.0.2.1:1000", "tls", "INBOX", now - 60),
        FakeConn("alice", "2001:db8::5:1001", "tcp", None, now - 30),
        FakeConn("bob", "::ffff:192.0.2.9:1002", "wss", "Sent", now - 10),
        FakeConn(None, "198.51.100.1:1003", "tcp", None, now),
    }
    reloads: list[int] = []
    provider = ServerControl(conns, lambda: reloads.append(1))
    rows = provider.connections()
    assert [r["peer"] for r in rows] == [
        "192.0.2.1:1000",
        "2001:db8::5:1001",
        "::ffff:192.0.2.9:1002",
        "198.51.100.1:1003",
    ]  # oldest first
    assert rows[0] == {
        "user": "alice",
        "peer": "192.0.2.1:1000",
        "transport": "tls",
        "mailbox": "INBOX",
        "idling": True,
        "connected_since": rows[0]["connected_since"],
        "bytes_in": 11,
        "bytes_out": 22,
    }
    assert rows[0]["connected_since"].endswith("+00:00")
    assert rows[3]["user"] is None and rows[3]["mailbox"] is None
    json.dumps(rows)  # what the socket sends

    assert provider.kick("alice") == 2
    assert provider.kick("192.0.2.0/24") == 2  # alice's IPv4 and bob's IPv4-mapped address
    assert provider.kick("2001:db8::/32") == 1
    assert provider.kick("[2001:db8::5]") == 1
    assert provider.kick("carol") == 0
    kicked = {c.ctx.transport.peer: len(c.kicks) for c in conns}
    assert kicked == {
        "192.0.2.1:1000": 2,
        "2001:db8::5:1001": 3,
        "::ffff:192.0.2.9:1002": 1,
        "198.51.100.1:1003": 0,
    }
    assert all(t == ServerControl.KICK_TEXT for c in conns for t in c.kicks)
    provider.reload()
    assert reloads == [1]


def test_status_line_and_table() -> None:
    assert control.status_line([]) == "0 connections, 0 logged in (0 users), 0 idling"
    table = control.format_status(ROWS).splitlines()
    assert table[0].split() == [
        "user",
        "peer",
        "transport",
        "mailbox",
        "idle",
        "connected",
        "since",
        "in",
        "out",
    ]
    assert table[1].split() == [
        "alice",
        "192.0.2.1:50000",
        "tls",
        "INBOX",
        "yes",
        ROWS[0]["connected_since"],
        "120",
        "4096",
    ]
    assert table[2].split() == ["-", "::1:50001", "tcp", "-", "no", ROWS[1]["connected_since"], "10", "200"]
    assert table[3] == "2 connections, 1 logged in (1 user), 1 idling"
    # A forged user name cannot add lines to the table.
    forged = [{**ROWS[0], "user": "evil\nroot"}]
    assert len(control.format_status(forged).splitlines()) == 3


async def test_long_socket_path(sock_dir: Path, nursery: trio.Nursery) -> None:
    """sun_path holds 108 bytes; a longer path still works (through /proc/self/fd)."""
    deep = sock_dir / ("d" * 60) / ("e" * 60)
    path = deep / "control.sock"
    assert len(str(path)) > 120
    await nursery.start(control.serve_control, path, FakeProvider())
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert await call(control.kick, path, "alice") == 2


async def test_run_control_goes_on_without_a_socket(
    sock_dir: Path, nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    path = sock_dir / "control.sock"
    await nursery.start(control.serve_control, path, FakeProvider())
    # Capture on the module's logger itself: "maildird" may not propagate once logging is set up.
    logger = logging.getLogger("maildird.control")
    logger.addHandler(caplog.handler)
    try:
        assert await nursery.start(control.run_control, path, FakeProvider()) is None  # in use
        blocker = sock_dir / "file"
        blocker.write_text("")
        assert await nursery.start(control.run_control, blocker / "control.sock", FakeProvider()) is None
    finally:
        logger.removeHandler(caplog.handler)
    errors = {
        r.getMessage() for r in caplog.records if r.levelname == "ERROR"
    }  # a set: root may see them too
    assert len(errors) == 2 and all(m.startswith("no control socket at ") for m in errors)
    assert await nursery.start(control.run_control, sock_dir / "other.sock", FakeProvider()) == (
        sock_dir / "other.sock"
    )
