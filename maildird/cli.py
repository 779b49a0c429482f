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

The parser and exit statuses live in :mod:`maildird.cli_parser`, ``serve`` in :mod:`maildird.cli_serve`,
the administration commands in :mod:`maildird.cli_admin`; this module dispatches and re-exports their names.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from maildird import __version__
from maildird.cli_admin import CERT_DAYS as CERT_DAYS
from maildird.cli_admin import cert_command as cert_command
from maildird.cli_admin import check_config as check_config
from maildird.cli_admin import cmd_cert as cmd_cert
from maildird.cli_admin import cmd_check_config as cmd_check_config
from maildird.cli_admin import cmd_hash_password as cmd_hash_password
from maildird.cli_admin import cmd_kick as cmd_kick
from maildird.cli_admin import cmd_reindex as cmd_reindex
from maildird.cli_admin import cmd_reload as cmd_reload
from maildird.cli_admin import cmd_status as cmd_status
from maildird.cli_admin import cmd_user as cmd_user
from maildird.cli_admin import control_socket_for as control_socket_for
from maildird.cli_admin import read_password as read_password
from maildird.cli_parser import DEFAULT_USERS_FILE as DEFAULT_USERS_FILE
from maildird.cli_parser import EX_CONFIG as EX_CONFIG
from maildird.cli_parser import EX_FAILURE as EX_FAILURE
from maildird.cli_parser import EX_OK as EX_OK
from maildird.cli_parser import EX_USAGE as EX_USAGE
from maildird.cli_parser import UsageError as UsageError
from maildird.cli_parser import build_parser as build_parser
from maildird.cli_serve import GENERATED_PASSWORD_BYTES as GENERATED_PASSWORD_BYTES
from maildird.cli_serve import SYSLOG_SOCKET as SYSLOG_SOCKET
from maildird.cli_serve import ServePlan as ServePlan
from maildird.cli_serve import cmd_serve as cmd_serve
from maildird.cli_serve import ensure_single_user_login as ensure_single_user_login
from maildird.cli_serve import install_log_target as install_log_target
from maildird.cli_serve import serve_config as serve_config
from maildird.config import ConfigError

__all__ = ["EX_CONFIG", "EX_USAGE", "build_parser", "main", "serve_config"]


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


def cmd_version(args: argparse.Namespace) -> int:
    print(f"maildird {__version__}")
    return EX_OK
