"""The ``maildird`` command line (operations.md §7; the reference is maildird(8)).

Subcommands: ``serve``, ``check-config``, ``user add|passwd|del|list``, ``hash-password``, ``cert``,
``status``, ``kick``, ``reload`` (the last three talk to the running server over its control socket,
maildird.control), ``version``.  Exit status follows sysexits(3): 0 success, 1 failure (e.g. the user
already exists), 64 EX_USAGE for bad arguments, 78 EX_CONFIG for an unusable configuration (systemd
knows 78 by name: ``RestartPreventExitStatus=78`` stops a restart loop on a bad config).

``serve`` picks its configuration like this:

1. ``--config FILE``: that file; ``--users``, ``--listen``, ``--state-dir`` and ``--maildir`` override it.
2. ``--maildir DIR``: single-user mode serving DIR on 127.0.0.1:1430.  Without ``--users``, the login is
   the current user name and a random password is kept in ``<state dir>/password`` (mode 0600); stderr
   says where, once per start.  The state dir is ``$XDG_STATE_HOME/maildird`` (``~/.local/state/maildird``).
3. No arguments and /etc/maildird/maildird.toml exists: that file.
4. No arguments and no such file: a demo Maildir is created under the state dir and served as in 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import getpass
import inspect
import ipaddress
import json
import logging
import logging.handlers
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from maildird import __version__
from maildird.config import (
    CONTROL_SOCKET_NAME,
    DEFAULT_CONFIG_PATH,
    Config,
    ConfigError,
    Listener,
    LogConfig,
    MailConfig,
    default_state_dir,
    load_config,
    parse_listen_url,
)

if TYPE_CHECKING:
    from argon2 import PasswordHasher

__all__ = ["EX_CONFIG", "EX_USAGE", "build_parser", "main", "serve_config"]

EX_OK = 0
EX_FAILURE = 1
EX_USAGE = 64  # sysexits.h
EX_CONFIG = 78  # sysexits.h
#: Where `maildird user ...` looks when neither --users nor a config file names a users file.
DEFAULT_USERS_FILE = Path("/etc/maildird/passwd")
#: Random single-user password: 18 bytes = 24 URL-safe characters, 144 bits.
GENERATED_PASSWORD_BYTES = 18
#: The local syslog socket ([log] target = "syslog"); syslog(3) writes to the same one.
SYSLOG_SOCKET = "/dev/log"
#: Self-signed certificate lifetime; 825 days is the longest Apple platforms accept for TLS server certs.
CERT_DAYS = 825


class UsageError(Exception):
    """Bad arguments: exit 64."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="maildird", description="A standalone IMAP server for Maildirs.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    serve = sub.add_parser("serve", help="run the IMAP server (the default)")
    serve.add_argument(
        "--config", type=Path, metavar="FILE", help=f"configuration file (default {DEFAULT_CONFIG_PATH})"
    )
    serve.add_argument(
        "--maildir", type=Path, metavar="DIR", help="serve this one Maildir (single-user mode)"
    )
    serve.add_argument("--users", type=Path, metavar="FILE", help="users file (Dovecot passwd-file format)")
    serve.add_argument(
        "--listen",
        action="append",
        default=[],
        metavar="URL",
        help="imap://HOST:PORT, imaps://..., ws://HOST:PORT/path, wss://... or HOST:PORT; repeatable",
    )
    serve.add_argument("--state-dir", type=Path, metavar="DIR", help="state directory")

    check = sub.add_parser("check-config", help="validate the configuration, certificates and users file")
    check.add_argument("--config", type=Path, metavar="FILE", default=DEFAULT_CONFIG_PATH)

    user = sub.add_parser("user", help="manage the users file")
    user_sub = user.add_subparsers(dest="user_command", metavar="ACTION", required=True, parser_class=_Parser)
    for name, text in (
        ("add", "add a user"),
        ("passwd", "set a user's password"),
        ("del", "delete a user"),
        ("list", "list users and their Maildirs"),
    ):
        p = user_sub.add_parser(name, help=text)
        if name != "list":
            p.add_argument("name", metavar="NAME")
        p.add_argument(
            "--users",
            type=Path,
            metavar="FILE",
            help=f"users file (default: from the config, or {DEFAULT_USERS_FILE})",
        )
        p.add_argument("--config", type=Path, metavar="FILE", help="configuration naming the users file")
        if name == "add":
            p.add_argument(
                "--maildir", type=Path, metavar="DIR", help="this user's Maildir (mail=maildir:DIR)"
            )
        if name in ("add", "passwd"):
            p.add_argument(
                "--password-stdin", action="store_true", help="read the password from standard input"
            )

    sub.add_parser("hash-password", help="print an {ARGON2ID} hash of a password read from stdin or a prompt")

    cert = sub.add_parser("cert", help="make a self-signed certificate and key with openssl(1)")
    cert.add_argument("host", metavar="HOST", help="host name or IP address the certificate is for")
    cert.add_argument(
        "--out", type=Path, default=Path("."), metavar="DIR", help="output directory (default .)"
    )
    cert.add_argument("--force", action="store_true", help="overwrite existing files")

    status = sub.add_parser(
        "status", help="list the running server's connections: user, address, mailbox, IDLE, bytes"
    )
    _control_arguments(status)
    status.add_argument("--json", action="store_true", help="print the connections as JSON")

    kick = sub.add_parser("kick", help="disconnect every session of a user, or from an address or network")
    kick.add_argument("target", metavar="TARGET", help="user name, IP address or CIDR network")
    _control_arguments(kick)

    reload = sub.add_parser("reload", help="make the running server re-read its users file and certificates")
    _control_arguments(reload)

    reindex = sub.add_parser(
        "reindex", help="rebuild users' metadata caches (sizes, dates, modseqs) from their Maildirs"
    )
    reindex.add_argument("users", metavar="USER", nargs="*", help="users to reindex (default: all)")
    reindex.add_argument("--config", type=Path, default=None, help="configuration file")
    reindex.add_argument("--maildir", type=Path, default=None, help="single-user mode: this Maildir")
    reindex.add_argument("--state-dir", type=Path, default=None, help="single-user mode: the state directory")

    sub.add_parser("version", help="print the version")
    return parser


