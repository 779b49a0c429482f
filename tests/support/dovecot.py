"""A private Dovecot for tests: the full master on a loopback port, or ``imap`` in PREAUTH mode on a pipe.

Theory of operation
-------------------
``DovecotServer`` writes a self-contained ``dovecot.conf`` into a fresh temporary base directory (sockets,
state, log, home) and starts ``dovecot -F -c <conf>`` in its own process group, listening only on
127.0.0.1 (or ::1) at a free port, with ``ssl = no`` and plaintext LOGIN/PLAIN allowed. The passdb is a
passwd-file with ``{PLAIN}`` or ``{ARGON2ID}`` entries; the userdb is static and points every user at the
given Maildir (``mail_location``, Maildir++ with separator ``.``). The start is complete
when a TCP connection reads a ``* OK`` greeting. Stopping sends SIGTERM to the master, waits, then
SIGKILLs the whole process group, so no Dovecot process outlives its test.
With ``tls_ca`` (a trustme CA) the server gets a certificate for 127.0.0.1/::1/localhost, offers
STARTTLS on ``port`` and listens for implicit TLS on ``tls_port``.

Users. Dovecot 2.3.19 refuses mail access as root whatever the settings ("userdb returned 0 as uid",
"Mail access not allowed for root" -- both observed here), and ``imap-login`` refuses to run as root.
So when the tests run as root (CI, this machine) the login processes run as ``dovenull``, the internal
ones as ``dovecot``, and the mail processes as ``nobody:nogroup``, chrooted into the Maildir
(``mail_chroot``; the chroot happens as root, before the uid drop). The chroot is what lets ``nobody``
reach a Maildir below pytest's 0700 ``/tmp/pytest-of-root`` (granting o+x there does not last: every
pytest session resets that directory to 0700). The Maildir is chowned to the mail user before the start
(``give_to_mail_user``); Dovecot's log shows paths relative to the chroot. As a normal user everything
runs as that user, without chroot.
Files a root test writes later into the Maildir stay readable by Dovecot (0644), and renames only need
the directory to be writable; call ``give_to_mail_user`` again after creating new folders as root.

The PREAUTH variant (``dovecot_preauth``) runs ``/usr/lib/dovecot/imap -c <conf>`` with USER, HOME and
MAIL in the environment, writes the commands to its stdin and returns everything it wrote to stdout.
This is how the experiments in design/maildir-format.md §0 ran Dovecot. Its stdin stays open until
``imap`` has exited: end of input is a client going away to Dovecot, and seen while pipelined commands
still wait (for their turn, or for room in the stdout pipe) it disconnects without running them
("Disconnected: Connection closed (LOGOUT,FETCH,FETCH running ... state=wait-output)", observed under
CPU load: the reply simply stopped a few commands early). The closing LOGOUT is sent only once the
commands before it are answered (``PreauthSession``).

Missing Dovecot: the test is skipped, except under ``CI=true`` where it fails (``require_program``).
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
import trio
import trustme

from tests.support import LOOPBACK_V4, ImapEndpoint, require_program

DOVECOT_PROGRAM = "dovecot"
DOVECOT_IMAP_PROGRAM = "/usr/lib/dovecot/imap"
DOVECOT_PACKAGE = "dovecot-imapd"

# Seconds to wait for the greeting after starting the master, and for the master to exit on SIGTERM.
STARTUP_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
# Seconds between connection attempts while waiting for the greeting.
STARTUP_POLL_INTERVAL = 0.05
# The free port is found by binding port 0 and releasing it; another process may take it in between.
MAX_PORT_ATTEMPTS = 4
# Seconds the PREAUTH imap process may run.
PREAUTH_TIMEOUT = 30.0

# Accounts used when running as root (Debian's dovecot-core creates the first two).
ROOT_LOGIN_USER = "dovenull"
ROOT_INTERNAL_USER = "dovecot"
ROOT_MAIL_USER = "nobody"
ROOT_MAIL_GROUP = "nogroup"

# Small Argon2id parameters: fast to verify in tests, still a real {ARGON2ID} entry Dovecot must check.
ARGON2_TIME_COST = 1
ARGON2_MEMORY_KIB = 1024
ARGON2_PARALLELISM = 1

SUPPORTED_SCHEMES = ("PLAIN", "ARGON2ID")


class DovecotError(RuntimeError):
    """Dovecot failed to start, stop or answer; the message carries its log."""


@dataclass(frozen=True, slots=True)
class Account:
    """One passdb entry; ``scheme`` is the Dovecot password scheme stored in the passwd-file."""

    name: str
    password: str
    scheme: str = "PLAIN"


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """PEM files for Dovecot's certificate chain and key, and the implicit-TLS port."""

    cert: Path
    key: Path
    port: int


