"""``maildird serve``: working out the configuration to run with, then running the server.

Theory of operation: :func:`serve_config` follows the order in :mod:`maildird.cli`'s docstring: a config
file (with command-line overrides), else single-user mode for ``--maildir`` (login = the current user, a
random password kept in ``<state dir>/password`` by :func:`ensure_single_user_login`), else a demo Maildir.
:func:`cmd_serve` installs the ``[log]`` target and maps the runtime's start-up errors to sysexits(3)
statuses (78 for configuration problems, 1 for the rest) instead of tracebacks.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import getpass
import inspect
import logging
import logging.handlers
import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from maildird.cli_parser import EX_CONFIG, EX_FAILURE, EX_OK, UsageError
from maildird.config import (
    DEFAULT_CONFIG_PATH,
    Config,
    ConfigError,
    Listener,
    LogConfig,
    default_state_dir,
    parse_listen_url,
)
from maildird.config_load import load_config

if TYPE_CHECKING:
    from argon2 import PasswordHasher

__all__ = [
    "GENERATED_PASSWORD_BYTES",
    "SYSLOG_SOCKET",
    "ServePlan",
    "cmd_serve",
    "ensure_single_user_login",
    "install_log_target",
    "serve_config",
]

#: Random single-user password: 18 bytes = 24 URL-safe characters, 144 bits.
GENERATED_PASSWORD_BYTES = 18
#: The local syslog socket ([log] target = "syslog"); syslog(3) writes to the same one.
SYSLOG_SOCKET = "/dev/log"


@dataclasses.dataclass(frozen=True, slots=True)
class ServePlan:
    config: Config
    notice: str | None = None  # printed once to stderr before serving


def _listeners(urls: list[str]) -> tuple[Listener, ...]:
    try:
        return tuple(parse_listen_url(u) for u in urls)
    except ValueError as exc:
        raise UsageError(f"--listen: {exc}")


def serve_config(args: argparse.Namespace, *, hasher: PasswordHasher | None = None) -> ServePlan:
    """Work out the configuration ``serve`` runs with (see the module docstring)."""
    from maildird import demo

    listeners = _listeners(args.listen)
    config_path: Path | None = args.config
    if config_path is None and args.maildir is None and args.users is None and DEFAULT_CONFIG_PATH.exists():
        config_path = DEFAULT_CONFIG_PATH
    if config_path is not None:
        config = load_config(config_path)
        if args.maildir is not None:
            fixed = args.maildir.expanduser().absolute()
            mail = dataclasses.replace(config.mail, maildir=str(fixed).replace("%", "%%"))
            server = dataclasses.replace(config.server, mode="single-user")
            config = dataclasses.replace(config, mail=mail, server=server)
        if args.users is not None:
            config = dataclasses.replace(config, auth=dataclasses.replace(config.auth, users_file=args.users))
        if args.state_dir is not None:
            config = dataclasses.replace(
                config, server=dataclasses.replace(config.server, state_dir=args.state_dir)
            )
        if listeners:
            _check_listeners(listeners, config)
            config = dataclasses.replace(config, listeners=listeners)
        return ServePlan(config)

    state_dir: Path = args.state_dir or default_state_dir("single-user")
    maildir: Path | None = args.maildir
    login = getpass.getuser()
    demo_note = ""
    if maildir is None:
        if args.users is not None:
            raise UsageError("--users needs --maildir DIR or --config FILE to say where the mail is")
        _private_dir(state_dir)
        maildir = demo.create_demo_maildir(state_dir / "demo" / "Maildir", login)
        demo_note = f"maildird: no {DEFAULT_CONFIG_PATH}, so serving a demo Maildir\n"
    config = Config.default_single_user(
        maildir, listeners or None, users_file=args.users, state_dir=state_dir
    )
    _check_listeners(config.listeners, config)
    if args.users is not None:
        return ServePlan(config, demo_note.rstrip() or None)
    users_file, password_file = ensure_single_user_login(state_dir, login, hasher=hasher)
    config = dataclasses.replace(config, auth=dataclasses.replace(config.auth, users_file=users_file))
    urls = ", ".join(lst.url() for lst in config.listeners)
    notice = (
        f"{demo_note}maildird: serving {maildir} at {urls}\n"
        f"maildird: log in as user {login!r}; the password is in {password_file}"
    )
    return ServePlan(config, notice)


def _check_listeners(listeners: tuple[Listener, ...], config: Config) -> None:
    for lst in listeners:
        if lst.tls == "implicit" and config.tls.certificate is None:
            raise UsageError(
                f"--listen {lst.url()}: TLS needs a certificate; use --config with a [tls] section"
            )
        if lst.tls == "none" and not lst.is_loopback and not config.auth.allow_plaintext:
            raise UsageError(
                f"--listen {lst.url()}: refusing plaintext IMAP on a non-loopback address (RFC 8314); "
                "use imaps:// with a certificate"
            )


def ensure_single_user_login(
    state_dir: Path, login: str, *, hasher: PasswordHasher | None = None
) -> tuple[Path, Path]:
    """Make sure ``<state>/password`` (0600, random) and ``<state>/passwd`` (its hash for ``login``) exist and
    agree; returns (users file, password file)."""
    from maildird import passwd

    h = hasher if hasher is not None else passwd.make_hasher()
    _private_dir(state_dir)
    password_file, users_file = state_dir / "password", state_dir / "passwd"
    try:
        password = password_file.read_text().strip()
    except FileNotFoundError:
        password = ""
    if not password:
        password = secrets.token_urlsafe(GENERATED_PASSWORD_BYTES)
        tmp = password_file.with_name(".password.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(password + "\n")
        os.replace(tmp, password_file)
    os.chmod(password_file, 0o600)
    try:
        record = passwd.load_users(users_file).get(login) if users_file.exists() else None
    except passwd.UsersFileError:
        users_file.unlink()
        record = None
    if record is None:
        # Our own file: private even when run as root (auth would make a root-created file 0640).
        os.close(os.open(users_file, os.O_WRONLY | os.O_CREAT, 0o600))
        passwd.add_user(users_file, login, password, hasher=h)
    elif not _verifies(h, record.password_hash, password):
        passwd.set_password(users_file, login, password, hasher=h)
    return users_file, password_file


def _private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) as 0700: it holds a password and mail."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for p in reversed(missing):
        p.mkdir(mode=0o700, exist_ok=True)


def _verifies(hasher: PasswordHasher, encoded: str, password: str) -> bool:
    import argon2

    try:
        return bool(hasher.verify(encoded, password))
    except argon2.exceptions.VerificationError:
        return False
    except argon2.exceptions.InvalidHashError:
        return False


def install_log_target(log: LogConfig, stderr_handler: logging.Handler | None = None) -> logging.Handler:
    """``[log] target``: keep the stderr handler of ``setup_logging``, or replace it with a file handler
    (``WatchedFileHandler``: reopened when logrotate moves the file) or a syslog handler on /dev/log.
    Opened before the privilege drop, so a root-only log directory works until the first rotation.
    Raises OSError when the file or /dev/log cannot be opened."""
    if log.target == "stderr" and stderr_handler is not None:
        return stderr_handler
    handler: logging.Handler
    if log.target == "file":
        assert log.file is not None  # the config loader insists
        handler = logging.handlers.WatchedFileHandler(log.file, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    elif log.target == "syslog":
        facility = logging.handlers.SysLogHandler.facility_names[log.syslog_facility]
        handler = logging.handlers.SysLogHandler(address=SYSLOG_SOCKET, facility=facility)
        handler.setFormatter(logging.Formatter("maildird[%(process)d]: %(name)s: %(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
    logger = logging.getLogger("maildird")
    if stderr_handler is not None:
        logger.removeHandler(stderr_handler)
    _mark_ours(handler)
    logger.addHandler(handler)
    return handler


def _mark_ours(handler: logging.Handler) -> None:
    """setup_logging's marker: a marked handler is replaced when logging is set up again."""
    handler._maildird = True  # type: ignore[attr-defined]


