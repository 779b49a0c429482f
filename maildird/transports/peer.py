"""Facts about a connection's peer address, shared by every transport."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1, and ::ffff:127.x.y.z (an IPv4 client of a dual-stack listener).

    Loopback peers may log in without TLS when ``[auth] plaintext_on_loopback`` is set (Dovecot
    treats them as secured, peers.md §2.6), on every transport alike.
    """
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback
