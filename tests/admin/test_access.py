"""maildird.access: per-listener allow/deny lists (IPv4, IPv6, CIDR, deny wins) and ConnectionLimits."""

from __future__ import annotations

import pytest
import trio

from maildird.access import (
    AccessList,
    ConnectionLimits,
    access_denied_bye,
    normalize_address,
    peer_host,
    peer_name,
)
from maildird.config import Limits, Listener

CASES = [
    # allow, deny, address, expected (None = permitted, else the reason)
    ((), (), "192.0.2.1", None),
    ((), (), "2001:db8::1", None),
    (("10.0.0.0/8",), (), "10.1.2.3", None),
    (("10.0.0.0/8",), (), "11.1.2.3", "not in the allow list"),
    (("10.0.0.0/8",), ("10.9.0.0/16",), "10.9.1.1", "denied by 10.9.0.0/16"),  # deny wins
    (("10.0.0.0/8",), ("10.9.0.0/16",), "10.8.1.1", None),
    ((), ("192.0.2.0/24",), "192.0.2.200", "denied by 192.0.2.0/24"),
    ((), ("192.0.2.0/24",), "192.0.3.1", None),  # empty allow = everyone not denied
    (("192.0.2.7",), (), "192.0.2.7", None),  # a bare address is a /32
    (("192.0.2.7",), (), "192.0.2.8", "not in the allow list"),
    (("192.0.2.7/24",), (), "192.0.2.99", None),  # host bits ignored
    (("2001:db8::/32",), (), "2001:db8:1::5", None),
    (("2001:db8::/32",), (), "2001:db9::5", "not in the allow list"),
    (("2001:db8::/32",), ("2001:db8:bad::/48",), "2001:db8:bad::1", "denied by 2001:db8:bad::/48"),
    (("::1/128",), (), "::1", None),
    (("::1/128",), (), "127.0.0.1", "not in the allow list"),  # families do not mix
    (("127.0.0.0/8",), (), "::1", "not in the allow list"),
    # A dual-stack "::" listener reports IPv4 clients as IPv4-mapped IPv6 (RFC 4291 §2.5.5.2).
    (("127.0.0.0/8",), (), "::ffff:127.0.0.1", None),
    ((), ("192.0.2.0/24",), "::ffff:192.0.2.9", "denied by 192.0.2.0/24"),
    ((), ("::ffff:192.0.2.0/120",), "192.0.2.9", "denied by 192.0.2.0/24"),  # mapped network too
    (("fe80::/10",), (), "fe80::1%eth0", None),  # zone dropped
    (("0.0.0.0/0",), ("0.0.0.0/0",), "203.0.113.1", "denied by 0.0.0.0/0"),
    (("0.0.0.0/0", "::/0"), (), "2001:db8::1", None),
    (("10.0.0.0/8",), (), "not-an-ip", "not an IP address"),
    ((), ("10.0.0.0/8",), "not-an-ip", None),
]


@pytest.mark.parametrize(("allow", "deny", "address", "expected"), CASES)
def test_access_list(
    allow: tuple[str, ...], deny: tuple[str, ...], address: str, expected: str | None
) -> None:
    acl = AccessList.from_strings(allow, deny)
    assert acl.check(address) == expected
    assert acl.permits(address) is (expected is None)


