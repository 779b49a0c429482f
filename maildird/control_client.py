"""The control socket's client side: the blocking calls ``maildird status``, ``kick`` and ``reload`` make.

Theory of operation: :func:`request` connects to the Unix socket, writes one JSON request line and reads one
JSON response line (the protocol is described in :mod:`maildird.control`, the server side), turning every
failure into a :class:`ControlError` with a reason an administrator can act on.  :func:`format_status` and
:func:`status_line` render ``status`` for humans; the server uses :func:`status_line` for systemd's
STATUS= too.  :func:`addressable` makes socket paths longer than ``sun_path`` usable on both sides.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from maildird.logging_setup import safe

__all__ = [
    "CLIENT_TIMEOUT",
    "MAX_RESPONSE",
    "ControlError",
    "addressable",
    "format_status",
    "kick",
    "reload",
    "request",
    "status",
    "status_line",
]

#: How long the CLI waits for the server's answer (a reload re-reads files and certificates).
CLIENT_TIMEOUT = 30.0
#: Largest response the CLI reads: status of 100 000 connections at about 300 bytes each.
MAX_RESPONSE = 64 * 1024 * 1024
#: sizeof(sockaddr_un.sun_path) on Linux (unix(7)), less room for the terminating NUL.
SUN_PATH_MAX = 107


class ControlError(Exception):
    """The CLI could not talk to the server, or the server refused the request."""


@contextlib.contextmanager
def addressable(path: Path) -> Iterator[str]:
    """A name for ``path`` that fits ``sun_path`` (108 bytes on Linux, unix(7)): the path itself, or for a
    longer one ``/proc/self/fd/N/NAME`` through an ``O_PATH`` descriptor of its directory."""
    if len(os.fsencode(path)) < SUN_PATH_MAX or not Path("/proc/self/fd").is_dir():
        yield str(path)
        return
    fd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


def status_line(connections: list[dict[str, Any]]) -> str:
    """One line for ``systemctl status`` (sd_notify STATUS=) and the CLI: the counts of ``status``."""
    users = {c["user"] for c in connections if c.get("user")}
    logged_in = sum(1 for c in connections if c.get("user"))
    idling = sum(1 for c in connections if c.get("idling"))
    return (
        f"{len(connections)} connection{'s' if len(connections) != 1 else ''}, {logged_in} logged in "
        f"({len(users)} user{'s' if len(users) != 1 else ''}), {idling} idling"
    )


def request(path: Path, message: dict[str, Any], *, timeout: float = CLIENT_TIMEOUT) -> dict[str, Any]:
    """Send one request, return the server's answer.  Raises ControlError with a readable reason."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            with addressable(path) as name:
                sock.connect(name)
            sock.sendall(json.dumps(message).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
                if len(data) > MAX_RESPONSE:
                    raise ControlError(f"{path}: response too long")
    except FileNotFoundError:
        raise ControlError(f"{path}: no control socket; is maildird running (with this configuration)?")
    except ConnectionRefusedError:
        raise ControlError(f"{path}: nobody listens; maildird is not running (a stale socket)")
    except PermissionError:
        raise ControlError(f"{path}: permission denied; run as root or as the maildird user")
    except OSError as exc:
        raise ControlError(f"{path}: {exc.strerror or exc}")
    try:
        reply = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ControlError(f"{path}: the server closed the connection without an answer")
    if not isinstance(reply, dict):
        raise ControlError(f"{path}: unexpected answer {reply!r}")
    if not reply.get("ok"):
        raise ControlError(str(reply.get("error", "the server refused the request")))
    return reply


def status(path: Path) -> list[dict[str, Any]]:
    connections = request(path, {"command": "status"}).get("connections", [])
    assert isinstance(connections, list)
    return connections


def kick(path: Path, target: str) -> int:
    return int(request(path, {"command": "kick", "target": target}).get("kicked", 0))


def reload(path: Path) -> None:
    request(path, {"command": "reload"})


_COLUMNS = ("user", "peer", "transport", "mailbox", "idle", "connected since", "in", "out")


def format_status(connections: list[dict[str, Any]]) -> str:
    """A table for humans, one connection per line, then the counts."""
    rows = [_COLUMNS]
    for c in connections:
        rows.append(
            (
                safe(c.get("user") or "-"),
                safe(c.get("peer") or "?"),
                safe(c.get("transport") or "?"),
                safe(c.get("mailbox") or "-"),
                "yes" if c.get("idling") else "no",
                safe(c.get("connected_since") or "?"),
                str(c.get("bytes_in", 0)),
                str(c.get("bytes_out", 0)),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(_COLUMNS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join([*lines, status_line(connections)])