@dataclass(frozen=True, slots=True)
class ProcessUsers:
    """The system users Dovecot's processes run as (see the module docstring)."""

    login_user: str
    internal_user: str
    internal_group: str
    mail_uid: int
    mail_gid: int


def process_users() -> ProcessUsers:
    """Users for Dovecot's login, internal and mail processes, given who runs the tests."""
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.geteuid()).pw_name
        my_group = grp.getgrgid(os.getegid()).gr_name
        return ProcessUsers(me, me, my_group, os.geteuid(), os.getegid())
    return ProcessUsers(
        login_user=ROOT_LOGIN_USER,
        internal_user=ROOT_INTERNAL_USER,
        internal_group=ROOT_INTERNAL_USER,
        mail_uid=pwd.getpwnam(ROOT_MAIL_USER).pw_uid,
        mail_gid=grp.getgrnam(ROOT_MAIL_GROUP).gr_gid,
    )


def give_to_mail_user(root: Path) -> None:
    """Make ``root`` (recursively) writable by Dovecot's mail processes.

    A no-op unless running as root: then everything below ``root`` is chowned to the mail user.
    Files that vanish during the walk (renamed by a concurrent writer) are skipped.
    """
    if os.geteuid() != 0:
        return
    users = process_users()
    root = root.resolve()
    os.chown(root, users.mail_uid, users.mail_gid)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            try:
                os.chown(os.path.join(dirpath, name), users.mail_uid, users.mail_gid, follow_symlinks=False)
            except FileNotFoundError:
                # Another writer (a concurrent maildird append in the tests) renamed or removed the
                # file between the listing and the chown: tmp/ -> new/ is the Maildir delivery itself.
                # Whatever the file became is chowned by the next walk, or never read by Dovecot.
                continue


def password_entry(password: str, scheme: str) -> str:
    """The passwd-file password field for ``password`` in ``scheme`` (Dovecot's ``{SCHEME}`` prefix)."""
    if scheme == "PLAIN":
        return "{PLAIN}" + password
    if scheme == "ARGON2ID":
        from argon2 import PasswordHasher

        hasher = PasswordHasher(
            time_cost=ARGON2_TIME_COST, memory_cost=ARGON2_MEMORY_KIB, parallelism=ARGON2_PARALLELISM
        )
        return "{ARGON2ID}" + str(hasher.hash(password))
    raise ValueError(f"unsupported password scheme {scheme!r}; use one of {SUPPORTED_SCHEMES}")


def free_port(host: str = LOOPBACK_V4) -> int:
    """A TCP port that was free on ``host`` a moment ago."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class MailStorage:
    """Where the mail process finds the Maildir: as root, chrooted into it (see the module docstring)."""

    location: str
    chroot: Path | None
    home: str


def mail_storage(maildir: Path, home: Path) -> MailStorage:
    if os.geteuid() == 0:
        return MailStorage(location="maildir:/", chroot=maildir, home="/")
    return MailStorage(location=f"maildir:{maildir}", chroot=None, home=str(home))


def _mail_settings(storage: MailStorage, users: ProcessUsers) -> str:
    chroot = f"mail_chroot = {storage.chroot}\n" if storage.chroot is not None else ""
    return f"""\
