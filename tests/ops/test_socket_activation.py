"""Socket activation (sd_listen_fds(3)) with real sockets handed to a real child process.

Two launchers: ``fdexec.py`` (ours: moves the fds to 3.. and sets LISTEN_* before exec, like systemd) and,
when installed, systemd's own ``systemd-socket-activate``, which needs no running systemd.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from maildird import systemd
from maildird.config import Listener

HERE = Path(__file__).parent
FDEXEC = HERE / "fdexec.py"
FDCHILD = HERE / "fdchild.py"
REPO = HERE.parent.parent
#: Hang protection only (a wedged child fails the test instead of the suite).
CHILD_TIMEOUT = 30.0


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


HAS_IPV6 = _ipv6_loopback()


def _listening(family: socket.AddressFamily, host: str, *, v6only: bool = True) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, int(v6only))
    sock.bind((host, 0))
    sock.listen()
    return sock


@pytest.fixture
def two_sockets() -> Iterator[list[socket.socket]]:
    second = (socket.AF_INET6, "::1") if HAS_IPV6 else (socket.AF_INET, "127.0.0.1")
    socks = [_listening(socket.AF_INET, "127.0.0.1"), _listening(*second)]
    yield socks
    for s in socks:
        s.close()


def _run_child(
    fds: list[int],
    *extra: str,
    names: str | None = None,
    pid: str = "self",
    connect_to: tuple[str, int] | None = None,
) -> tuple[dict[str, object], bytes]:
    """Launch fdchild under fdexec with ``fds``; optionally connect first so ``--greet`` has a client."""
    argv = [sys.executable, str(FDEXEC), "--fds", ",".join(map(str, fds)), "--pid", pid]
    if names is not None:
        argv += ["--names", names]
    argv += ["--", sys.executable, str(FDCHILD), *extra]
    client = socket.create_connection(connect_to) if connect_to else None
    try:
        proc = subprocess.run(
            argv,
            pass_fds=fds,
            capture_output=True,
            timeout=CHILD_TIMEOUT,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        greeting = b""
        if client is not None:
            client.settimeout(CHILD_TIMEOUT)
            greeting = client.recv(4096)
    finally:
        if client is not None:
            client.close()
    assert proc.stderr == b""
    return json.loads(proc.stdout.splitlines()[0]), greeting


def test_child_adopts_sockets_with_names(two_sockets: list[socket.socket]) -> None:
    a, b = two_sockets
    fds = [a.fileno(), b.fileno()]
    report, greeting = _run_child(fds, "--greet", names="imap:imaps", connect_to=a.getsockname()[:2])
    assert report["env"] == []  # LISTEN_* removed after adoption
    sockets = report["sockets"]
    assert isinstance(sockets, list)
    assert [(s["name"], s["fd"]) for s in sockets] == [("imap", 3), ("imaps", 4)]
    assert [s["family"] for s in sockets] == [a.family.name, b.family.name]
    assert [s["type"] for s in sockets] == ["SOCK_STREAM", "SOCK_STREAM"]
    assert [tuple(s["sockname"]) for s in sockets] == [a.getsockname()[:2], b.getsockname()[:2]]
    assert [s["inheritable"] for s in sockets] == [False, False]  # FD_CLOEXEC set
    assert greeting == b"* OK adopted imap\r\n"


def test_names_default_to_unknown(two_sockets: list[socket.socket]) -> None:
    report, _ = _run_child([s.fileno() for s in two_sockets])
    sockets = report["sockets"]
    assert isinstance(sockets, list)
    assert [s["name"] for s in sockets] == ["unknown", "unknown"]


def test_mismatched_name_count_falls_back_to_unknown(two_sockets: list[socket.socket]) -> None:
    report, _ = _run_child([s.fileno() for s in two_sockets], names="imap")
    sockets = report["sockets"]
    assert isinstance(sockets, list)
    assert [s["name"] for s in sockets] == ["unknown", "unknown"]


def test_sockets_for_another_pid_are_ignored_and_env_unset(two_sockets: list[socket.socket]) -> None:
    report, _ = _run_child([s.fileno() for s in two_sockets], names="imap:imaps", pid="other")
    assert report["sockets"] == []
    assert report["env"] == []


def test_a_pipe_is_refused() -> None:
    r, w = os.pipe()
    try:
        report, _ = _run_child([r])
    finally:
        os.close(r)
        os.close(w)
    assert "error" in report
    assert "inherited fd 3 (unknown) is not a socket" in str(report["error"])
    assert report["env"] == []


def test_not_socket_activated_in_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        monkeypatch.delenv(name, raising=False)
    assert systemd.listen_fds() == []
    monkeypatch.setenv("LISTEN_PID", str(os.getpid() + 1))
    monkeypatch.setenv("LISTEN_FDS", "2")
    assert systemd.listen_fds() == []
    assert "LISTEN_FDS" not in os.environ and "LISTEN_PID" not in os.environ


# ----------------------------------------------------------------------------------------------------------
# Matching inherited sockets to [[listen]] entries (in process, real sockets)
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spot:
    address: str
    port: int


def test_match_listener_by_address_and_port(two_sockets: list[socket.socket]) -> None:
    a, b = two_sockets
    a_port, b_port = a.getsockname()[1], b.getsockname()[1]
    assert systemd.match_listener(two_sockets, "127.0.0.1", a_port) == [a]
    assert systemd.match_listener(two_sockets, "127.0.0.1", a_port + 1 if a_port < 65535 else 1) == []
    assert systemd.match_listener(two_sockets, "0.0.0.0", a_port) == []
    second_host = "::1" if HAS_IPV6 else "127.0.0.1"
    assert systemd.match_listener(two_sockets, second_host, b_port) == [b]


def test_localhost_matches_both_loopback_sockets() -> None:
    if not HAS_IPV6:
        pytest.skip("no IPv6 loopback here")
    v4 = _listening(socket.AF_INET, "127.0.0.1")
    port = v4.getsockname()[1]
    v6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    with v4, v6:
        try:
            v6.bind(("::1", port))
        except OSError:
            pytest.skip("port taken on ::1")
        v6.listen()
        assert systemd.match_listener([v4, v6], "localhost", port) == [v4, v6]


def test_dual_stack_any_socket_matches_ipv4_any() -> None:
    if not HAS_IPV6:
        pytest.skip("no IPv6 here")
    dual = _listening(socket.AF_INET6, "::", v6only=False)
    only6 = _listening(socket.AF_INET6, "::", v6only=True)
    with dual, only6:
        dport, oport = dual.getsockname()[1], only6.getsockname()[1]
        assert systemd.match_listener([dual, only6], "0.0.0.0", dport) == [dual]
        assert systemd.match_listener([dual, only6], "::", dport) == [dual]
        assert systemd.match_listener([dual, only6], "0.0.0.0", oport) == []
        assert systemd.match_listener([dual, only6], "::", oport) == [only6]


def test_assign_listeners_with_config_listeners(two_sockets: list[socket.socket]) -> None:
    a, b = two_sockets
    second_host = "::1" if HAS_IPV6 else "127.0.0.1"
    imaps = Listener("127.0.0.1", a.getsockname()[1], "implicit")
    imap = Listener(second_host, b.getsockname()[1], "starttls")
    extra = Listener("127.0.0.1", 1, "none")
    pairs, missing = systemd.assign_listeners(two_sockets, [imap, imaps, extra])
    assert pairs == [(a, imaps), (b, imap)]
    assert missing == [extra]


def test_assign_dual_stack_socket_covers_both_any_entries() -> None:
    if not HAS_IPV6:
        pytest.skip("no IPv6 here")
    with _listening(socket.AF_INET6, "::", v6only=False) as dual:
        port = dual.getsockname()[1]
        v4, v6 = Listener("0.0.0.0", port, "implicit"), Listener("::", port, "implicit")
        pairs, missing = systemd.assign_listeners([dual], [v4, v6])
    assert pairs == [(dual, v4)]
    assert missing == []


def test_assign_refuses_a_socket_without_listener(two_sockets: list[socket.socket]) -> None:
    a = two_sockets[0]
    with pytest.raises(systemd.SocketActivationError, match=r"matches no \[\[listen\]\] entry"):
        systemd.assign_listeners([a], [Spot("127.0.0.2", a.getsockname()[1])])


def test_assign_refuses_a_socket_that_is_not_listening() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        with pytest.raises(systemd.SocketActivationError, match="not a listening stream socket"):
            systemd.assign_listeners([s], [Spot("127.0.0.1", s.getsockname()[1])])


def test_assign_refuses_a_datagram_socket() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        with pytest.raises(systemd.SocketActivationError, match="not a listening stream socket"):
            systemd.assign_listeners([s], [Spot("127.0.0.1", s.getsockname()[1])])


# ----------------------------------------------------------------------------------------------------------
# systemd's own launcher
# ----------------------------------------------------------------------------------------------------------

ACTIVATE = shutil.which("systemd-socket-activate")
#: Attempts at a port that was free a moment ago (systemd-socket-activate refuses port 0).
PORT_ATTEMPTS = 5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.skipif(ACTIVATE is None, reason="systemd-socket-activate not installed")
def test_systemd_socket_activate_runs_our_listener() -> None:
    assert ACTIVATE is not None
    with tempfile.TemporaryDirectory(prefix="sda", dir="/tmp") as tmp:
        notify_path = str(Path(tmp) / "notify")
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify_sock:
            notify_sock.bind(notify_path)
            notify_sock.settimeout(CHILD_TIMEOUT)
            for _ in range(PORT_ATTEMPTS):
                port = _free_port()
                argv = [ACTIVATE, "-l", f"127.0.0.1:{port}", "--fdname=imaps"]
                argv += ["-E", f"NOTIFY_SOCKET={notify_path}", "-E", f"PYTHONPATH={REPO}"]
                argv += [sys.executable, str(FDCHILD), "--notify", "--greet"]
                proc = subprocess.Popen(
                    argv,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                )
                assert proc.stderr is not None and proc.stdout is not None
                line = proc.stderr.readline()  # "Listening on 127.0.0.1:PORT as 3." or an error
                if b"Listening on" in line:
                    break
                proc.kill()
                proc.wait()
            else:
                pytest.fail(f"systemd-socket-activate did not listen: {line!r}")
            try:
                # Activation happens on the first connection; the child then accepts this very one.
                with socket.create_connection(("127.0.0.1", port), timeout=CHILD_TIMEOUT) as client:
                    greeting = client.recv(4096)
                out, _ = proc.communicate(timeout=CHILD_TIMEOUT)
                ready = notify_sock.recv(4096)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    assert proc.returncode == 0
    assert greeting == b"* OK adopted imaps\r\n"
    report = json.loads(out.splitlines()[0])
    assert [(s["name"], s["fd"], tuple(s["sockname"])) for s in report["sockets"]] == [
        ("imaps", 3, ("127.0.0.1", port))
    ]
    assert report["env"] == []
    assert ready == f"READY=1\nSTATUS=serving 1 sockets\nMAINPID={report['pid']}".encode()


async def test_trio_listeners_accept_on_the_adopted_socket() -> None:
    import trio

    sock = _listening(socket.AF_INET, "127.0.0.1")
    port = sock.getsockname()[1]
    spec = Listener("127.0.0.1", port, "none")
    pairs, missing = systemd.assign_listeners([sock], [spec])
    assert missing == []
    ((listener, got),) = systemd.trio_listeners(pairs)
    assert got is spec
    async with listener:
        client = await trio.open_tcp_stream("127.0.0.1", port)
        async with client:
            server = await listener.accept()
            async with server:
                await server.send_all(b"* OK adopted\r\n")
                assert await client.receive_some(100) == b"* OK adopted\r\n"
