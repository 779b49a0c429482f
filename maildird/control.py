"""The control socket: ``maildird status``, ``kick`` and ``reload`` talking to the running server (issue 9).

Theory of operation
-------------------
The server listens on a Unix-domain stream socket (``[server] control_socket``, default
``<state_dir>/control.sock``), mode 0600 and owned by the service account, so only that account and
root can use it; the peer's credentials (``SO_PEERCRED``) are checked as well.  The socket is bound
inside a fresh 0700 directory, chmod'ed to 0600 and only then renamed into place, so there is never
a moment when the path accepts connections with looser permissions (a umask change would affect
every thread of the process).  Start it after the privilege drop so the service account owns it.

The protocol is line-delimited JSON, one request object per line, one response object per line,
several requests per connection allowed::

    {"command": "status"}              -> {"ok": true, "connections": [{...}, ...], "summary": "..."}
    {"command": "kick", "target": T}   -> {"ok": true, "kicked": 2}
    {"command": "reload"}              -> {"ok": true}
    anything else                      -> {"ok": false, "error": "..."}

Each connection in ``status`` has ``user`` (None before login), ``peer``, ``transport`` ("tcp",
"tls", "ws", "wss"), ``mailbox`` (the selected one or None), ``idling``, ``connected_since``
(ISO 8601, UTC), ``bytes_in`` and ``bytes_out``.  ``kick`` takes a user name or an address or
network (``192.0.2.7``, ``2001:db8::/32``) and ends every matching session with ``* BYE``.

The server supplies a *provider* (:class:`ControlProvider`): ``connections()``, ``kick(target)``,
``reload()``.  :class:`ServerControl` is the provider built from the runtime's set of connections.
The client side (:func:`request`, :func:`status`, :func:`kick`, :func:`reload`) is blocking, for the
CLI; it lives in :mod:`maildird.control_client` and is re-exported here.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import inspect
import ipaddress
import json
import logging
import os
import socket
import struct
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

import trio

from maildird.access import normalize_address, peer_host
from maildird.control_client import CLIENT_TIMEOUT as CLIENT_TIMEOUT
from maildird.control_client import MAX_RESPONSE as MAX_RESPONSE
from maildird.control_client import SUN_PATH_MAX as SUN_PATH_MAX
from maildird.control_client import ControlError as ControlError
from maildird.control_client import addressable
from maildird.control_client import format_status as format_status
from maildird.control_client import kick as kick
from maildird.control_client import reload as reload
from maildird.control_client import request as request
from maildird.control_client import status as status
from maildird.control_client import status_line as status_line
from maildird.logging_setup import safe

__all__ = [
    "ControlError",
    "ControlProvider",
    "ControlSocketInUse",
    "ServerControl",
    "connection_info",
    "format_status",
    "kick",
    "reload",
    "report_status",
    "request",
    "run_control",
    "serve_control",
    "status",
    "status_line",
]

log = logging.getLogger("maildird.control")

SOCKET_MODE = 0o600
#: Longest request line accepted; a kick target or a command name is tiny.
MAX_REQUEST = 4096
#: A control client silent for this long is disconnected.
CLIENT_IDLE_TIMEOUT = 30.0
#: Pending control connections the kernel queues.
BACKLOG = 8
#: Seconds between checks whether systemd's STATUS= line needs updating.
STATUS_INTERVAL = 5.0
#: ``struct ucred`` of SO_PEERCRED (Linux): pid, uid, gid as C ints.
_UCRED = struct.Struct("3i")


class ControlSocketInUse(ControlError):
    """Another server answers on the control socket path."""


class ControlProvider(Protocol):
    """What the server exposes to the control socket.  Methods may also be ``async``."""

    def connections(self) -> list[dict[str, Any]]: ...

    def kick(self, target: str) -> int: ...

    def reload(self) -> None: ...


# --------------------------------------------------------------------------------------------------------
# Server side
# --------------------------------------------------------------------------------------------------------


def _in_use(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe, addressable(path) as name:
        try:
            probe.connect(name)
        except OSError:
            return False
    return True


async def _bind(path: Path) -> trio.socket.SocketType:
    """Bind in a private directory, chmod 0600, rename into place (module docstring)."""
    if (path.exists() or path.is_symlink()) and _in_use(path):
        raise ControlSocketInUse(f"{path}: another maildird answers on this control socket")
    path.parent.mkdir(parents=True, exist_ok=True)
    private = Path(tempfile.mkdtemp(prefix=".control-", dir=path.parent))
    sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        staged = private / "s"
        with addressable(staged) as name:
            await sock.bind(name)
        os.chmod(staged, SOCKET_MODE)
        sock.listen(BACKLOG)
        os.replace(staged, path)
    except BaseException:
        sock.close()
        with contextlib.suppress(OSError):
            (private / "s").unlink()
        raise
    finally:
        with contextlib.suppress(OSError):
            private.rmdir()
    return sock


def _peer_allowed(sock: trio.socket.SocketType) -> bool:
    """SO_PEERCRED: only root and our own uid, on top of the 0600 mode."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return True
    try:
        _pid, uid, _gid = _UCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, option, _UCRED.size))
    except OSError:
        return False
    return uid in (0, os.geteuid())