def test_for_listener_and_bad_entry() -> None:
    acl = AccessList.for_listener(Listener("::", 993, allow=("10.0.0.0/8",), deny=("10.0.0.1",)))
    assert not acl.unrestricted
    assert acl.check("10.0.0.1") == "denied by 10.0.0.1/32"
    assert AccessList.for_listener(Listener("::", 993)).unrestricted
    with pytest.raises(ValueError):
        AccessList.from_strings(["10.0.0.0/33"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("192.0.2.1", "192.0.2.1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("::ffff:10.1.2.3", "10.1.2.3"),
        ("fe80::1%lo", "fe80::1"),
        ("?", None),
    ],
)
def test_normalize_address(text: str, expected: str | None) -> None:
    got = normalize_address(text)
    assert (str(got) if got is not None else None) == expected


@pytest.mark.parametrize(
    ("peer", "host"),
    [("192.0.2.1:993", "192.0.2.1"), ("::1:5555", "::1"), ("[::1]:5555", "::1"), ("?", "?")],
)
def test_peer_host(peer: str, host: str) -> None:
    assert peer_host(peer) == host


def test_access_denied_bye_bytes() -> None:
    assert access_denied_bye() == b"* BYE Access denied.\r\n"


async def test_peer_name_without_lookup_is_the_address() -> None:
    assert await peer_name("192.0.2.1", reverse_lookups=False) == "192.0.2.1"
    # Control characters cannot reach a log line through a forged "address".
    assert await peer_name("x\r\ny", reverse_lookups=True) == "x\\x0d\\x0ay"


async def test_peer_name_reverse_lookup_of_loopback() -> None:
    name = await peer_name("127.0.0.1", reverse_lookups=True)
    assert name.endswith("[127.0.0.1]") or name == "127.0.0.1"
    assert name != "" and "\n" not in name


# --------------------------------------------------------------------------------------------------------
# ConnectionLimits
# --------------------------------------------------------------------------------------------------------


def _limits(**kw: int) -> ConnectionLimits:
    base = {
        "max_connections": 100,
        "max_unauth_per_ip": 100,
        "max_connections_per_user": 100,
        "max_connections_per_user_ip": 100,
    }
    base.update(kw)
    return ConnectionLimits(Limits(**base))  # type: ignore[arg-type]


def test_total_limit() -> None:
    lim = _limits(max_connections=2)
    assert lim.try_acquire("192.0.2.1") is None
    assert lim.try_acquire("192.0.2.2") is None
    assert lim.try_acquire("192.0.2.3") == "max_connections"
    assert lim.total == 2
    lim.release("192.0.2.1")
    assert lim.try_acquire("192.0.2.3") is None
    assert lim.total == 2


def test_unauth_per_ip_and_login_moves_out_of_it() -> None:
    lim = _limits(max_unauth_per_ip=2)
    assert lim.try_acquire("192.0.2.1") is None
    assert lim.try_acquire("::ffff:192.0.2.1") is None  # the same address, mapped
    assert lim.try_acquire("192.0.2.1") == "max_unauth_per_ip"
    assert lim.try_acquire("192.0.2.2") is None  # other addresses are not disturbed
    assert lim.try_acquire("192.0.2.1", "alice") is None  # one of them logs in
    assert lim.try_acquire("192.0.2.1") is None  # so there is room again
    assert lim.unauth["192.0.2.1"] == 2


def test_per_user_ip_limit_then_release() -> None:
    lim = _limits(max_connections_per_user_ip=10)
    for _ in range(10):
        assert lim.try_acquire("192.0.2.1") is None
        assert lim.try_acquire("192.0.2.1", "alice") is None
    assert lim.try_acquire("192.0.2.1") is None
    assert lim.try_acquire("192.0.2.1", "alice") == "max_connections_per_user_ip"
    # The refused connection still counts as an unauthenticated one until it is closed.
    assert lim.unauth["192.0.2.1"] == 1
    assert lim.try_acquire("192.0.2.99", "alice") is None  # another address: fine
    assert lim.try_acquire("192.0.2.1", "bob") is None  # another user: fine
    lim.release("192.0.2.1")  # the refused one closes
    lim.release("192.0.2.1", "alice")
    assert lim.try_acquire("192.0.2.1") is None
    assert lim.try_acquire("192.0.2.1", "alice") is None
    assert lim.user_ips[("alice", "192.0.2.1")] == 10
    assert lim.sessions("alice") == 11
    assert lim.authenticated == 12


def test_per_user_limit_across_addresses() -> None:
    lim = _limits(max_connections_per_user=3)
    for i in range(3):
        assert lim.try_acquire(f"192.0.2.{i}") is None
        assert lim.try_acquire(f"192.0.2.{i}", "alice") is None
    assert lim.try_acquire("192.0.2.9") is None
    assert lim.try_acquire("192.0.2.9", "alice") == "max_connections_per_user"


def test_release_forgets_empty_entries() -> None:
    lim = _limits()
    assert lim.try_acquire("2001:db8::1") is None
    assert lim.try_acquire("2001:db8::1", "alice") is None
    lim.release("2001:db8::1", "alice")
    assert (lim.total, dict(lim.unauth), dict(lim.users), dict(lim.user_ips)) == (0, {}, {}, {})
    lim.release("2001:db8::1")  # a stray release never goes negative
    assert lim.total == 0


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("max_connections", "Too many connections to this server (5)"),
        ("max_unauth_per_ip", "Too many connections from your address (6)"),
        ("max_connections_per_user", "Too many sessions for this user (7)"),
        ("max_connections_per_user_ip", "Too many sessions for this user from your address (8)"),
    ],
)
def test_messages_name_the_limit(name: str, text: str) -> None:
    lim = _limits(
        max_connections=5, max_unauth_per_ip=6, max_connections_per_user=7, max_connections_per_user_ip=8
    )
    assert lim.message(name).startswith(text)
    assert lim.bye(name).startswith(b"* BYE [UNAVAILABLE] " + text.encode())
    assert lim.bye(name).endswith(b"\r\n")


def test_update_swaps_maxima_and_keeps_counts() -> None:
    lim = _limits(max_connections=1)
    assert lim.try_acquire("192.0.2.1") is None
    assert lim.try_acquire("192.0.2.2") == "max_connections"
    lim.update(Limits(max_connections=2))
    assert lim.try_acquire("192.0.2.2") is None
    assert lim.total == 2


async def test_burst_of_logins_holds_the_user_ip_limit() -> None:
    """Many tasks logging in at once (as the runtime's connection tasks would): exactly the limit win."""
    lim = _limits(max_connections_per_user_ip=10)
    results: list[str | None] = []

    async def one() -> None:
        assert lim.try_acquire("192.0.2.1") is None
        await trio.sleep(0)  # interleave with the others
        results.append(lim.try_acquire("192.0.2.1", "alice"))

    async with trio.open_nursery() as nursery:
        for _ in range(25):
            nursery.start_soon(one)
    assert results.count(None) == 10
    assert results.count("max_connections_per_user_ip") == 15


def test_reverse_lookups_in_several_trio_runs() -> None:
    """The lookup limiter belongs to one Trio run; a second run gets its own."""
    for _ in range(2):
        name = trio.run(lambda: peer_name("127.0.0.1", reverse_lookups=True))
        assert name.endswith("127.0.0.1]") or name == "127.0.0.1"
