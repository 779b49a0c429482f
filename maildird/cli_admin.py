"""The administration subcommands: ``check-config``, ``user``, ``hash-password``, ``status``, ``kick``,
``reload``, ``cert`` and ``reindex`` (operations.md §7; maildird(8)).

``user`` and ``hash-password`` edit the users file (:mod:`maildird.passwd`); ``status``, ``kick`` and
``reload`` talk to the running server over its control socket (:mod:`maildird.control_client`); ``cert``
runs openssl(1) as operations.md §4 describes; ``reindex`` rebuilds metadata caches (:mod:`maildird.reindex`).
"""

from __future__ import annotations

import argparse
import getpass
import ipaddress
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from maildird.cli_parser import DEFAULT_USERS_FILE, EX_CONFIG, EX_FAILURE, EX_OK, UsageError
from maildird.config import (
    CONTROL_SOCKET_NAME,
    DEFAULT_CONFIG_PATH,
    Config,
    ConfigError,
    MailConfig,
    default_state_dir,
)
from maildird.config_load import load_config

__all__ = [
    "CERT_DAYS",
    "cert_command",
    "check_config",
    "cmd_cert",
    "cmd_check_config",
    "cmd_hash_password",
    "cmd_kick",
    "cmd_reindex",
    "cmd_reload",
    "cmd_status",
    "cmd_user",
    "control_socket_for",
    "read_password",
]

#: Self-signed certificate lifetime; 825 days is the longest Apple platforms accept for TLS server certs.
CERT_DAYS = 825


# --------------------------------------------------------------------------------------------------------
# check-config
# --------------------------------------------------------------------------------------------------------


def check_config(path: Path) -> list[str]:
    """Every problem with the configuration, its certificates and its users file (empty = good)."""
    from maildird.passwd import UsersFileError, load_users
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
    from maildird import passwd

    users_file, mail = _users_target(args)
    try:
        if args.user_command == "list":
            for record in passwd.list_users(users_file):
                print(f"{record.name}\t{record.resolve_maildir(mail)}")
            return EX_OK
        passwd.validate_username(args.name)
        if args.user_command == "del":
            passwd.delete_user(users_file, args.name)
            print(f"deleted user {args.name!r} from {users_file}", file=sys.stderr)
            return EX_OK
        if args.user_command == "passwd":
            if args.name not in passwd.load_users(users_file):
                raise passwd.UnknownUserError(f"no user {args.name!r} in {users_file}")
            passwd.set_password(users_file, args.name, read_password(args.password_stdin))
            print(f"password of {args.name!r} changed in {users_file}", file=sys.stderr)
            return EX_OK
        maildir = args.maildir.expanduser().absolute() if args.maildir else None
        if args.name in (passwd.load_users(users_file) if users_file.exists() else {}):
            raise passwd.UserExistsError(f"user {args.name!r} already exists in {users_file}")
        record = passwd.add_user(users_file, args.name, read_password(args.password_stdin), maildir=maildir)
        print(
            f"added user {args.name!r} to {users_file}; Maildir {record.resolve_maildir(mail)}",
            file=sys.stderr,
        )
        return EX_OK
    except passwd.UsernameError as exc:
        raise UsageError(str(exc))
    except passwd.UsersFileError as exc:
        print(exc, file=sys.stderr)
        return EX_CONFIG
    except (passwd.AuthError, OSError) as exc:
        print(f"maildird: {exc}", file=sys.stderr)
        return EX_FAILURE


def cmd_hash_password(args: argparse.Namespace) -> int:
    from maildird.passwd import hash_password

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
    from maildird import control_client

    try:
        connections = control_client.status(control_socket_for(args))
    except control_client.ControlError as exc:
        print(f"maildird: {exc}", file=sys.stderr)
        return EX_FAILURE
    if args.json:
        print(json.dumps(connections, indent=2))
    else:
        print(control_client.format_status(connections))
    return EX_OK


def cmd_kick(args: argparse.Namespace) -> int:
    """Exit 0 when at least one session was ended, 1 when none matched (as pkill(1))."""
    from maildird import control_client

    try:
        count = control_client.kick(control_socket_for(args), args.target)
    except control_client.ControlError as exc:
        print(f"maildird: {exc}", file=sys.stderr)
        return EX_FAILURE
    print(f"kicked {count} session{'s' if count != 1 else ''} of {args.target}")
    return EX_OK if count else EX_FAILURE


def cmd_reload(args: argparse.Namespace) -> int:
    from maildird import control_client

    path = control_socket_for(args)
    try:
        control_client.reload(path)
    except control_client.ControlError as exc:
        print(f"maildird: {exc}", file=sys.stderr)
        return EX_FAILURE
    print("reloaded the users file and certificates", file=sys.stderr)
    return EX_OK


# --------------------------------------------------------------------------------------------------------
# cert, reindex
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

    from maildird import passwd, reindex

    targets: list[tuple[str, Path]] = []
    if args.maildir is not None:
        config = Config.default_single_user(args.maildir, state_dir=args.state_dir)
        targets.append((getpass.getuser(), args.maildir.expanduser().absolute()))
    else:
        config = load_config(args.config or DEFAULT_CONFIG_PATH)
        if config.auth.users_file is None:
            raise UsageError(f"{config.source}: no [auth] users_file to find the users in")
        records = {r.name: r for r in passwd.list_users(config.auth.users_file)}
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