def _control_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help=f"configuration naming the control socket (default {DEFAULT_CONFIG_PATH} if it exists)",
    )
    parser.add_argument(
        "--socket", type=Path, metavar="PATH", help="the control socket (overrides the configuration)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return EX_USAGE
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else EX_OK
    command = args.command or "serve"
    if args.command is None:  # bare `maildird` = `maildird serve` with no options
        args = parser.parse_args(["serve"])
    handler = {
        "serve": cmd_serve,
        "check-config": cmd_check_config,
        "user": cmd_user,
        "hash-password": cmd_hash_password,
        "cert": cmd_cert,
        "status": cmd_status,
        "kick": cmd_kick,
        "reload": cmd_reload,
        "reindex": cmd_reindex,
        "version": cmd_version,
    }[command]
    try:
        return handler(args)
    except UsageError as exc:
        print(f"maildird: {exc}", file=sys.stderr)
        return EX_USAGE
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EX_CONFIG
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130


# --------------------------------------------------------------------------------------------------------
# serve
# --------------------------------------------------------------------------------------------------------


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
    from maildird import auth

    h = hasher if hasher is not None else auth.make_hasher()
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
        record = auth.load_users(users_file).get(login) if users_file.exists() else None
    except auth.UsersFileError:
        users_file.unlink()
        record = None
    if record is None:
        # Our own file: private even when run as root (auth would make a root-created file 0640).
        os.close(os.open(users_file, os.O_WRONLY | os.O_CREAT, 0o600))
        auth.add_user(users_file, login, password, hasher=h)
    elif not _verifies(h, record.password_hash, password):
        auth.set_password(users_file, login, password, hasher=h)
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
    from maildird.auth import UsersFileError
    from maildird.control import ControlError
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
    serve = maildird.server.serve
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


# --------------------------------------------------------------------------------------------------------
# check-config
# --------------------------------------------------------------------------------------------------------


def check_config(path: Path) -> list[str]:
    """Every problem with the configuration, its certificates and its users file (empty = good)."""
    from maildird.auth import UsersFileError, load_users
    from maildird.transports.tls import TlsSetupError, make_server_context

    try:
        config = load_config(path)
    except ConfigError as exc:
        return exc.problems
    problems: list[str] = []
    problems.extend(_check_admin(path, config))
    if config.tls.certificate is not None:
        try:
            make_server_context(config.tls.certificate, config.tls.private_key, config.tls.min_version)
        except TlsSetupError as exc:
            problems.append(f"{path}: [tls]: {exc}")
    users_file = config.auth.users_file
    if users_file is not None:
        if not users_file.exists():
            problems.append(
                f"{path}: auth.users_file: {users_file} does not exist; create it with `maildird user add`"
            )
        else:
            try:
                load_users(users_file)
            except UsersFileError as exc:
                problems.extend(exc.problems)
    return problems


def _check_admin(path: Path, config: Config) -> list[str]:
    """The plug-ins named by the config load, and the [server] user and group exist."""
    from maildird import plugins, privileges

    problems: list[str] = []
    for key, group, name in (
        ("auth.backend", plugins.AUTH_GROUP, config.auth.backend),
        ("mail.store", plugins.STORE_GROUP, config.mail.store),
    ):
        try:
            plugins.resolve(group, name)
        except plugins.PluginError as exc:
            problems.append(f"{path}: {key}: {exc}")
    try:
        plugins.load_commands()
    except plugins.PluginError as exc:
        problems.append(f"{path}: {exc}")
    if config.server.user is not None:
        try:
            privileges.resolve_account(config.server.user, config.server.group)
        except privileges.PrivilegeError as exc:
            problems.append(f"{path}: {exc}")
    return problems


def cmd_check_config(args: argparse.Namespace) -> int:
    problems = check_config(args.config)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return EX_CONFIG
    print(f"{args.config}: OK")
    return EX_OK


# --------------------------------------------------------------------------------------------------------
# user, hash-password
# --------------------------------------------------------------------------------------------------------


def _users_target(args: argparse.Namespace) -> tuple[Path, MailConfig]:
    if args.config is not None or (args.users is None and DEFAULT_CONFIG_PATH.exists()):
        config = load_config(args.config or DEFAULT_CONFIG_PATH)
        users = args.users or config.auth.users_file
        if users is None:
            raise UsageError(f"{config.source}: no [auth] users_file; pass --users FILE")
        return users, config.mail
    return args.users or DEFAULT_USERS_FILE, MailConfig()


def read_password(from_stdin: bool, *, confirm: bool = True) -> str:
    """One line from stdin (``--password-stdin`` or a pipe), else a twice-typed prompt."""
    if from_stdin or not sys.stdin.isatty():
        line = sys.stdin.readline()
        password = line.removesuffix("\n").removesuffix("\r")
    else:
        password = getpass.getpass("Password: ")
        if confirm and getpass.getpass("Again: ") != password:
            raise UsageError("the passwords differ")
    if not password:
        raise UsageError("empty password")
    return password


def cmd_user(args: argparse.Namespace) -> int:
    from maildird import auth

    users_file, mail = _users_target(args)
    try:
        if args.user_command == "list":
            for record in auth.list_users(users_file):
                print(f"{record.name}\t{record.resolve_maildir(mail)}")
            return EX_OK
        auth.validate_username(args.name)
        if args.user_command == "del":
            auth.delete_user(users_file, args.name)
            print(f"deleted user {args.name!r} from {users_file}", file=sys.stderr)
            return EX_OK
        if args.user_command == "passwd":
            if args.name not in auth.load_users(users_file):
                raise auth.UnknownUserError(f"no user {args.name!r} in {users_file}")
            auth.set_password(users_file, args.name, read_password(args.password_stdin))
            print(f"password of {args.name!r} changed in {users_file}", file=sys.stderr)
            return EX_OK
        maildir = args.maildir.expanduser().absolute() if args.maildir else None
        if args.name in (auth.load_users(users_file) if users_file.exists() else {}):
            raise auth.UserExistsError(f"user {args.name!r} already exists in {users_file}")
        record = auth.add_user(users_file, args.name, read_password(args.password_stdin), maildir=maildir)
        print(
            f"added user {args.name!r} to {users_file}; Maildir {record.resolve_maildir(mail)}",
            file=sys.stderr,
        )
        return EX_OK
    except auth.UsernameError as exc:
        raise UsageError(str(exc))
    except auth.UsersFileError as exc:
        print(exc, file=sys.stderr)
        return EX_CONFIG
    except (auth.AuthError, OSError) as exc:
        print(f"maildird: {exc}", file=sys.stderr)
        return EX_FAILURE


def cmd_hash_password(args: argparse.Namespace) -> int:
    from maildird.auth import hash_password

    print(hash_password(read_password(False)))
    return EX_OK


# --------------------------------------------------------------------------------------------------------
# status, kick, reload: the control socket
# --------------------------------------------------------------------------------------------------------


def control_socket_for(args: argparse.Namespace) -> Path:
    """``--socket``, else ``[server] control_socket`` of ``--config`` (or of /etc/maildird/maildird.toml
    when it exists), else the single-user default ``$XDG_STATE_HOME/maildird/control.sock``."""
    if args.socket is not None:
        return Path(args.socket)
    config_path = args.config
    if config_path is None and DEFAULT_CONFIG_PATH.exists():
        config_path = DEFAULT_CONFIG_PATH
    if config_path is not None:
        return load_config(config_path).server.control_socket_path
    return default_state_dir("single-user") / CONTROL_SOCKET_NAME


def cmd_status(args: argparse.Namespace) -> int:
    from maildird import control

    try:
        connections = control.status(control_socket_for(args))
    except control.ControlError as exc:
        print(f"maildird: {exc}", file=sys.stderr)
        return EX_FAILURE
    if args.json:
        print(json.dumps(connections, indent=2))
    else:
        print(control.format_status(connections))
    return EX_OK


def cmd_kick(args: argparse.Namespace) -> int:
    """Exit 0 when at least one session was ended, 1 when none matched (as pkill(1))."""
    from maildird import control

    try:
        count = control.kick(control_socket_for(args), args.target)
    except control.ControlError as exc:
        print(f"maildird: {exc}", file=sys.stderr)
        return EX_FAILURE
    print(f"kicked {count} session{'s' if count != 1 else ''} of {args.target}")
    return EX_OK if count else EX_FAILURE


def cmd_reload(args: argparse.Namespace) -> int:
    from maildird import control

    path = control_socket_for(args)
    try:
        control.reload(path)
    except control.ControlError as exc:
        print(f"maildird: {exc}", file=sys.stderr)
        return EX_FAILURE
    print("reloaded the users file and certificates", file=sys.stderr)
    return EX_OK


# --------------------------------------------------------------------------------------------------------
# cert, version
# --------------------------------------------------------------------------------------------------------


def cert_command(host: str, cert: Path, key: Path) -> list[str]:
    """The openssl(1) invocation of operations.md §4 (P-256, SAN, serverAuth)."""
    try:
        ipaddress.ip_address(host)
        san = f"IP:{host}"
    except ValueError:
        san = f"DNS:{host}"
    if host == "localhost":
        san += ",IP:127.0.0.1,IP:::1"
    return [
        "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-days", str(CERT_DAYS), "-subj", f"/CN={host}", "-addext", f"subjectAltName={san}",
        "-addext", "extendedKeyUsage=serverAuth", "-keyout", str(key), "-out", str(cert),
    ]  # fmt: skip


def cmd_cert(args: argparse.Namespace) -> int:
    if not args.host or any(c.isspace() or c in "/,=" for c in args.host):
        raise UsageError(f"not a host name: {args.host!r}")
    if shutil.which("openssl") is None:
        print("maildird: the openssl command is not installed", file=sys.stderr)
        return EX_FAILURE
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    cert, key = out / "fullchain.pem", out / "privkey.pem"
    existing = [p for p in (cert, key) if p.exists()]
    if existing and not args.force:
        print(f"maildird: {existing[0]} exists; use --force to replace it", file=sys.stderr)
        return EX_FAILURE
    for p in existing:
        p.unlink()
    result = subprocess.run(cert_command(args.host, cert, key), capture_output=True, text=True, umask=0o077)
    if result.returncode != 0:
        print(f"maildird: openssl failed:\n{result.stderr}", file=sys.stderr)
        return EX_FAILURE
    os.chmod(key, 0o600)
    os.chmod(cert, 0o644)  # the certificate is public
    print(f'[tls]\ncertificate = "{cert.absolute()}"\nprivate_key = "{key.absolute()}"')
    return EX_OK


def cmd_reindex(args: argparse.Namespace) -> int:
    """Rebuild the metadata cache of the named users (all users of the users file by default), or of
    the single-user ``--maildir``.  See maildird.reindex."""
    import trio

    from maildird import auth, reindex

    targets: list[tuple[str, Path]] = []
    if args.maildir is not None:
        config = Config.default_single_user(args.maildir, state_dir=args.state_dir)
        targets.append((getpass.getuser(), args.maildir.expanduser().absolute()))
    else:
        config = load_config(args.config or DEFAULT_CONFIG_PATH)
        if config.auth.users_file is None:
            raise UsageError(f"{config.source}: no [auth] users_file to find the users in")
        records = {r.name: r for r in auth.list_users(config.auth.users_file)}
        unknown = [name for name in args.users if name not in records]
        if unknown:
            raise UsageError(f"no such user in {config.auth.users_file}: {', '.join(unknown)}")
        for name in args.users or sorted(records):
            targets.append((name, records[name].resolve_maildir(config.mail)))
    for user, maildir in targets:
        done = trio.run(reindex.reindex_user, config, user, maildir)
        total = sum(r.messages for r in done)
        print(f"{user}: {len(done)} mailboxes, {total} messages reindexed ({maildir})")
    return EX_OK


def cmd_version(args: argparse.Namespace) -> int:
    print(f"maildird {__version__}")
    return EX_OK