async def _call(fn: Callable[..., Any], *args: Any) -> Any:
    result = fn(*args)
    if inspect.isawaitable(result):
        result = await result
    return result


async def _answer(provider: ControlProvider, line: bytes) -> dict[str, Any]:
    try:
        message = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {"ok": False, "error": "not a JSON object"}
    if not isinstance(message, dict):
        return {"ok": False, "error": "not a JSON object"}
    command = message.get("command")
    try:
        if command == "status":
            conns = list(await _call(provider.connections))
            return {"ok": True, "connections": conns, "summary": status_line(conns)}
        if command == "kick":
            target = message.get("target")
            if not isinstance(target, str) or not target:
                return {"ok": False, "error": "kick needs a target: a user name or an address"}
            count = int(await _call(provider.kick, target))
            log.info("control: kicked %d session(s) of %s", count, safe(target))
            return {"ok": True, "kicked": count}
        if command == "reload":
            await _call(provider.reload)
            return {"ok": True}
    except Exception as exc:
        log.exception("control: %s failed", safe(command))
        return {"ok": False, "error": f"{command} failed: {exc}"}
    return {"ok": False, "error": f"unknown command {safe(command)!s}; use status, kick or reload"}


async def _serve_client(stream: trio.SocketStream, provider: ControlProvider) -> None:
    async with stream:
        if not _peer_allowed(stream.socket):
            return
        buffer = b""
        while True:
            while b"\n" not in buffer:
                if len(buffer) > MAX_REQUEST:
                    await stream.send_all(b'{"ok": false, "error": "request too long"}\n')
                    return
                with trio.move_on_after(CLIENT_IDLE_TIMEOUT) as timer:
                    data = await stream.receive_some(MAX_REQUEST)
                if timer.cancelled_caught or not data:
                    return
                buffer += data
            line, _, buffer = buffer.partition(b"\n")
            if not line.strip():
                continue
            reply = await _answer(provider, line)
            await stream.send_all(json.dumps(reply, default=str).encode() + b"\n")