def _serve_kwargs(serve: Callable[..., Any]) -> dict[str, Any]:
    """``manage_privileges=True`` (privilege drop, root refusal, pid file, control socket) once the runtime
    takes it; tests call ``serve`` directly without it."""
    return {"manage_privileges": True} if "manage_privileges" in inspect.signature(serve).parameters else {}


OPEN_FILES_WANTED = 65536
"""The soft limit on open files the server raises itself to (never past the hard limit): each open
folder holds 15 descriptors (its sidecar and four cache files, each with SQLite's -wal and -shm), each
connection one, and distributions start services at a soft limit of 1024 (the systemd unit sets
LimitNOFILE too). Dovecot has a process per connection and so a limit per connection."""


def raise_open_file_limit(wanted: int = OPEN_FILES_WANTED) -> None:
    """Raise the soft RLIMIT_NOFILE towards ``wanted`` within the hard limit (an unprivileged process may);
    never lowers it. Trio waits on epoll, so high descriptor numbers cost nothing."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def cmd_serve(args: argparse.Namespace) -> int:
    import trio

    from maildird.logging_setup import setup_logging

    plan = serve_config(args)
    handler = setup_logging(plan.config.log.level)
    try:
        install_log_target(plan.config.log, handler)
    except OSError as exc:
        print(f"maildird: [log] target = {plan.config.log.target!r}: {exc}", file=sys.stderr)
        return EX_CONFIG
    if plan.notice:
        print(plan.notice, file=sys.stderr, flush=True)
    import maildird.server
    from maildird.control_client import ControlError
    from maildird.passwd import UsersFileError
    from maildird.plugins import PluginError
    from maildird.privileges import PidFileError, PrivilegeError
    from maildird.systemd import SocketActivationError
    from maildird.transports.tls import TlsSetupError

    config_errors = (
        ConfigError,
        UsersFileError,
        TlsSetupError,
        PrivilegeError,
        PluginError,
        SocketActivationError,
    )
    from maildird.store.maildir.collector import collect_at_start

    serve = maildird.server.serve
    raise_open_file_limit()
    collect_at_start()  # the process's first full collection, before any client waits for it
    try:
        trio.run(functools.partial(serve, plan.config, **_serve_kwargs(serve)))
    except BaseException as exc:  # sorted below; anything else is re-raised
        leaf = _first_leaf(exc)
        # A socket systemd passed that matches no [[listen]] entry is a configuration mismatch too.
        if isinstance(leaf, config_errors):
            print(leaf, file=sys.stderr)
            return EX_CONFIG
        if isinstance(leaf, PidFileError | ControlError):
            print(f"maildird: {leaf}", file=sys.stderr)
            return EX_FAILURE
        if isinstance(leaf, OSError) and leaf.errno is not None:
            # Typically EADDRINUSE or EACCES when binding a listener.
            print(f"maildird: {leaf.strerror}: {leaf.filename or ''}".rstrip(": "), file=sys.stderr)
            print(
                f"maildird: listeners: {', '.join(x.url() for x in plan.config.listeners)}", file=sys.stderr
            )
            return EX_FAILURE
        raise
    return EX_OK


def _first_leaf(exc: BaseException) -> BaseException:
    """Trio wraps errors from nurseries in exception groups; the first concrete one says what went wrong."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc
