"""The ``maildird`` command line's arguments and exit statuses (operations.md §7; maildird(8)).

:func:`build_parser` defines every subcommand and option (tests/ops/test_man.py reads them from here for the
man page check); the exit statuses follow sysexits(3).  The commands themselves live in
:mod:`maildird.cli_serve` and :mod:`maildird.cli_admin`; :mod:`maildird.cli` dispatches to them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from maildird.config import DEFAULT_CONFIG_PATH

__all__ = [
    "DEFAULT_USERS_FILE",
    "EX_CONFIG",
    "EX_FAILURE",
    "EX_OK",
    "EX_USAGE",
    "UsageError",
    "build_parser",
]

EX_OK = 0
EX_FAILURE = 1
EX_USAGE = 64  # sysexits.h
EX_CONFIG = 78  # sysexits.h
#: Where `maildird user ...` looks when neither --users nor a config file names a users file.
DEFAULT_USERS_FILE = Path("/etc/maildird/passwd")


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
