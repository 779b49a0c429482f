"""systemd integration without libsystemd: readiness notification, watchdog and socket activation.

Theory of operation
-------------------
*Notify* (sd_notify(3)): one ``AF_UNIX``/``SOCK_DGRAM`` datagram to ``$NOTIFY_SOCKET`` per state change,
newline-separated ``KEY=VALUE`` fields.  A leading ``@`` names the Linux abstract namespace (a leading NUL
byte).  Without ``$NOTIFY_SOCKET`` (not started by systemd, or ``Type=simple``) every call is a cheap no-op
returning False, so the server calls these unconditionally.  The socket is opened per message, so nothing
needs closing and a restarted manager is picked up; a send timeout bounds the blocking write.

*Reload* (systemd.service(5), ``Type=notify-reload`` since v253): ``RELOADING=1`` must travel in the same
datagram as ``MONOTONIC_USEC=`` (CLOCK_MONOTONIC in µs), then ``READY=1`` when done; :func:`reloading` and
:func:`ready` do exactly that and also work under v252's ``Type=notify`` with a signal ``ExecReload=``.

*Watchdog* (sd_watchdog_enabled(3)): ``$WATCHDOG_USEC`` is the timeout; ``$WATCHDOG_PID``, when set, must
be our pid.  :func:`watchdog_task` pings at half the timeout from the event loop itself, so a wedged loop
stops the pings and systemd restarts the service.

*Socket activation* (sd_listen_fds(3)): when ``$LISTEN_PID`` is our pid, ``$LISTEN_FDS`` descriptors start
at fd 3, named by ``$LISTEN_FDNAMES`` (``:``-separated).  The variables are removed afterwards so children do
not adopt the sockets, and the descriptors get ``FD_CLOEXEC``.  ``socket.socket(fileno=fd)`` detects family
and type itself and does not dup.  Never ``bind``/``listen``/``shutdown`` an inherited socket: systemd keeps
a copy, and ``shutdown()`` would break it for the next activation too.  Sockets are matched to configured
listeners by their bound address (:func:`match_listener`, :func:`assign_listeners`), as Dovecot does,
because ``FileDescriptorName=`` names every socket of one unit alike.

Stdlib only at import time; :func:`watchdog_task` imports trio when it runs.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    import trio

__all__ = [
    "SD_LISTEN_FDS_START",
    "SocketActivationError",
    "assign_listeners",
    "listen_fds",
    "listen_fds_with_names",
    "match_listener",
    "notify",
    "ready",
    "reloading",
    "status",
    "stopping",
    "trio_listeners",
    "watchdog",
    "watchdog_interval",
    "watchdog_task",
]

#: First inherited descriptor (sd-daemon.h SD_LISTEN_FDS_START).
SD_LISTEN_FDS_START = 3
#: Longest a notification may block when the manager's queue is full; a lost STATUS is better than a
#: stalled event loop.
NOTIFY_SEND_TIMEOUT = 1.0
#: Ping at this fraction of WATCHDOG_USEC (sd_watchdog_enabled(3) recommends half).
WATCHDOG_PING_FRACTION = 0.5
#: Longest STATUS= text sent; systemctl shows one line anyway.
MAX_STATUS_LENGTH = 200

_LISTEN_VARIABLES = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")


class SocketActivationError(Exception):
    """Inherited descriptors are unusable: not a socket, not listening, or matching no configured listener."""


# ----------------------------------------------------------------------------------------------------------
# Notify
# ----------------------------------------------------------------------------------------------------------


def _notify_address() -> str | None:
    path = os.environ.get("NOTIFY_SOCKET", "")
    if not path:
        return None
    if path.startswith("@"):
        return "\0" + path[1:]  # Linux abstract namespace
    if not path.startswith("/"):
        return None  # sd_notify(3) accepts only absolute paths and abstract names (vsock: unsupported)
    return path


def notify(*fields: str) -> bool:
    """Send ``fields`` (each ``KEY=VALUE``) in one datagram to ``$NOTIFY_SOCKET`` (sd_notify(3)).

    Returns True when the datagram was sent, False when there is no notify socket or sending failed (a
    service must keep running when the manager cannot be told; systemd notices missing READY by timeout).
    Raises ValueError for a field that is not ``KEY=VALUE`` or contains a newline, which would forge fields.
    """
    for f in fields:
        if "\n" in f or "=" not in f or not f.partition("=")[0]:
            raise ValueError(f"not a KEY=VALUE notify field: {f!r}")
    address = _notify_address()
    if address is None or not fields:
        return False
    payload = "\n".join(fields).encode("utf-8")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.settimeout(NOTIFY_SEND_TIMEOUT)
            sock.sendto(payload, address)
    except OSError:
        return False
    return True


def _status_field(text: str) -> str:
    flat = " ".join(text.split())  # newlines would start a new field
    if len(flat) > MAX_STATUS_LENGTH:
        flat = flat[: MAX_STATUS_LENGTH - 3] + "..."
    return f"STATUS={flat}"


def ready(status_text: str | None = None) -> bool:
    """``READY=1`` (startup or reload finished), with ``MAINPID`` and an optional ``STATUS=`` line."""
    fields = ["READY=1"]
    if status_text is not None:
        fields.append(_status_field(status_text))
    fields.append(f"MAINPID={os.getpid()}")
    return notify(*fields)


def reloading(status_text: str | None = None) -> bool:
    """``RELOADING=1`` with ``MONOTONIC_USEC`` in the same datagram (systemd.service(5) notify-reload);
    follow with :func:`ready` when the reload is done, whether it succeeded or not."""
    usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    fields = ["RELOADING=1", f"MONOTONIC_USEC={usec}"]
    if status_text is not None:
        fields.append(_status_field(status_text))
    return notify(*fields)


def stopping(status_text: str | None = None) -> bool:
    """``STOPPING=1``: shutdown has begun (send it before the grace period, not at exit)."""
    fields = ["STOPPING=1"]
    if status_text is not None:
        fields.append(_status_field(status_text))
    return notify(*fields)


def status(text: str) -> bool:
    """A free-form one-line ``STATUS=`` shown by ``systemctl status`` (newlines are folded to spaces)."""
    return notify(_status_field(text))


def watchdog() -> bool:
    """One ``WATCHDOG=1`` keep-alive ping."""
    return notify("WATCHDOG=1")


def watchdog_interval() -> float | None:
    """The watchdog timeout in seconds from ``$WATCHDOG_USEC``, or None when the watchdog is off or meant
    for another process (``$WATCHDOG_PID`` set to a different pid), as sd_watchdog_enabled(3)."""
    text = os.environ.get("WATCHDOG_USEC", "")
    if not text.isdigit() or int(text) == 0:
        return None
    pid = os.environ.get("WATCHDOG_PID", "")
    if pid and (not pid.isdigit() or int(pid) != os.getpid()):
        return None
    return int(text) / 1_000_000


async def watchdog_task(*, task_status: trio.TaskStatus[float | None] | None = None) -> None:
    """Ping the watchdog every half timeout until cancelled; returns at once when there is no watchdog.

    Run it in the services nursery (``nursery.start_soon(systemd.watchdog_task)``); it reports the interval
    through ``task_status`` when started with ``nursery.start``.
    """
    import trio

    interval = watchdog_interval()
    if task_status is not None:
        task_status.started(interval)
    if interval is None:
        return
    while True:
        watchdog()
        await trio.sleep(interval * WATCHDOG_PING_FRACTION)


# ----------------------------------------------------------------------------------------------------------
# Socket activation
# ----------------------------------------------------------------------------------------------------------


def _unset_listen_environment() -> None:
    for name in _LISTEN_VARIABLES:
        os.environ.pop(name, None)


def listen_fds_with_names(*, unset_environment: bool = True) -> list[tuple[str, socket.socket]]:
    """The sockets systemd passed to this process with their ``FileDescriptorName=`` (sd_listen_fds(3)).

    Empty when not socket-activated or when ``$LISTEN_PID`` names another process.  Names default to
    ``"unknown"`` as in sd_listen_fds_with_names(3).  Raises SocketActivationError for a descriptor that
    is not a socket (e.g. a ``ListenFIFO=``), which this server cannot use.
    """
    try:
        pid_text = os.environ.get("LISTEN_PID", "")
        count_text = os.environ.get("LISTEN_FDS", "")
        names_text = os.environ.get("LISTEN_FDNAMES")
        if not pid_text.isdigit() or int(pid_text) != os.getpid() or not count_text.isdigit():
            return []
        count = int(count_text)
        names = names_text.split(":") if names_text is not None else []
        if len(names) != count:
            names = ["unknown"] * count
        result: list[tuple[str, socket.socket]] = []
        for offset in range(count):
            fd = SD_LISTEN_FDS_START + offset
            os.set_inheritable(fd, False)  # FD_CLOEXEC: children must not hold our listeners
            try:
                sock = socket.socket(fileno=fd)
            except OSError as exc:
                for _, s in result:
                    s.detach()
                raise SocketActivationError(f"inherited fd {fd} ({names[offset]}) is not a socket: {exc}")
            result.append((names[offset], sock))
        return result
    finally:
        if unset_environment:
            _unset_listen_environment()


def listen_fds(*, unset_environment: bool = True) -> list[socket.socket]:
    """The inherited listening sockets, in fd order (fd 3, 4, ...); see :func:`listen_fds_with_names`."""
    return [sock for _, sock in listen_fds_with_names(unset_environment=unset_environment)]


def _bound_addresses(address: str, port: int) -> set[tuple[str, int]]:
    """Every (ip, port) a self-bound listener on ``address`` would use: what getaddrinfo(AI_PASSIVE)
    returns, as trio.open_tcp_listeners does.  "localhost" always covers both 127.0.0.1 and ::1, whatever
    /etc/hosts says (Debian maps ::1 to "ip6-localhost")."""
    if address == "localhost":
        return {("127.0.0.1", port), ("::1", port)}
    try:
        infos = socket.getaddrinfo(
            address or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE | socket.AI_NUMERICSERV
        )
    except socket.gaierror:
        return set()
    return {(_normal_ip(str(info[4][0])), port) for info in infos}


def _normal_ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text.partition("%")[0]))
    except ValueError:
        return text


def _sock_endpoints(sock: socket.socket) -> set[tuple[str, int]]:
    """What ``sock`` is bound to, plus ``0.0.0.0`` for a dual-stack ``[::]`` socket (IPV6_V6ONLY off,
    systemd's ``BindIPv6Only=both``), which accepts IPv4 connections too."""
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return set()
    name = sock.getsockname()
    host, port = _normal_ip(str(name[0])), int(name[1])
    found = {(host, port)}
    dual_stack = sock.family == socket.AF_INET6 and host == "::"
    if dual_stack and not sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY):
        found.add(("0.0.0.0", port))
    return found


