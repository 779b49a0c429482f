"""The two servers under test, started and stopped the same way: Dovecot and maildird on 127.0.0.1.

Theory of operation
-------------------
``DovecotTarget`` wraps ``tests.support.dovecot.DovecotServer`` (a private master on a free loopback port,
mail processes as ``nobody`` chrooted into the Maildir when run as root) with limits raised for the
concurrency workloads (``DOVECOT_EXTRA``: 1,000+ connections of one user from one IP, imap-login in
"high-performance" mode). ``MaildirdTarget`` writes a TOML config and a users file and runs
``python -m maildird serve --config FILE`` as its own process group, so its memory can be read from
``/proc/<pid>/status`` and nothing survives ``stop()`` (SIGTERM, wait, then SIGKILL of the group).

Both check an argon2id hash of 64 MiB and 3 passes (maildird's production parameters; Dovecot's libsodium
needs parallelism 1), so LOGIN costs about the same hashing work on both. ``memory()`` sums ``VmRSS``
and the proportional set size (``Pss`` from ``smaps_rollup``) over every process of the server's process
group: Dovecot runs one ``imap`` process per connection whose shared pages RSS would count many times, so
PSS is the fair figure.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import argon2

from tests.support.dovecot import DovecotServer, free_port

HOST = "127.0.0.1"
USER = "alice"
PASSWORD = "bench-password"
#: Seconds a server gets to greet after its start, and to exit after SIGTERM.
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
POLL_INTERVAL = 0.05
#: Dovecot verifies {ARGON2ID} with libsodium, which only knows parallelism 1; otherwise the same cost as
#: maildird's production hash (maildird.auth.ARGON2_PARAMETERS: t=3, 64 MiB), so LOGIN does equal work.
DOVECOT_ARGON2 = {"time_cost": 3, "memory_cost": 65536, "parallelism": 1}
#: Connection limits for both servers: the idle-connection workload opens 1,000 sessions of one user.
CONNECTION_LIMIT = 1500
REPO = Path(__file__).resolve().parent.parent

DOVECOT_EXTRA = f"""\
# benchmarks/servers.py: limits raised for 1,000 connections of one user from 127.0.0.1.
default_process_limit = {CONNECTION_LIMIT}
default_client_limit = {CONNECTION_LIMIT * 2}
service imap {{
  process_limit = {CONNECTION_LIMIT}
}}
service imap-login {{
  service_count = 0
  process_min_avail = 2
  client_limit = {CONNECTION_LIMIT}
}}
service auth {{
  client_limit = {CONNECTION_LIMIT * 4}
}}
service anvil {{
  client_limit = {CONNECTION_LIMIT * 4}
}}
protocol imap {{
  mail_max_userip_connections = {CONNECTION_LIMIT}
}}
"""


@dataclass(frozen=True, slots=True)
class Memory:
    rss_kib: int
    pss_kib: int
    processes: int


def group_memory(pgid: int) -> Memory:
    """Sum of VmRSS and Pss over the live processes whose process group is ``pgid``."""
    rss = pss = count = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
            fields = stat[stat.rindex(b")") + 2 :].split()
            if int(fields[2]) != pgid:  # field 5 of stat: pgrp
                continue
            with open(f"/proc/{entry}/smaps_rollup", "rb") as f:
                rollup = f.read()
        except (OSError, ValueError):
            continue
        count += 1
        for line in rollup.splitlines():
            if line.startswith(b"Rss:"):
                rss += int(line.split()[1])
            elif line.startswith(b"Pss:"):
                pss += int(line.split()[1])
    return Memory(rss, pss, count)


def vmrss_kib(pid: int) -> int:
    """``VmRSS`` of one process from /proc/<pid>/status."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _wait_for_greeting(port: int, process: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=5) as sock:
            if sock.makefile("rb").readline().startswith(b"* OK"):
                return True
        time.sleep(POLL_INTERVAL)
    return False


class DovecotTarget:
    name = "dovecot"

    def __init__(self, maildir: Path) -> None:
        self.maildir = maildir
        self.server = DovecotServer(
            maildir, user=USER, password=PASSWORD, scheme="ARGON2ID", extra_config=DOVECOT_EXTRA
        )
        self.entry = "{ARGON2ID}" + argon2.PasswordHasher(**DOVECOT_ARGON2).hash(PASSWORD)

    @property
    def port(self) -> int:
        return self.server.port

    def start(self) -> None:
        self.server.start()
        # The harness wrote a cheap test hash; the auth process reads the file at the first login, so
        # replacing it now gives Dovecot the same hashing cost as maildird.
        assert self.server.base_dir is not None
        (self.server.base_dir / "passwd").write_text(f"{USER}:{self.entry}\n")

    def stop(self) -> None:
        self.server.stop()

    def memory(self) -> Memory:
        assert self.server.process is not None
        return group_memory(self.server.process.pid)

    def version(self) -> str:
        return subprocess.run(["dovecot", "--version"], capture_output=True, text=True).stdout.strip()


class MaildirdTarget:
    name = "maildird"

    def __init__(self, maildir: Path, workdir: Path, *, source: Path = REPO) -> None:
        from maildird import auth

        self.source = source
        self.maildir = maildir
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.users = workdir / "users"
        self.users.unlink(missing_ok=True)
        # The production parameters: a cheaper hash would be rehashed (and the file rewritten) at login.
        auth.add_user(self.users, USER, PASSWORD, maildir=maildir, hasher=auth.make_hasher())
        self.config = workdir / "maildird.toml"
        self.log = workdir / "maildird.log"
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    def _root_setting(self) -> str:
        """``allow_root = true`` when running as root and this maildird knows the setting (newer trees refuse
        to serve mail as root without it; older ones reject the unknown key)."""
        if os.geteuid() != 0:
            return ""
        sources = (self.source / "maildird").glob("config*.py")
        if any("allow_root" in path.read_text() for path in sources):
            return "allow_root = true\n"
        return ""

    def _write_config(self) -> None:
        self.config.write_text(
            f"""\
[server]
mode = "virtual"
state_dir = "{self.workdir / "state"}"
{self._root_setting()}
[[listen]]
address = "{HOST}"
port = {self.port}
tls = "none"

[auth]
users_file = "{self.users}"
failure_delay = 0

[mail]
root = "{self.workdir}"

[limits]
max_connections = {CONNECTION_LIMIT}
max_connections_per_user = {CONNECTION_LIMIT}
max_connections_per_user_ip = {CONNECTION_LIMIT}
max_unauth_per_ip = {CONNECTION_LIMIT}
"""
        )

    def start(self) -> None:
        self.port = free_port(HOST)
        self._write_config()
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "maildird", "serve", "--config", str(self.config)],
                cwd=self.source,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if not _wait_for_greeting(self.port, self.process):
            self.stop()
            raise RuntimeError(
                f"maildird did not start; log:\n{self.log.read_text(errors='replace')[-4000:]}"
            )

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_TIMEOUT)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        if process.returncode is None:
            process.kill()
            process.wait()

    def memory(self) -> Memory:
        assert self.process is not None
        return group_memory(self.process.pid)

    def version(self) -> str:
        commit = self.source / "COMMIT"  # written by run.py when it exports a commit (--maildird-commit)
        if commit.exists():
            return f"maildird {commit.read_text().strip()}"
        if self.source != REPO:
            return f"maildird tree {self.source}"
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        )
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "maildird"], cwd=REPO).returncode
        return f"maildird {head.stdout.strip() or '?'}{' + uncommitted changes' if dirty else ''}"


Target = DovecotTarget | MaildirdTarget
