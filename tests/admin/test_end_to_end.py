"""Issue 9 over IMAP, against a running maildird: access lists, connection limits, the control socket
(``status`` lists exactly the open connections, ``kick``), plug-ins from outside the package serving a
client, and the privilege drop with its pid file.

These need the runtime's hooks (maildird/server.py and maildird/connection.py call maildird.access,
control, plugins and privileges); until they land each test is an expected failure, named after its hook.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

from maildird import auth, control
from maildird.config import AuthConfig, Config, Limits, Listener, MailConfig, ServerConfig
from maildird.server import serve
from tests.admin.testdist import PASSWORD as PLUGIN_PASSWORD
from tests.admin.testdist import REPO, SUBJECT, environment, write_distribution
from tests.admin.testdist import USER as PLUGIN_USER
from tests.support.maildirs import make_maildir
from tests.support.rawclient import RawClient, RawClientError

USER, PASSWORD = "alice", "pw"
#: Hang protection only (the subprocess servers); no test asserts on time.
TIMEOUT = 60


def hook(name: str) -> pytest.MarkDecorator:
    """Names the runtime hook a test exercises (the hooks are in server.py and connection.py)."""
    return pytest.mark.hook(name)


@pytest.fixture
def world_dir() -> Iterator[Path]:
    """Short (sun_path) and reachable by every account (pytest's tmp_path sits under a 0700 directory)."""
    path = Path(tempfile.mkdtemp(prefix="mde2e-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def base_config(root: Path, *listeners: Listener, **limits: Any) -> Config:
    maildir = root / "Maildir"
    make_maildir(maildir, {"INBOX": [{"id": "<m1@x>", "subject": "one"}]})
    users = root / "users"
    hasher = auth.make_hasher(time_cost=1, memory_cost=8, parallelism=1)
    auth.add_user(users, USER, PASSWORD, maildir=maildir, hasher=hasher)
    auth.add_user(users, "bob", PASSWORD, maildir=maildir, hasher=hasher)
    return Config(
        server=ServerConfig(state_dir=root / "state"),
        listeners=listeners or (Listener("127.0.0.1", 0, tls="none"),),
        auth=AuthConfig(users_file=users, failure_delay=0.0),
        mail=MailConfig(root=root),
        limits=Limits(**limits),
    )


async def start(nursery: trio.Nursery, config: Config) -> list[tuple[str, int]]:
    async def run(task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
        await serve(config, handle_signals=False, task_status=task_status)

    addresses: list[tuple[str, int]] = await nursery.start(run)
    return addresses


async def login(port: int, user: str = USER) -> RawClient:
    client = await RawClient.connect("127.0.0.1", port)
    lines = await client.cmd(f"L LOGIN {user} {PASSWORD}")
    assert lines[-1].startswith(b"L OK"), lines
    return client


# --------------------------------------------------------------------------------------------------------
# Access lists
# --------------------------------------------------------------------------------------------------------


@hook("server.py handle_stream: AccessList.check + access_denied_bye")
async def test_denied_address_refused_before_any_command(world_dir: Path, nursery: trio.Nursery) -> None:
    config = base_config(
        world_dir,
        Listener("127.0.0.1", 0, tls="none", allow=("10.0.0.0/8",)),  # loopback not allowed
        Listener("127.0.0.1", 0, tls="none", allow=("127.0.0.0/8",), deny=("127.0.0.1",)),  # deny wins
        Listener("127.0.0.1", 0, tls="none", allow=("127.0.0.0/8", "::1")),
    )
    (_, refused), (_, denied), (_, allowed) = await start(nursery, config)
    for port in (refused, denied):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        received = b""
        with trio.fail_after(TIMEOUT):
            while b"\r\n" not in received:
                received += await stream.receive_some()
            assert received == b"* BYE Access denied.\r\n"
            assert await stream.receive_some() == b""  # and then the connection is closed
        await stream.aclose()
    client = await RawClient.connect("127.0.0.1", allowed)
    assert client.greeting.startswith(b"* OK")
    await client.aclose()


# --------------------------------------------------------------------------------------------------------
# Connection limits
# --------------------------------------------------------------------------------------------------------


@hook("connection.py _after_command: ConnectionLimits.try_acquire(ip, user); server.py release")
async def test_user_ip_limit_holds_under_a_burst(world_dir: Path, nursery: trio.Nursery) -> None:
    config = base_config(world_dir, max_connections_per_user_ip=3)
    ((_, port),) = await start(nursery, config)
    results: list[tuple[RawClient, list[bytes]]] = []

    async def one() -> None:
        client = await RawClient.connect("127.0.0.1", port)
        try:
            lines = await client.cmd(f"L LOGIN {USER} {PASSWORD}")
        except RawClientError as exc:  # BYE, then the server closed: no tagged line
            lines = exc.lines
        results.append((client, lines))

    async with trio.open_nursery() as burst:
        for _ in range(10):
            burst.start_soon(one)
    ok = [c for c, lines in results if lines and lines[-1].startswith(b"L OK")]
    refused = [lines for _, lines in results if not (lines and lines[-1].startswith(b"L OK"))]
    assert len(ok) == 3
    assert len(refused) == 7
    for lines in refused:
        assert lines[0] == (
            b"* BYE [UNAVAILABLE] Too many sessions for this user from your address (3); "
            b"close some in other clients.\r\n"
        )
    for client in ok:  # nothing else disturbed
        assert (await client.cmd("N NOOP"))[-1].startswith(b"N OK")
    other = await login(port, "bob")  # another user from the same address is fine
    await ok[0].cmd("O LOGOUT")
    again = await login(port)  # a slot came free
    for c in [*ok[1:], other, again]:
        await c.aclose()


@hook("server.py handle_stream: ConnectionLimits.try_acquire(ip) at accept")
async def test_total_limit_refuses_at_accept(world_dir: Path, nursery: trio.Nursery) -> None:
    config = base_config(world_dir, max_connections=2)
    ((_, port),) = await start(nursery, config)
    first, second = await login(port), await RawClient.connect("127.0.0.1", port)
    third = await RawClient.connect("127.0.0.1", port)
    assert (
        third.greeting == b"* BYE [UNAVAILABLE] Too many connections to this server (2); try again later.\r\n"
    )
    await third.aclose()
    await second.aclose()
    with trio.fail_after(TIMEOUT):
        while True:  # the server notices the close
            fourth = await RawClient.connect("127.0.0.1", port)
            if fourth.greeting.startswith(b"* OK"):
                break
            await fourth.aclose()
            await trio.sleep(0.01)
    await fourth.aclose()
    await first.aclose()


# --------------------------------------------------------------------------------------------------------
# The control socket
# --------------------------------------------------------------------------------------------------------


async def wait_for_status(path: Path, count: int) -> list[dict[str, Any]]:
    """``status`` once it lists ``count`` connections (clients come and go asynchronously)."""
    with trio.fail_after(TIMEOUT):
        while True:
            rows = await trio.to_thread.run_sync(control.status, path)
            if len(rows) == count:
                return rows
            await trio.sleep(0.01)


@hook("server.py: control.run_control(ServerControl(state.connections, reload)); connection.py kick()")
async def test_status_lists_exactly_the_open_connections(world_dir: Path, nursery: trio.Nursery) -> None:
    config = base_config(world_dir)
    ((_, port),) = await start(nursery, config)
    path = config.server.control_socket_path
    assert path.exists()
    assert await wait_for_status(path, 0) == []

    a = await login(port)
    await a.cmd("S SELECT INBOX")
    b = await RawClient.connect("127.0.0.1", port)
    c = await login(port, "bob")
    await c.send_raw(b"I IDLE\r\n")
    assert (await c.read_line()).startswith(b"+ ")

    rows = await wait_for_status(path, 3)
    by_user = {r["user"]: r for r in rows}
    assert set(by_user) == {USER, "bob", None}
    assert by_user[USER]["mailbox"] == "INBOX" and by_user[USER]["idling"] is False
    assert by_user["bob"]["idling"] is True and by_user["bob"]["mailbox"] is None
    assert by_user[None]["mailbox"] is None
    assert all(r["transport"] == "tcp" and r["peer"].startswith("127.0.0.1:") for r in rows)
    assert by_user[USER]["bytes_in"] == len(f"L LOGIN {USER} {PASSWORD}\r\nS SELECT INBOX\r\n")
    assert by_user[USER]["bytes_out"] > by_user[None]["bytes_out"] > 0

    await b.aclose()
    assert {r["user"] for r in await wait_for_status(path, 2)} == {USER, "bob"}

    assert await trio.to_thread.run_sync(control.kick, path, "bob") == 1
    assert await c.read_line() == b"* BYE Disconnected by the administrator.\r\n"
    assert [r["user"] for r in await wait_for_status(path, 1)] == [USER]
    assert await trio.to_thread.run_sync(control.kick, path, "127.0.0.0/8") == 1
    assert await a.read_line() == b"* BYE Disconnected by the administrator.\r\n"
    await wait_for_status(path, 0)
    await trio.to_thread.run_sync(control.reload, path)
    for client in (a, c):
        await client.aclose()


# --------------------------------------------------------------------------------------------------------
# Subprocess servers: plug-ins from outside the package, the privilege drop
# --------------------------------------------------------------------------------------------------------

SERVE_SCRIPT = """
import json, sys, trio
from pathlib import Path
from maildird.config import AuthConfig, Config, Listener, MailConfig, ServerConfig
from maildird.server import serve
{setup}
async def main():
    async with trio.open_nursery() as nursery:
        addresses = await nursery.start(lambda task_status: serve(config, task_status=task_status, **kwargs))
        print(json.dumps(addresses), flush=True)

trio.run(main)
"""


@pytest.fixture
async def subprocess_server(nursery: trio.Nursery) -> AsyncIterator[Any]:
    procs: list[trio.Process] = []

    async def run(setup: str, env: dict[str, str] | None = None) -> tuple[trio.Process, int, list[str]]:
        script = SERVE_SCRIPT.format(setup=textwrap.dedent(setup))
        proc: trio.Process = await nursery.start(
            lambda task_status: trio.run_process(
                [sys.executable, "-c", script],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=REPO,
                check=False,
                task_status=task_status,
            )
        )
        procs.append(proc)
        assert proc.stdout is not None
        output = b""
        with trio.fail_after(TIMEOUT):
            while b"\n" not in output:
                chunk = await proc.stdout.receive_some()
                if not chunk:
                    raise AssertionError(f"server exited: {output.decode()}")
                output += chunk
        first, _, rest = output.partition(b"\n")
        try:
            ((_, port),) = json.loads(first)
        except json.JSONDecodeError:
            raise AssertionError(output.decode()) from None
        return proc, port, [rest.decode()]

    yield run
    for proc in procs:
        if proc.returncode is None:
            proc.kill()


@hook(
    "server.py build_services: plugins.make_authenticator/make_store_factory; connection.py plugins.dispatch"
)
async def test_plugins_serve_a_client_end_to_end(world_dir: Path, subprocess_server: Any) -> None:
    site = write_distribution(world_dir / "site")
    setup = f"""
    config = Config(
        server=ServerConfig(state_dir=Path({str(world_dir / "state")!r}), allow_root=True),
        listeners=(Listener("127.0.0.1", 0, tls="none"),),
        auth=AuthConfig(backend="test-auth"),
        mail=MailConfig(store="mem"),
    )
    kwargs = {{}}
    """
    _proc, port, _ = await subprocess_server(setup, environment(site))
    client = await RawClient.connect("127.0.0.1", port)
    assert (await client.cmd(f"A LOGIN {PLUGIN_USER} wrong"))[-1].startswith(b"A NO")
    assert (await client.cmd(f"B LOGIN {PLUGIN_USER} {PLUGIN_PASSWORD}"))[-1].startswith(b"B OK")
    lines = await client.cmd("C SELECT INBOX")
    assert b"* 1 EXISTS\r\n" in lines and lines[-1].startswith(b"C OK")
    lines = await client.cmd("D FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]")
    assert f"Subject: {SUBJECT}".encode() in b"".join(lines)
    assert await client.cmd("E XHELLO world") == [
        b'* XHELLO "tester" "world"\r\n',
        b"E OK XHELLO completed.\r\n",
    ]
    assert await client.cmd("F XHELLO fail") == [b"F NO XHELLO refused.\r\n"]
    assert await client.cmd("G XHELLO perm") == [b"G NO [NOPERM] not yours\r\n"]
    assert (await client.cmd("H LOGOUT"))[-1].startswith(b"H OK")
    await client.aclose()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: the drop is from root")
@hook("server.py serve(manage_privileges=True): PidFile + privileges.apply after binding")
async def test_root_start_drops_to_the_service_user(world_dir: Path, subprocess_server: Any) -> None:
    state = world_dir / "state"
    state.mkdir()
    os.chown(state, 65534, 65534)  # the service account's, as systemd's StateDirectory= would make it
    pid_path = world_dir / "run" / "maildird.pid"
    config = base_config(world_dir)
    setup = f"""
    config = Config(
        server=ServerConfig(state_dir=Path({str(state)!r}), user="nobody", group="nogroup",
                            pid_file=Path({str(pid_path)!r})),
        listeners=(Listener("127.0.0.1", 0, tls="none"),),
        auth=AuthConfig(users_file=Path({str(config.auth.users_file)!r})),
        mail=MailConfig(root=Path({str(world_dir)!r})),
    )
    kwargs = {{"manage_privileges": True}}
    """
    proc, port, _ = await subprocess_server(setup)
    client = await RawClient.connect("127.0.0.1", port)
    assert client.greeting.startswith(b"* OK")
    status = Path(f"/proc/{proc.pid}/status").read_text()
    ids = {
        line.split(":")[0]: line.split()[1:]
        for line in status.splitlines()
        if line.startswith(("Uid", "Gid"))
    }
    assert ids == {"Uid": ["65534"] * 4, "Gid": ["65534"] * 4}  # real, effective, saved, filesystem
    assert pid_path.read_text() == f"{proc.pid}\n"
    sock = state / "control.sock"
    assert sock.stat().st_uid == 65534 and sock.stat().st_mode & 0o777 == 0o600
    await client.aclose()
    proc.send_signal(signal.SIGTERM)
    with trio.fail_after(TIMEOUT):
        await proc.wait()
    assert proc.returncode == 0
    assert not pid_path.exists()  # removed at exit by the unprivileged process
    assert not sock.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
@hook("server.py serve(manage_privileges=True): privileges.apply refuses root")
async def test_cli_refuses_to_serve_as_root_in_virtual_mode(world_dir: Path) -> None:
    config = base_config(world_dir)
    with socket.socket() as probe:  # a free port (the server binds it before refusing)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    path = world_dir / "maildird.toml"
    path.write_text(
        f'[server]\nstate_dir = "{world_dir / "state"}"\n'
        f'[[listen]]\naddress = "127.0.0.1"\nport = {port}\ntls = "none"\n'
        f'[auth]\nusers_file = "{config.auth.users_file}"\n'
    )
    proc = await trio.lowlevel.open_process(
        [sys.executable, "-m", "maildird", "serve", "--config", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=REPO,
    )
    stderr = b""
    try:
        assert proc.stderr is not None
        with trio.fail_after(TIMEOUT):
            while chunk := await proc.stderr.receive_some():
                stderr += chunk
                assert b"listening on" not in stderr, "served as root"
            await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 78, stderr
    assert b"refusing to serve mail as root" in stderr