mail_location = {storage.location}
{chroot}mail_uid = {users.mail_uid}
mail_gid = {users.mail_gid}
first_valid_uid = {min(users.mail_uid, 1)}
first_valid_gid = {min(users.mail_gid, 1)}
namespace inbox {{
  inbox = yes
  separator = .
}}
"""


def render_config(
    *,
    base_dir: Path,
    storage: MailStorage,
    host: str,
    port: int,
    passwd_file: Path,
    log_path: Path,
    users: ProcessUsers,
    tls: TlsFiles | None = None,
    extra: str = "",
) -> str:
    """The complete ``dovecot.conf`` for a private master (Dovecot 2.3 syntax).

    Without ``tls``: ``ssl = no`` and no implicit-TLS listener. With it: ``ssl = yes`` (STARTTLS offered on
    ``port``, plaintext login still allowed) and an implicit-TLS listener on ``tls.port``.
    """
    if tls is None:
        ssl_settings = "ssl = no"
        imaps_port = 0
    else:
        ssl_settings = f"ssl = yes\nssl_cert = <{tls.cert}\nssl_key = <{tls.key}"
        imaps_port = tls.port
    return f"""\
# Written by tests/support/dovecot.py: a private Dovecot on loopback, no TLS, plaintext auth allowed.
base_dir = {base_dir}/run
state_dir = {base_dir}/state
instance_name = maildird-test-{port}
listen = {host}
protocols = imap
{ssl_settings}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_verbose = yes
log_path = {log_path}
default_login_user = {users.login_user}
default_internal_user = {users.internal_user}
default_internal_group = {users.internal_group}
{_mail_settings(storage, users)}
passdb {{
  driver = passwd-file
  args = username_format=%u {passwd_file}
}}
userdb {{
  driver = static
  args = home={storage.home}
}}
# No chroots for the helper services: chroot needs root, and the tests may run as a normal user.
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = {host}
    port = {port}
  }}
  inet_listener imaps {{
    address = {host}
    port = {imaps_port}
  }}
}}
{extra}
"""


def _read_greeting(host: str, port: int) -> bytes | None:
    try:
        with socket.create_connection((host, port), timeout=STARTUP_POLL_INTERVAL * 20) as sock:
            return sock.makefile("rb").readline()
    except OSError:
        return None


class DovecotServer:
    """A private Dovecot master serving ``maildir`` to one account (see the module docstring).

    Use as ``with DovecotServer(maildir) as srv:`` or ``async with DovecotServer(maildir) as srv:``;
    ``srv.endpoint`` is where tests connect.
    """

    def __init__(
        self,
        maildir: Path,
        *,
        user: str = "alice",
        password: str = "secret",
        scheme: str = "PLAIN",
        host: str = LOOPBACK_V4,
        tls_ca: trustme.CA | None = None,
        extra_config: str = "",
    ) -> None:
        self.maildir = Path(maildir).resolve()
        self.tls_ca = tls_ca
        # Implicit-TLS port (RFC 8314) when ``tls_ca`` is given; the plain port then offers STARTTLS.
        self.tls_port = 0
        self.account = Account(user, password, scheme)
        self.host = host
        self.extra_config = extra_config
        self.port = 0
        self.base_dir: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> ImapEndpoint:
        if self.process is None:
            raise DovecotError("Dovecot is not running")
        return ImapEndpoint(self.host, self.port, self.account.name, self.account.password, self.maildir)

    @property
    def conf_path(self) -> Path:
        return self._base() / "dovecot.conf"

    @property
    def log_path(self) -> Path:
        return self._base() / "dovecot.log"

    @property
    def master_output_path(self) -> Path:
        return self._base() / "master.out"

    def _base(self) -> Path:
        if self.base_dir is None:
            raise DovecotError("Dovecot has not been started")
        return self.base_dir

    def log_text(self) -> str:
        """Dovecot's log so far ("" before the first start)."""
        if self.base_dir is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def start(self) -> ImapEndpoint:
        """Start the master and wait for its greeting; raises DovecotError with the log on failure."""
        program = require_program(DOVECOT_PROGRAM, package=DOVECOT_PACKAGE)
        users = process_users()
        # Short path under /tmp: unix socket paths are limited to 108 bytes. Traversable (0755) so the
        # unprivileged login processes reach their sockets.
        self.base_dir = Path(tempfile.mkdtemp(prefix="dovecot-t-", dir="/tmp"))
        self.base_dir.chmod(0o755)
        home = self.base_dir / "home"
        home.mkdir()
        self.maildir.mkdir(parents=True, exist_ok=True)
        give_to_mail_user(self.maildir)
        give_to_mail_user(home)
        passwd_file = self.base_dir / "passwd"
        entry = password_entry(self.account.password, self.account.scheme)
        passwd_file.write_text(f"{self.account.name}:{entry}\n")
        cert_files = self._write_certificate() if self.tls_ca is not None else None
        last_error = ""
        for _attempt in range(MAX_PORT_ATTEMPTS):
            self.port = free_port(self.host)
            tls = None
            if cert_files is not None:
                self.tls_port = free_port(self.host)
                tls = TlsFiles(cert_files[0], cert_files[1], self.tls_port)
            self.conf_path.write_text(
                render_config(
                    base_dir=self.base_dir,
                    storage=mail_storage(self.maildir, home),
                    host=self.host,
                    port=self.port,
                    passwd_file=passwd_file,
                    log_path=self.log_path,
                    users=users,
                    tls=tls,
                    extra=self.extra_config,
                )
            )
            # The master's own output goes to a file: a pipe nobody reads could fill up and block it.
            with self.master_output_path.open("wb") as output:
                self.process = subprocess.Popen(
                    [program, "-F", "-c", str(self.conf_path)],
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            if self._wait_for_greeting():
                return self.endpoint
            last_error = self._collect_failure()
            if "Address already in use" not in last_error:
                break
        self.process = None
        _remove_tree(self.base_dir)
        raise DovecotError(f"Dovecot did not start on {self.host}:{self.port}:\n{last_error}")

    def _write_certificate(self) -> tuple[Path, Path]:
        """A certificate for 127.0.0.1, ::1 and localhost from ``tls_ca``, as PEM files in base_dir."""
        assert self.tls_ca is not None
        leaf = self.tls_ca.issue_cert("127.0.0.1", "::1", "localhost")
        cert = self._base() / "cert.pem"
        key = self._base() / "key.pem"
        cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
        key.write_bytes(leaf.private_key_pem.bytes())
        key.chmod(0o600)
        return cert, key

    def _wait_for_greeting(self) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            greeting = _read_greeting(self.host, self.port)
            if greeting is not None and greeting.startswith(b"* OK"):
                return True
            time.sleep(STARTUP_POLL_INTERVAL)
        return False

    def _collect_failure(self) -> str:
        output = self._terminate()
        return f"master output:\n{output}\nlog:\n{self.log_text()}"

    def _terminate(self) -> str:
        """Stop the master (SIGTERM, then SIGKILL of the process group); return what it printed."""
        process = self.process
        if process is None:
            return ""
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_TIMEOUT)
        # Children share the master's process group (start_new_session); none may survive the test.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        if process.returncode is None:
            process.kill()
            process.wait()
        if self.base_dir is None or not self.master_output_path.exists():
            return ""
        return self.master_output_path.read_text(errors="replace")

    def stop(self) -> None:
        """Stop Dovecot and remove its base directory (the Maildir is left alone)."""
        try:
            self._terminate()
        finally:
            self.process = None
            if self.base_dir is not None:
                _remove_tree(self.base_dir)

    def __enter__(self) -> DovecotServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is not None:
            self.print_log()
        self.stop()

    def print_log(self) -> None:
        """Print Dovecot's log (pytest shows captured output of a failed test)."""
        print(f"--- Dovecot log ({self.host}:{self.port}) ---\n{self.log_text()}--- end of Dovecot log ---")

    async def __aenter__(self) -> DovecotServer:
        await trio.to_thread.run_sync(self.start)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is not None:
            self.print_log()
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(self.stop)


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def running_dovecot(maildir: Path, **kwargs: Any) -> Iterator[DovecotServer]:
    """``with running_dovecot(maildir) as srv:`` -- a started DovecotServer, always stopped afterwards."""
    server = DovecotServer(maildir, **kwargs)
    server.start()
    try:
        yield server
    except BaseException:
        server.print_log()
        raise
    finally:
        server.stop()


def dovecot_preauth(
    maildir: Path,
    commands: Sequence[bytes | str],
    *,
    user: str = "alice",
    timeout: float = PREAUTH_TIMEOUT,
    extra_config: str = "",
) -> bytes:
    """Run Dovecot's ``imap`` in PREAUTH mode on ``maildir`` and return its whole output.

    Each command gets CRLF appended unless it already ends with a line break; a ``LOGOUT`` is added when
    the last command is not one. The commands before the LOGOUT are sent at once (pipelined); the LOGOUT
    only after their last tagged response has been read, and stdin stays open until imap has exited (see
    the module docstring for why). Raises DovecotError (with Dovecot's stderr) on a non-zero exit, and
    when the output stops before the LOGOUT's tagged response.
    """
    program = require_program(DOVECOT_IMAP_PROGRAM, package=DOVECOT_PACKAGE)
    users = process_users()
    maildir = Path(maildir).resolve()
    maildir.mkdir(parents=True, exist_ok=True)
    give_to_mail_user(maildir)
    lines = [c.encode() if isinstance(c, str) else c for c in commands]
    if not lines or lines[-1].upper().split()[1:2] != [b"LOGOUT"]:
        lines.append(b"ZZ LOGOUT")
    *before, logout = [line if line.endswith(b"\n") else line + b"\r\n" for line in lines]
    with tempfile.TemporaryDirectory(prefix="dovecot-p-") as tmp:
        base = Path(tmp)
        home = base / "home"
        home.mkdir()
        give_to_mail_user(home)
        storage = mail_storage(maildir, home)
        conf = base / "dovecot.conf"
        conf.write_text(f"log_path = /dev/stderr\n{_mail_settings(storage, users)}{extra_config}\n")
        env = {"USER": user, "HOME": storage.home, "MAIL": storage.location, "PATH": os.defpath}
        # As root, imap itself chroots into the Maildir and drops to mail_uid before touching mail.
        session = PreauthSession(before, logout)
        returncode, out, err = session.run([program, "-c", str(conf)], env, timeout)
    if returncode != 0:
        raise DovecotError(f"dovecot imap (PREAUTH) exited {returncode}:\n{err.decode(errors='replace')}")
    if not answered_to_the_end(out, command_tag(logout)):
        raise DovecotError(
            f"dovecot imap (PREAUTH) ended before answering every command:\n{err.decode(errors='replace')}"
            f"\noutput tail: {out[-300:]!r}"
        )
    return out


