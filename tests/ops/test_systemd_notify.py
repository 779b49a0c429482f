"""maildird.systemd notify and watchdog against a real AF_UNIX datagram socket standing in for systemd."""

from __future__ import annotations

import os
import secrets
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from maildird import systemd

#: Hang protection only: a missing datagram fails the test instead of blocking the suite.
RECV_TIMEOUT = 10.0


@pytest.fixture
def notify_socket(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A bound datagram socket at a short path (sun_path is 108 bytes), named by $NOTIFY_SOCKET."""
    with tempfile.TemporaryDirectory(prefix="sdn", dir="/tmp") as tmp:
        path = str(Path(tmp) / "notify")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(RECV_TIMEOUT)
        monkeypatch.setenv("NOTIFY_SOCKET", path)
        with sock:
            yield sock


def test_ready_sends_fields_in_one_datagram(notify_socket: socket.socket) -> None:
    assert systemd.ready("serving imaps://[::]:993") is True
    assert (
        notify_socket.recv(4096)
        == f"READY=1\nSTATUS=serving imaps://[::]:993\nMAINPID={os.getpid()}".encode()
    )


def test_ready_without_status(notify_socket: socket.socket) -> None:
    assert systemd.ready() is True
    assert notify_socket.recv(4096) == f"READY=1\nMAINPID={os.getpid()}".encode()


def test_reloading_carries_monotonic_usec_in_the_same_datagram(notify_socket: socket.socket) -> None:
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert systemd.reloading("reloading certificates") is True
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    fields = notify_socket.recv(4096).decode().split("\n")
    assert fields[0] == "RELOADING=1"
    key, _, usec = fields[1].partition("=")
    assert key == "MONOTONIC_USEC"
    assert before <= int(usec) <= after
    assert fields[2:] == ["STATUS=reloading certificates"]


def test_stopping_status_and_watchdog(notify_socket: socket.socket) -> None:
    assert systemd.stopping()
    assert notify_socket.recv(4096) == b"STOPPING=1"
    assert systemd.status("12 sessions, 3 users")
    assert notify_socket.recv(4096) == b"STATUS=12 sessions, 3 users"
    assert systemd.watchdog()
    assert notify_socket.recv(4096) == b"WATCHDOG=1"


def test_stopping_with_status_exact_bytes(notify_socket: socket.socket) -> None:
    systemd.stopping("draining")
    assert notify_socket.recv(4096) == b"STOPPING=1\nSTATUS=draining"


def test_status_folds_newlines_so_no_field_can_be_forged(notify_socket: socket.socket) -> None:
    systemd.status("user\nREADY=1\r\nMAINPID=1")
    assert notify_socket.recv(4096) == b"STATUS=user READY=1 MAINPID=1"


def test_status_is_cut_to_a_bounded_length(notify_socket: socket.socket) -> None:
    systemd.status("x" * 1000)
    data = notify_socket.recv(4096)
    assert data == b"STATUS=" + b"x" * (systemd.MAX_STATUS_LENGTH - 3) + b"..."


def test_utf8_status(notify_socket: socket.socket) -> None:
    systemd.status("Grüße")
    assert notify_socket.recv(4096) == "STATUS=Grüße".encode()


def test_abstract_namespace_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"maildird-test-{secrets.token_hex(8)}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(RECV_TIMEOUT)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert systemd.notify("STATUS=abstract") is True
        assert sock.recv(4096) == b"STATUS=abstract"


@pytest.mark.parametrize("value", [None, "", "relative/path"])
def test_no_usable_notify_socket_is_a_no_op(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    else:
        monkeypatch.setenv("NOTIFY_SOCKET", value)
    assert systemd.ready() is False
    assert systemd.notify("STATUS=x") is False


def test_nobody_listening_returns_false(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone"))
    assert systemd.notify("READY=1") is False


@pytest.mark.parametrize("field", ["READY", "=1", "STATUS=a\nREADY=1", ""])
def test_malformed_fields_are_refused(notify_socket: socket.socket, field: str) -> None:
    with pytest.raises(ValueError):
        systemd.notify(field)


@pytest.mark.parametrize(
    ("usec", "pid", "expected"),
    [
        (None, None, None),
        ("", None, None),
        ("0", None, None),
        ("junk", None, None),
        ("-5", None, None),
        ("30000000", None, 30.0),
        ("1500000", "self", 1.5),
        ("1500000", "other", None),
        ("1500000", "junk", None),
    ],
)
def test_watchdog_interval(
    monkeypatch: pytest.MonkeyPatch, usec: str | None, pid: str | None, expected: float | None
) -> None:
    for name, value in (("WATCHDOG_USEC", usec), ("WATCHDOG_PID", pid)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            value = {"self": str(os.getpid()), "other": str(os.getpid() + 1)}.get(value, value)
            monkeypatch.setenv(name, value)
    assert systemd.watchdog_interval() == expected


async def test_watchdog_task_pings_repeatedly(monkeypatch: pytest.MonkeyPatch) -> None:
    with tempfile.TemporaryDirectory(prefix="sdw", dir="/tmp") as tmp:
        path = str(Path(tmp) / "notify")
        sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        with sock:
            await sock.bind(path)
            monkeypatch.setenv("NOTIFY_SOCKET", path)
            monkeypatch.setenv("WATCHDOG_USEC", "20000")
            monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
            async with trio.open_nursery() as nursery:
                interval = await nursery.start(systemd.watchdog_task)
                assert interval == 0.02
                with trio.fail_after(RECV_TIMEOUT):
                    received = [await sock.recv(4096) for _ in range(3)]
                nursery.cancel_scope.cancel()
    assert received == [b"WATCHDOG=1"] * 3


async def test_watchdog_task_without_watchdog_returns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    async with trio.open_nursery() as nursery:
        assert await nursery.start(systemd.watchdog_task) is None
    await systemd.watchdog_task()  # also returns when started with start_soon/await
