"""Who may connect, and how many at once: per-listener address lists and connection limits (issue 9).

Theory of operation
-------------------
*Access lists* are Net::Server's ``allow``/``deny``/``cidr_allow``/``cidr_deny`` (peers.md §1.3) in one
form: each ``[[listen]]`` table has ``allow`` and ``deny`` arrays of addresses or CIDR networks, IPv4
or IPv6.  A client whose address is in a ``deny`` network is refused even when ``allow`` also lists it
(deny wins); an empty ``allow`` means everyone not denied.  Addresses are normalised first: an
IPv4-mapped IPv6 address (``::ffff:192.0.2.1``, what a dual-stack ``::`` listener reports for IPv4
clients, RFC 4291 §2.5.5.2) is matched as the IPv4 address, and an IPv6 zone (``fe80::1%eth0``) is
dropped.  An address that cannot be parsed (an ``AF_UNIX`` peer, say) matches no network.

Reverse lookups (``[server] reverse_lookups``) only decorate log lines.  They run in a worker thread
with a deadline, from the connection's own task, so a slow resolver never delays the accept loop or
any other client, and a lookup never decides anything (a PTR record is the client's to choose).

*Connection limits* are counted by :class:`ConnectionLimits`, a plain bookkeeping object (no I/O, no
locks: the Trio loop is single-threaded).  A connection is counted twice in its life:

1. at accept, ``try_acquire(ip)``: the total (``max_connections``, Dovecot ``default_client_limit``)
   and the not-yet-logged-in connections from that address (``max_unauth_per_ip``);
2. after a successful login, ``try_acquire(ip, user)``: the user's sessions
   (``max_connections_per_user``) and the user's sessions from that address
   (``max_connections_per_user_ip``, Dovecot ``mail_max_userip_connections`` = 10).  The connection
   then stops counting as unauthenticated.

``try_acquire`` returns None when the connection fits, otherwise the name of the limit it hit (the
config key), and changes nothing; :meth:`ConnectionLimits.message` turns the name into the text of
the ``* BYE``.  ``release(ip, user)`` at close undoes whatever the connection holds: pass the user only
if its login was counted.  Nothing else is disturbed when a limit is hit: the other connections of
the user keep running (Dovecot's behaviour; the newest one is refused).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

import trio

from maildird.config import Limits, Listener
from maildird.imap.responses import Status, serialize
from maildird.logging_setup import safe

__all__ = [
    "REVERSE_LOOKUP_TIMEOUT",
    "AccessList",
    "ConnectionLimits",
    "IPNetwork",
    "access_denied_bye",
    "normalize_address",
    "peer_host",
    "peer_name",
]

log = logging.getLogger("maildird.access")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
K = TypeVar("K")

#: Seconds a reverse lookup may take before the log line goes out with the bare address.
REVERSE_LOOKUP_TIMEOUT = 5.0
#: Reverse lookups running at once; more wait (they only decorate log lines).
REVERSE_LOOKUP_THREADS = 4
#: The BYE a refused client gets.  No response code: RFC 5530 has none for "not from your address", and
#: UNAVAILABLE would invite the client to retry.
ACCESS_DENIED_TEXT = "Access denied."

#: One limiter per Trio run (a limiter cannot cross runs; tests start many).
_lookup_limiter: trio.lowlevel.RunVar[trio.CapacityLimiter] = trio.lowlevel.RunVar("maildird_reverse_lookups")


def normalize_address(text: str) -> IPAddress | None:
    """The client address as matched against the lists: IPv4-mapped IPv6 as IPv4 (RFC 4291 §2.5.5.2),
    without an IPv6 zone or brackets.  None for anything that is not an IP address."""
    host = text.strip().strip("[]").split("%", 1)[0]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def peer_host(peer: str) -> str:
    """The address part of ``TransportInfo.peer`` ("192.0.2.1:993", "::1:993" or "[::1]:993")."""
    host = peer.rsplit(":", 1)[0] if ":" in peer else peer
    return host.strip("[]")


def _networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    nets: list[IPNetwork] = []
    for value in values:
        net = ipaddress.ip_network(value.strip(), strict=False)  # ValueError for the config to report
        if isinstance(net, ipaddress.IPv6Network) and net.prefixlen >= 96:
            mapped = net.network_address.ipv4_mapped
            if mapped is not None:  # "::ffff:10.0.0.0/104" means 10.0.0.0/8
                net = ipaddress.ip_network(f"{mapped}/{net.prefixlen - 96}")
        nets.append(net)
    return tuple(nets)


@dataclass(frozen=True, slots=True)
class AccessList:
    """One listener's allow and deny networks.  ``check(address)`` is None for a permitted client, else
    the reason for the log line."""

    allow: tuple[IPNetwork, ...] = ()
    deny: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_strings(cls, allow: Iterable[str] = (), deny: Iterable[str] = ()) -> AccessList:
        """Parse addresses and CIDR networks ("192.0.2.7", "10.0.0.0/8", "2001:db8::/32"); host bits set
        are ignored (``strict=False``).  Raises ValueError on a bad entry (the config loader reports it
        first, with file and line)."""
        return cls(_networks(allow), _networks(deny))

    @classmethod
    def for_listener(cls, listener: Listener) -> AccessList:
        return cls.from_strings(listener.allow, listener.deny)

    @property
    def unrestricted(self) -> bool:
        return not self.allow and not self.deny

    def check(self, address: str) -> str | None:
        """None when ``address`` may connect; otherwise why not ("denied by 10.0.0.0/8",
        "not in the allow list").  Deny wins over allow; an empty allow list allows all."""
        if self.unrestricted:
            return None
        ip = normalize_address(address)
        if ip is None:
            return "not an IP address" if self.allow else None
        for net in self.deny:
            if ip.version == net.version and ip in net:
                return f"denied by {net}"
        if not self.allow:
            return None
        if any(ip.version == net.version and ip in net for net in self.allow):
            return None
        return "not in the allow list"

    def permits(self, address: str) -> bool:
        return self.check(address) is None


def access_denied_bye() -> bytes:
    """The ``* BYE`` written to a refused client before the connection is closed (issue 9)."""
    return serialize(Status("BYE", ACCESS_DENIED_TEXT))


async def peer_name(host: str, *, reverse_lookups: bool) -> str:
    """The client address ``host`` (no port) for a log line; with ``reverse_lookups``,
    ``"host.example [192.0.2.1]"`` when the PTR lookup answers within REVERSE_LOOKUP_TIMEOUT.  Never
    raises; call it from the client's own task, never from the accept loop."""
    if not reverse_lookups or normalize_address(host) is None:
        return safe(host)
    try:
        limiter = _lookup_limiter.get()
    except LookupError:
        limiter = trio.CapacityLimiter(REVERSE_LOOKUP_THREADS)
        _lookup_limiter.set(limiter)
    name: str | None = None
    with trio.move_on_after(REVERSE_LOOKUP_TIMEOUT):
        try:
            name, _ = await trio.to_thread.run_sync(
                socket.getnameinfo,
                (host, 0),
                socket.NI_NAMEREQD,
                abandon_on_cancel=True,
                limiter=limiter,
            )
        except OSError:
            name = None
    return f"{safe(name)} [{safe(host)}]" if name else safe(host)