def match_listener(sockets: Iterable[socket.socket], address: str, port: int) -> list[socket.socket]:
    """The sockets among ``sockets`` bound where a listener on ``address``:``port`` would bind itself."""
    wanted = _bound_addresses(address, port)
    return [s for s in sockets if _sock_endpoints(s) & wanted]


class _ListenerLike(Protocol):
    @property
    def address(self) -> str: ...
    @property
    def port(self) -> int: ...


L = TypeVar("L", bound=_ListenerLike)


def assign_listeners(
    sockets: Sequence[socket.socket], listeners: Sequence[L]
) -> tuple[list[tuple[socket.socket, L]], list[L]]:
    """Pair each inherited socket with the configured listener it belongs to.

    Returns (pairs, listeners no socket covers: bind those yourself, or refuse).  A dual-stack ``[::]``
    socket covers both a ``"::"`` and a ``"0.0.0.0"`` entry on its port and is paired with the first.  Raises
    SocketActivationError when a socket is not a listening TCP socket or matches no listener (a unit
    file and a configuration that disagree should stop the start, not serve the wrong TLS mode).
    """
    pairs: list[tuple[socket.socket, L]] = []
    for sock in sockets:
        where = _describe(sock)
        if sock.type != socket.SOCK_STREAM or not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            raise SocketActivationError(
                f"inherited socket {where} is not a listening stream socket; use ListenStream= and "
                "Accept=no in maildird.socket"
            )
        owners = [lst for lst in listeners if match_listener([sock], lst.address, lst.port)]
        if not owners:
            known = ", ".join(f"{lst.address}:{lst.port}" for lst in listeners) or "none"
            raise SocketActivationError(
                f"inherited socket {where} matches no [[listen]] entry (configured: {known}); make "
                "maildird.socket and maildird.toml list the same addresses and ports"
            )
        pairs.append((sock, owners[0]))
    return pairs, [lst for lst in listeners if not match_listener(sockets, lst.address, lst.port)]


def trio_listeners(pairs: Sequence[tuple[socket.socket, L]]) -> list[tuple[trio.SocketListener, L]]:
    """Wrap adopted sockets for Trio (``trio.socket.from_stdlib_socket`` makes them non-blocking, no dup).
    Closing the listener closes our descriptor only; systemd keeps its own copy of the socket."""
    import trio

    return [(trio.SocketListener(trio.socket.from_stdlib_socket(sock)), spec) for sock, spec in pairs]


def _describe(sock: socket.socket) -> str:
    try:
        name = sock.getsockname()
    except OSError:
        return f"fd {sock.fileno()}"
    if isinstance(name, tuple):
        host = f"[{name[0]}]" if sock.family == socket.AF_INET6 else str(name[0])
        return f"{host}:{name[1]} (fd {sock.fileno()})"
    return f"{name!r} (fd {sock.fileno()})"
