"""The admin CLI: ``maildird status``, ``kick``, ``reload`` (run as a user would, against a real control
socket served by this test), socket discovery from the config, and ``[log] target``."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from maildird import cli, cli_serve, control
from maildird.config import LogConfig
from tests.admin.test_control import ROWS, FakeProvider

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 60


@pytest.fixture
def short_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="mdcli-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def maildird(*args: str) -> subprocess.CompletedProcess[bytes]:
    with trio.fail_after(TIMEOUT):
        return await trio.run_process(
            [sys.executable, "-m", "maildird", *args],
            capture_stdout=True,
            capture_stderr=True,
            cwd=REPO,
            check=False,
        )


async def test_status_kick_reload(short_dir: Path, nursery: trio.Nursery) -> None:
    provider = FakeProvider()
    path = await nursery.start(control.serve_control, short_dir / "control.sock", provider)

    result = await maildird("status", "--socket", str(path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert lines[0].split()[:3] == ["user", "peer", "transport"]
    assert lines[1].split()[:4] == ["alice", "192.0.2.1:50000", "tls", "INBOX"]
    assert lines[-1] == "2 connections, 1 logged in (1 user), 1 idling"

    result = await maildird("status", "--socket", str(path), "--json")
    assert json.loads(result.stdout) == ROWS

    result = await maildird("kick", "--socket", str(path), "alice")
    assert (result.returncode, result.stdout) == (0, b"kicked 2 sessions of alice\n")
    result = await maildird("kick", "--socket", str(path), "nobody-here")
    assert (result.returncode, result.stdout) == (1, b"kicked 0 sessions of nobody-here\n")
    assert provider.kicked == ["alice", "nobody-here"]

    result = await maildird("reload", "--socket", str(path))
    assert result.returncode == 0 and provider.reloads == 1
    result = await maildird("reload", "--socket", str(path))  # the fake fails the second time
    assert result.returncode == 1
    assert b"reload failed: users file broken" in result.stderr


async def test_socket_from_the_config(short_dir: Path, nursery: trio.Nursery) -> None:
    sock = short_dir / "ctl.sock"
    await nursery.start(control.serve_control, sock, FakeProvider())
    config = short_dir / "maildird.toml"
    config.write_text(
        f'[server]\nmode = "single-user"\nstate_dir = "{short_dir}"\ncontrol_socket = "{sock}"\n'
        '[[listen]]\naddress = "127.0.0.1"\nport = 1430\ntls = "none"\n'
    )
    result = await maildird("kick", "--config", str(config), "alice")
    assert result.returncode == 0, result.stderr
    # Without control_socket: <state_dir>/control.sock.
    config.write_text(
        f'[server]\nmode = "single-user"\nstate_dir = "{short_dir / "state"}"\n'
        '[[listen]]\naddress = "127.0.0.1"\nport = 1430\ntls = "none"\n'
    )
    result = await maildird("status", "--config", str(config))
    assert result.returncode == 1
    assert result.stderr.decode().startswith(
        f"maildird: {short_dir / 'state' / 'control.sock'}: no control socket"
    )


async def test_not_running(short_dir: Path) -> None:
    result = await maildird("status", "--socket", str(short_dir / "none.sock"))
    assert result.returncode == 1
    assert b"is maildird running" in result.stderr


def test_kick_needs_a_target() -> None:
    assert cli.main(["kick"]) == cli.EX_USAGE


@pytest.mark.parametrize("command", ["status", "kick", "reload"])
def test_help(command: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "maildird", command, "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0
    assert result.stdout.startswith(f"usage: maildird {command} [-h] [--config FILE] [--socket PATH]")


# --------------------------------------------------------------------------------------------------------
# [log] target
# --------------------------------------------------------------------------------------------------------


@pytest.fixture
def clean_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("maildird")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield logger
    for h in list(logger.handlers):
        logger.removeHandler(h)
        if h not in saved[0]:
            h.close()
    for h in saved[0]:
        logger.addHandler(h)
    logger.setLevel(saved[1])
    logger.propagate = saved[2]


def test_log_target_file(tmp_path: Path, clean_logger: logging.Logger) -> None:
    from maildird.logging_setup import setup_logging

    stderr_handler = setup_logging("info")
    log_file = tmp_path / "maildird.log"
    handler = cli.install_log_target(LogConfig(target="file", file=log_file), stderr_handler)
    assert stderr_handler not in clean_logger.handlers and handler in clean_logger.handlers
    logging.getLogger("maildird.test").info("to the file")
    os.rename(log_file, tmp_path / "maildird.log.1")  # logrotate moves it
    logging.getLogger("maildird.test").info("after rotation")
    handler.flush()
    assert "INFO maildird.test: to the file" in (tmp_path / "maildird.log.1").read_text()
    assert "INFO maildird.test: after rotation" in log_file.read_text()
    # setup_logging again replaces it (the marker), as it does its own handler.
    setup_logging("info")
    assert handler not in clean_logger.handlers


def test_log_target_syslog(
    short_dir: Path, clean_logger: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    from maildird.logging_setup import setup_logging

    dev_log = short_dir / "log"
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(str(dev_log))
    receiver.settimeout(TIMEOUT)
    monkeypatch.setattr(cli_serve, "SYSLOG_SOCKET", str(dev_log))
    try:
        cli.install_log_target(LogConfig(target="syslog", syslog_facility="mail"), setup_logging("info"))
        logging.getLogger("maildird.test").warning("to syslog")
        datagram = receiver.recv(4096)
    finally:
        receiver.close()
    # <PRI> = facility mail (2) * 8 + warning (4) = 20 (RFC 5424 §6.2.1).
    assert datagram.startswith(b"<20>maildird[")
    assert datagram.rstrip(b"\x00").endswith(b"]: maildird.test: to syslog")


def test_log_target_stderr_keeps_the_handler(clean_logger: logging.Logger) -> None:
    from maildird.logging_setup import setup_logging

    handler = setup_logging("info")
    assert cli.install_log_target(LogConfig(), handler) is handler