def command_tag(command: bytes) -> bytes:
    """The tag of a command line (its first word)."""
    return command.split(maxsplit=1)[0]


def answered_to_the_end(output: bytes, last_tag: bytes) -> bool:
    """Whether ``output`` ends with the tagged response to the command tagged ``last_tag``."""
    pattern = rb"(?:\A|\r\n)" + re.escape(last_tag) + rb" (?:OK|NO|BAD)\b[^\r\n]*\r\n\Z"
    return re.search(pattern, output) is not None


# A response line that announces a literal (RFC 9051 §4.3; "~" for BINARY's literal8, RFC 3516 §4.2).
_LITERAL_AT_END = re.compile(rb"~?\{(\d+)\}\Z")
# Bytes asked for per read of imap's stdout.
READ_CHUNK = 65536


@dataclass(frozen=True, slots=True)
class PreauthSession:
    """One conversation with a PREAUTH ``imap``: ``commands`` pipelined, then ``logout`` once they are
    answered.

    Why the LOGOUT waits: imap exits right after answering it, and what is still in its output buffer
    when it exits is lost if the stdout pipe is full (observed under CPU load: "Disconnected: Logged
    out ... body_count=200" while the reply stopped before the last FETCH's tagged response). After the
    reply to the last command has been read, the pipe is empty and the few bytes of BYE and OK fit.
    Why stdin stays open until imap exits: end of input is a client going away to Dovecot (see the
    module docstring).
    """

    commands: list[bytes]
    logout: bytes

    def run(self, argv: list[str], env: dict[str, str], timeout: float) -> tuple[int, bytes, bytes]:
        """Run ``argv`` through the conversation; (exit status, stdout, stderr). Killed after ``timeout``
        seconds (DovecotError)."""
        # Unbuffered: a read returns what the pipe holds (up to READ_CHUNK) instead of waiting for more.
        process = subprocess.Popen(
            argv, bufsize=0, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        )
        assert process.stdin is not None and process.stdout is not None and process.stderr is not None
        stdin, stdout, stderr = process.stdin, process.stdout, process.stderr
        timed_out = threading.Event()

        def expire() -> None:
            timed_out.set()
            process.kill()

        def write(data: bytes) -> None:
            view = memoryview(data)
            with contextlib.suppress(BrokenPipeError):  # imap exited early: its status and stderr say why
                while view:
                    view = view[stdin.write(view) or 0 :]

        errors: list[bytes] = []
        timer = threading.Timer(timeout, expire)
        # The commands go from a thread: imap stops reading while its output is blocked, so writing much
        # before reading could deadlock.
        writer = threading.Thread(target=write, args=(b"".join(self.commands),), daemon=True)
        reader = threading.Thread(target=lambda: errors.append(stderr.read()), daemon=True)
        timer.start()
        writer.start()
        reader.start()
        out = bytearray()
        try:
            if not self.commands or read_until_tagged(stdout.read, out, command_tag(self.commands[-1])):
                writer.join()
                write(self.logout)
            while chunk := stdout.read(READ_CHUNK):
                out += chunk
            writer.join()
            with contextlib.suppress(BrokenPipeError):
                stdin.close()
            returncode = process.wait()
            reader.join()
        finally:
            timer.cancel()
            if process.poll() is None:
                process.kill()
                process.wait()
            for stream in (stdin, stdout, stderr):
                with contextlib.suppress(BrokenPipeError):
                    stream.close()
        err = b"".join(errors)
        if timed_out.is_set():
            raise DovecotError(f"dovecot imap (PREAUTH) timed out after {timeout}s: {err!r}")
        return returncode, bytes(out), err


