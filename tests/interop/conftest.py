"""Fixtures for the interop tests: the IMAP server under test is a parameter.

``serve_maildir(maildir)`` is a context manager that serves an existing Maildir tree and yields the
``ImapEndpoint`` to connect to. Server kinds:

* ``dovecot`` -- a private Dovecot 2.3 (tests.support.dovecot); the reference every peer test must pass.
* ``maildird`` -- ``python -m maildird serve`` as a subprocess in single-user mode on a free loopback port.

``INTEROP_SERVERS`` (comma-separated, default ``dovecot``) picks the kinds, e.g.
``INTEROP_SERVERS=dovecot,maildird python -m pytest tests/interop``. Adding maildird to the default is
the switch that turns these tests on the server we build.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import LOOPBACK_V4, ImapEndpoint, ServeMaildir
from tests.support.dovecot import DovecotServer, dovecot, free_port  # noqa: F401  (fixture re-exported)
from tests.support.rawclient import RawClientError, SyncRawClient

DEFAULT_SERVERS = "dovecot,maildird"
USER = "alice"
PASSWORD = "secret"
# Seconds maildird may take to answer its first greeting, and to exit after SIGTERM.
MAILDIRD_START_TIMEOUT = 30.0
MAILDIRD_STOP_TIMEOUT = 15.0
MAILDIRD_POLL_INTERVAL = 0.05
MAX_PORT_ATTEMPTS = 4


@contextlib.contextmanager
def serve_with_dovecot(maildir: Path) -> Iterator[ImapEndpoint]:
    with DovecotServer(maildir, user=USER, password=PASSWORD) as server:
        yield server.endpoint


def _maildird_greets(port: int, process: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + MAILDIRD_START_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with SyncRawClient.connect(LOOPBACK_V4, port, timeout=1.0) as client:
                if client.greeting.startswith(b"* OK"):
                    return True
        except (OSError, RawClientError):
            time.sleep(MAILDIRD_POLL_INTERVAL)
    return False


@contextlib.contextmanager
def serve_with_maildird(maildir: Path) -> Iterator[ImapEndpoint]:
    from maildird import auth

    work = maildir.parent / f"{maildir.name}.maildird"
    work.mkdir(exist_ok=True)
    users = work / "users"
    users.unlink(missing_ok=True)
    hasher = auth.make_hasher(time_cost=1, memory_cost=8, parallelism=1)
    auth.add_user(users, USER, PASSWORD, maildir=maildir, hasher=hasher)
    log = work / "maildird.log"
    for _attempt in range(MAX_PORT_ATTEMPTS):
        port = free_port(LOOPBACK_V4)
        args = [sys.executable, "-m", "maildird", "serve", "--maildir", str(maildir), "--users", str(users)]
        args += ["--listen", f"imap://{LOOPBACK_V4}:{port}", "--state-dir", str(work / "state")]
        with log.open("wb") as output:
            process = subprocess.Popen(args, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            if _maildird_greets(port, process):
                try:
                    yield ImapEndpoint(LOOPBACK_V4, port, USER, PASSWORD, maildir)
                except BaseException:
                    text = log.read_text(errors="replace")
                    print(f"--- maildird log ---\n{text}--- end of maildird log ---")
                    raise
                return
        finally:
            process.terminate()
            try:
                process.wait(timeout=MAILDIRD_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if "in use" not in log.read_text(errors="replace"):
            break
    raise RuntimeError(f"maildird did not start:\n{log.read_text(errors='replace')}")


SERVERS: dict[str, ServeMaildir] = {
    "dovecot": serve_with_dovecot,
    "maildird": serve_with_maildird,
}


def selected_servers() -> list[str]:
    names = [n.strip() for n in os.environ.get("INTEROP_SERVERS", DEFAULT_SERVERS).split(",") if n.strip()]
    unknown = set(names) - set(SERVERS)
    if unknown:
        known = sorted(SERVERS)
        raise pytest.UsageError(f"INTEROP_SERVERS: unknown server kinds {sorted(unknown)}; known: {known}")
    return names


@pytest.fixture(params=selected_servers())
def serve_maildir(request: pytest.FixtureRequest) -> ServeMaildir:
    """A function serving a Maildir tree over IMAP on loopback, once per selected server kind."""
    serve: ServeMaildir = SERVERS[request.param]
    return serve