# --------------------------------------------------------------------------------------------------------
# Connection limits
# --------------------------------------------------------------------------------------------------------

#: Limit name -> the BYE text, with the number filled in.
_MESSAGES = {
    "max_connections": "Too many connections to this server ({n}); try again later.",
    "max_unauth_per_ip": "Too many connections from your address ({n}) not logged in yet.",
    "max_connections_per_user": "Too many sessions for this user ({n}); close some in other clients.",
    "max_connections_per_user_ip": (
        "Too many sessions for this user from your address ({n}); close some in other clients."
    ),
}


def _key(ip: str) -> str:
    address = normalize_address(ip)
    return str(address) if address is not None else ip


class ConnectionLimits:
    """Counts connections in total, not-logged-in per address, per user and per user+address (module
    docstring).  ``limits`` supplies the maxima; ``update(limits)`` swaps them on reload (connections
    already counted stay)."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.total = 0
        self.unauth = Counter[str]()
        self.users = Counter[str]()
        self.user_ips = Counter[tuple[str, str]]()

    def update(self, limits: Limits) -> None:
        self.limits = limits

    def maximum(self, name: str) -> int:
        value = getattr(self.limits, name)
        assert isinstance(value, int)
        return value

    def message(self, name: str) -> str:
        """The ``* BYE`` text for the limit ``name`` returned by :meth:`try_acquire`."""
        return _MESSAGES[name].format(n=self.maximum(name))

    def bye(self, name: str) -> bytes:
        """The serialized ``* BYE [UNAVAILABLE] ...`` for a connection refused before a session exists
        (RFC 5530 §3 UNAVAILABLE: a temporary failure; the client may try again later)."""
        from maildird.imap.responses import Code

        return serialize(Status("BYE", self.message(name), Code("UNAVAILABLE")))

    def try_acquire(self, ip: str, user: str | None = None) -> str | None:
        """Count a new connection (``user`` None) or a login of a counted one.  Returns None when it fits,
        else the name of the limit hit, in which case nothing was counted."""
        key = _key(ip)
        if user is None:
            if self.total >= self.limits.max_connections:
                return "max_connections"
            if self.unauth[key] >= self.limits.max_unauth_per_ip:
                return "max_unauth_per_ip"
            self.total += 1
            self.unauth[key] += 1
            return None
        if self.users[user] >= self.limits.max_connections_per_user:
            return "max_connections_per_user"
        if self.user_ips[(user, key)] >= self.limits.max_connections_per_user_ip:
            return "max_connections_per_user_ip"
        self.users[user] += 1
        self.user_ips[(user, key)] += 1
        self._drop(self.unauth, key)
        return None

    def release(self, ip: str, user: str | None = None) -> None:
        """The connection closed.  ``user``: the user whose login :meth:`try_acquire` counted, else None."""
        key = _key(ip)
        self.total = max(0, self.total - 1)
        if user is None:
            self._drop(self.unauth, key)
        else:
            self._drop(self.users, user)
            self._drop(self.user_ips, (user, key))

    @staticmethod
    def _drop(counter: Counter[K], key: K) -> None:
        # Remove zero entries so the tables do not grow with every address ever seen.
        if counter[key] <= 1:
            counter.pop(key, None)
        else:
            counter[key] -= 1

    def sessions(self, user: str) -> int:
        return self.users[user]

    @property
    def authenticated(self) -> int:
        return sum(self.users.values())
