"""Acceptance: ``maildird serve`` under systemd's own socket activation, with a fake NOTIFY_SOCKET.

This is what maildird.service + maildird.socket do, without a running systemd: systemd-socket-activate
owns the port and execs the server on the first connection; the server must adopt the socket (LISTEN_FDS),
greet that very connection, report READY=1, answer SIGHUP with RELOADING=1 + MONOTONIC_USEC then READY=1
without dropping the connection, and SIGTERM with STOPPING=1 and exit 0 (issue 6, operations.md §1).

It needs maildird/server.py to call maildird.systemd (see the ops report); until then it is expected to
fail, and the lead removes the xfail marker once it passes.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from maildird import auth

REPO = Path(__file__).resolve().parent.parent.parent
ACTIVATE = shutil.which("systemd-socket-activate")
#: Hang protection only.
TIMEOUT = 30.0
PORT_ATTEMPTS = 5
PASSWORD = "correct horse"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _fields(datagram: bytes) -> dict[str, str]:
    return dict(line.split("=", 1) for line in datagram.decode().split("\n"))


class Notifications:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def until(self, key: str) -> dict[str, str]:
        """Datagrams until one carries ``key``; WATCHDOG/STATUS-only ones in between are skipped."""
        while True:
            fields = _fields(self.sock.recv(4096))
            if key in fields:
                return fields


@pytest.fixture
def notify() -> Iterator[tuple[str, Notifications]]:
    with tempfile.TemporaryDirectory(prefix="sdn", dir="/tmp") as tmp:
        path = str(Path(tmp) / "notify")
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind(path)
            sock.settimeout(TIMEOUT)
            yield path, Notifications(sock)


def _config(tmp: Path, port: int) -> Path:
    maildir = tmp / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    users = tmp / "passwd"
    if not users.exists():
        # Tiny argon2 parameters: logins cost microseconds (production parameters: tests/auth).
        auth.add_user(
            users, "alice", PASSWORD, hasher=auth.make_hasher(time_cost=1, memory_cost=8, parallelism=1)
        )
    cfg = tmp / "maildird.toml"
    cfg.write_text(
        f'[server]\nmode = "single-user"\nstate_dir = "{tmp / "state"}"\n\n'
        f'[[listen]]\naddress = "127.0.0.1"\nport = {port}\ntls = "none"\n\n'
        f'[auth]\nusers_file = "{users}"\n\n[mail]\nmaildir = "{maildir}"\n'
    )
    return cfg


def _line(f: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = f.recv(1)
        if not chunk:
            break
        data += chunk
    return data


@pytest.mark.skipif(ACTIVATE is None, reason="systemd-socket-activate not installed")
def test_serve_socket_activated_notify_reload_stop(notify: tuple[str, Notifications], tmp_path: Path) -> None:
    assert ACTIVATE is not None
    notify_path, notes = notify
    proc: subprocess.Popen[bytes] | None = None
    for _ in range(PORT_ATTEMPTS):
        port = _free_port()
        cfg = _config(tmp_path, port)
        argv = [ACTIVATE, "-l", f"127.0.0.1:{port}", "-E", f"NOTIFY_SOCKET={notify_path}"]
        argv += ["-E", f"PYTHONPATH={REPO}", "-E", "WATCHDOG_USEC=2000000", "-E", f"HOME={tmp_path}"]
        argv += [sys.executable, "-m", "maildird", "serve", "--config", str(cfg)]
        proc = subprocess.Popen(argv, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
        assert proc.stderr is not None
        if b"Listening on" in proc.stderr.readline():
            break
        proc.kill()
        proc.wait()
    else:
        pytest.fail("systemd-socket-activate did not listen")
    assert proc is not None and proc.stderr is not None
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as client:
            greeting = _line(client)
            assert greeting.startswith(b"* OK"), greeting
            ready = notes.until("READY")
            assert ready["READY"] == "1"
            assert ready.get("MAINPID", str(proc.pid)) == str(proc.pid)  # exec keeps the pid

            client.sendall(f"a1 LOGIN alice {PASSWORD.replace(' ', '_')}\r\n".encode())
            assert _line(client).startswith(b"a1 NO")  # wrong password: the server is really answering

            os.kill(proc.pid, signal.SIGHUP)
            reloading = notes.until("RELOADING")
            assert reloading["RELOADING"] == "1" and int(reloading["MONOTONIC_USEC"]) > 0
            assert notes.until("READY")["READY"] == "1"
            client.sendall(b"a2 NOOP\r\n")  # the connection survived the reload
            assert _line(client).startswith(b"a2 OK")

            os.kill(proc.pid, signal.SIGTERM)
            assert notes.until("STOPPING")["STOPPING"] == "1"
        assert proc.wait(timeout=TIMEOUT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