async def serve_control(
    path: Path,
    provider: ControlProvider,
    *,
    task_status: trio.TaskStatus[Path] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Listen on ``path`` until cancelled, then remove it.  ``task_status.started(path)`` once bound.
    Raises ControlSocketInUse when another server answers there, OSError when it cannot be bound."""
    await _serve_bound(await _bind(path), path, provider, task_status)


async def _serve_bound(
    sock: trio.socket.SocketType, path: Path, provider: ControlProvider, task_status: trio.TaskStatus[Any]
) -> None:
    identity = os.stat(path)
    listener = trio.SocketListener(sock)

    async def handler(stream: trio.SocketStream) -> None:
        try:
            await _serve_client(stream, provider)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    try:
        async with trio.open_nursery() as nursery:
            task_status.started(path)
            await trio.serve_listeners(handler, [listener], handler_nursery=nursery)
    finally:
        with contextlib.suppress(OSError):
            st = os.stat(path)
            if (st.st_dev, st.st_ino) == (identity.st_dev, identity.st_ino):
                path.unlink()


async def run_control(
    path: Path,
    provider: ControlProvider,
    *,
    task_status: trio.TaskStatus[Path | None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """:func:`serve_control` for the runtime's services nursery: a control socket that cannot be set up
    (another instance answers there, no permission, no directory) is logged as an error and the
    server goes on without it; ``task_status.started`` gets None then."""
    try:
        sock = await _bind(path)
    except (OSError, ControlSocketInUse) as exc:
        log.error("no control socket at %s (maildird status/kick/reload will not work): %s", path, exc)
        task_status.started(None)
        return
    await _serve_bound(sock, path, provider, task_status)


# --------------------------------------------------------------------------------------------------------
# The provider built from the runtime's connections
# --------------------------------------------------------------------------------------------------------


def connection_info(
    conn: Any, *, now_wall: float | None = None, now_trio: float | None = None
) -> dict[str, Any]:
    """One line of ``status`` from a ``maildird.connection.ClientConnection`` (read by attribute:
    ``ctx``, ``bytes_in``, ``bytes_out``, ``idling``, ``connected_at`` on Trio's clock)."""
    ctx = conn.ctx
    now_wall = time.time() if now_wall is None else now_wall
    now_trio = trio.current_time() if now_trio is None else now_trio
    since = now_wall - max(0.0, now_trio - float(conn.connected_at))
    selected = getattr(ctx, "selected", None)
    return {
        "user": ctx.user,
        "peer": ctx.transport.peer,
        "transport": ctx.transport.kind,
        "mailbox": selected.name if selected is not None else None,
        "idling": bool(conn.idling),
        "connected_since": dt.datetime.fromtimestamp(since, dt.UTC).isoformat(timespec="seconds"),
        "bytes_in": int(conn.bytes_in),
        "bytes_out": int(conn.bytes_out),
    }


def _matches(conn: Any, target: str) -> bool:
    if conn.ctx.user == target:
        return True
    try:
        network = ipaddress.ip_network(target.strip("[]"), strict=False)
    except ValueError:
        return False
    address = normalize_address(peer_host(conn.ctx.transport.peer))
    return address is not None and address.version == network.version and address in network


class ServerControl:
    """The provider for :func:`serve_control`: ``connections`` is the runtime's live collection
    (``ServerState.connections``), ``reload`` the server's reload function.  Kicking calls each
    matching connection's ``kick(text)``."""

    KICK_TEXT = "Disconnected by the administrator."

    def __init__(self, connections: Iterable[Any], reload: Callable[[], Any]) -> None:
        self._connections = connections
        self._reload = reload

    def connections(self) -> list[dict[str, Any]]:
        now_wall, now_trio = time.time(), trio.current_time()
        rows = [connection_info(c, now_wall=now_wall, now_trio=now_trio) for c in list(self._connections)]
        return sorted(rows, key=lambda r: (r["connected_since"], r["peer"]))

    def kick(self, target: str) -> int:
        victims = [c for c in list(self._connections) if _matches(c, target)]
        for conn in victims:
            conn.kick(self.KICK_TEXT)
        return len(victims)

    def reload(self) -> Any:
        return self._reload()


async def report_status(provider: ControlProvider, *, interval: float = STATUS_INTERVAL) -> None:
    """Keep systemd's STATUS= line (``systemctl status maildird``) at the current counts; a no-op
    outside systemd.  Run it in the services nursery."""
    from maildird import systemd

    last = ""
    while True:
        line = status_line(list(await _call(provider.connections)))
        if line != last:
            systemd.status(line)
            last = line
        await trio.sleep(interval)
