"""LoginPenalty: Dovecot anvil's per-IP doubling penalty, with an injected clock."""

from __future__ import annotations

import pytest

from maildird.auth import LoginPenalty


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_doubles_up_to_the_maximum() -> None:
    p = LoginPenalty(2.0, 15.0, clock=Clock())
    assert p.delay("192.0.2.1") == 0.0
    delays = [p.failure("192.0.2.1", "u", f"pw{i}") for i in range(6)]
    assert delays == [2.0, 4.0, 8.0, 15.0, 15.0, 15.0]
    assert p.failures("192.0.2.1") == 6
    assert p.delay("192.0.2.2") == 0.0


def test_repeated_pair_does_not_raise_the_penalty() -> None:
    p = LoginPenalty(clock=Clock())
    assert [p.failure("192.0.2.1", "u", "same") for _ in range(3)] == [2.0, 2.0, 2.0]
    assert p.failure("192.0.2.1", "u", "other") == 4.0
    assert p.failure("192.0.2.1", "v", "same") == 8.0  # another user with that password is a new pair


def test_success_clears_and_ttl_expires() -> None:
    clock = Clock()
    p = LoginPenalty(clock=clock, ttl=3600.0)
    p.failure("192.0.2.1", "u", "a")
    p.failure("192.0.2.1", "u", "b")
    p.success("192.0.2.1")
    assert p.failures("192.0.2.1") == 0
    p.failure("192.0.2.1", "u", "a")
    clock.now += 3599
    assert p.failures("192.0.2.1") == 1
    clock.now += 1
    assert p.failures("192.0.2.1") == 0
    assert p.failure("192.0.2.1", "u", "a") == 2.0


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("2001:db8:1:1::1", "2001:db8:1:ffff::2", True),  # same /48
        ("2001:db8:1::1", "2001:db8:2::1", False),
        ("::ffff:192.0.2.1", "192.0.2.1", True),  # IPv4-mapped counts as IPv4
        ("192.0.2.1", "192.0.2.2", False),
        ("fe80::1%eth0", "fe80::2", True),
    ],
)
def test_address_grouping(a: str, b: str, same: bool) -> None:
    p = LoginPenalty(clock=Clock())
    p.failure(a, "u", "x")
    assert (p.failures(b) == 1) is same


def test_table_is_bounded() -> None:
    p = LoginPenalty(clock=Clock(), max_entries=3)
    for i in range(5):
        p.failure(f"192.0.2.{i}", "u", "x")
    assert len(p) == 3
    assert p.failures("192.0.2.0") == 0
    assert p.failures("192.0.2.4") == 1