def read_until_tagged(read: Callable[[int], bytes], out: bytearray, tag: bytes) -> bool:
    """Read into ``out`` up to the tagged response to ``tag``; False at end of input before it.

    ``read(n)`` returns at most n octets, b"" at the end of input.
    Literal-aware: a line ending in ``{n}`` is followed by n octets of the same response, which may hold
    anything, a line that looks tagged included.
    """
    response = scan = 0  # where the current response starts; where its next line starts
    while True:
        eol = out.find(b"\r\n", scan)
        if eol < 0:
            chunk = read(READ_CHUNK)
            if not chunk:
                return False
            out += chunk
            continue
        literal = _LITERAL_AT_END.search(out, scan, eol)
        if literal is not None:
            end = eol + 2 + int(literal.group(1))
            while len(out) < end:
                chunk = read(READ_CHUNK)
                if not chunk:
                    return False
                out += chunk
            scan = end
            continue
        if out.startswith(tag + b" ", response):
            return True
        response = scan = eol + 2


@pytest.fixture
def dovecot(tmp_path: Path) -> Iterator[DovecotServer]:
    """A started private Dovecot serving ``tmp_path / "Maildir"`` (user ``alice``, password ``secret``).

    Import it into a conftest (``from tests.support.dovecot import dovecot``) to use it; it works from
    trio tests too (pytest-trio accepts sync fixtures).
    """
    with running_dovecot(tmp_path / "Maildir") as server:
        yield server
