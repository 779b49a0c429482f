"""SIGTERM and SIGHUP on a real ``maildird serve`` process (RFC 9051 §7.1.5 BYE on shutdown).

The server runs as a subprocess with a TOML config, so signals, exit codes and the
"nothing acknowledged is lost" rule are tested as an admin would meet them.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from maildird import auth
from tests.support.maildirs import make_maildir, read_maildir_state, sample_message
from tests.support.rawclient import SyncRawClient

PASSWORD = "pw"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(tmp_path: Path, grace: float = 10.0) -> tuple[subprocess.Popen[bytes], int, Path]:
    maildir = tmp_path / "Maildir"
    make_maildir(maildir, {"INBOX": [{"id": "<a@x>", "subject": "hello"}]})
    users = tmp_path / "users"
    auth.add_user(
        users,
        "u",
        PASSWORD,
        maildir=maildir,
        hasher=auth.make_hasher(time_cost=1, memory_cost=8, parallelism=1),
    )
    port = _free_port()
    config = tmp_path / "maildird.toml"
    config.write_text(
        f"""
[server]
state_dir = "{tmp_path / "state"}"
allow_root = true
[[listen]]
address = "127.0.0.1"
port = {port}
tls = "none"
[auth]
users_file = "{users}"
failure_delay = 0.0
[mail]
root = "{tmp_path}"
[limits]
shutdown_grace = {grace}
"""
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "maildird", "serve", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port, maildir
        except OSError:
            if proc.poll() is not None:
                raise AssertionError(proc.stdout.read() if proc.stdout else b"")
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("server did not start")


def _login(port: int) -> SyncRawClient:
    c = SyncRawClient.connect("127.0.0.1", port)
    assert c.cmd(f'a1 LOGIN u "{PASSWORD}"')[-1].startswith(b"a1 OK")
    return c


def test_sigterm_sends_bye_to_every_client_and_exits_cleanly(tmp_path: Path) -> None:
    proc, port, _ = _start(tmp_path)
    try:
        idle = _login(port)
        assert idle.cmd("s1 SELECT INBOX")[-1].startswith(b"s1 OK")
        idle.send_raw(b"i1 IDLE\r\n")
        assert idle.read_line().startswith(b"+")
        waiting = _login(port)
        proc.send_signal(signal.SIGTERM)
        assert waiting.read_line().startswith(b"* BYE [UNAVAILABLE]")
        line = idle.read_line()
        assert line.startswith(b"* BYE [UNAVAILABLE]"), line
        assert proc.wait(timeout=15) == 0
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1)
    finally:
        proc.kill()
        proc.wait()


def test_sigterm_during_append_loses_nothing_acknowledged(tmp_path: Path) -> None:
    proc, port, maildir = _start(tmp_path)
    try:
        c = _login(port)
        acknowledged = []
        for i in range(5):
            msg = sample_message(message_id=f"<ack{i}@x>", subject=f"ack {i}")
            lines = c.cmd(b"p%d APPEND INBOX {%d+}\r\n" % (i, len(msg)) + msg)
            assert lines[-1].startswith(b"p%d OK" % i), lines
            acknowledged.append(f"<ack{i}@x>")
        # Start a large APPEND and stop half-way through its literal.
        big = sample_message(message_id="<big@x>", subject="big", body="x" * 2_000_000)
        c.send_raw(b"big APPEND INBOX {%d+}\r\n" % len(big) + big[: len(big) // 2])
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        proc.kill()
        proc.wait()
    state = read_maildir_state(maildir)["INBOX"]
    for mid in acknowledged:
        assert mid in state
    assert "<big@x>" not in state  # never acknowledged, never half-stored
    assert not [p for p in (maildir / "new").iterdir() if p.stat().st_size == 0]


def test_sighup_reloads_the_users_file_without_dropping_connections(tmp_path: Path) -> None:
    proc, port, _ = _start(tmp_path)
    try:
        c = _login(port)
        auth.add_user(
            tmp_path / "users",
            "newbie",
            "pw2",
            hasher=auth.make_hasher(time_cost=1, memory_cost=8, parallelism=1),
        )
        proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        assert c.cmd("n1 NOOP")[-1].startswith(b"n1 OK")
        other = SyncRawClient.connect("127.0.0.1", port)
        assert other.cmd('a1 LOGIN newbie "pw2"')[-1].startswith(b"a1 OK")
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
