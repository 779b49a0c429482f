"""``sortorder.dovecot_order`` gives exactly ``sorted(names, key=filenames.sort_key)`` (Dovecot's
``maildir_filename_sort_cmp``), ties and odd names included, whichever way it sorts."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from maildird.store.maildir import sortorder
from maildird.store.maildir.filenames import sort_key
from maildird.store.maildir.sortorder import dovecot_order


def reference(names: list[str]) -> list[str]:
    return sorted(names, key=lambda n: sort_key(n))  # type: ignore[arg-type, return-value]


digits = st.text("0123456789", max_size=4)
rest = st.text("PQ.,=Sab0123é_-", max_size=6)
with_usec = st.builds(lambda s, u, r: f"{s}.M{u}{r}", digits, digits, rest)
without_usec = st.builds(lambda s, r: f"{s}{r}", digits, rest.filter(lambda r: not r.startswith(".M")))


@settings(max_examples=300, deadline=None)
@given(st.lists(with_usec, max_size=30))
def test_names_with_microseconds(names: list[str]) -> None:
    assert dovecot_order(names) == reference(names)


@settings(max_examples=300, deadline=None)
@given(st.lists(without_usec, max_size=30))
def test_names_without_microseconds(names: list[str]) -> None:
    assert dovecot_order(names) == reference(names)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(with_usec, without_usec, st.text(max_size=8)), max_size=30))
def test_any_names(names: list[str]) -> None:
    """Mixed kinds, colons, newlines, surrogates: the comparison sort (and so the same order)."""
    try:
        want: Any = reference(names)
    except UnicodeEncodeError:  # SortKey cannot compare it; neither may this
        return
    assert dovecot_order(names) == want


def test_ties_keep_their_order_and_leading_zeros_count_as_numbers() -> None:
    names = ["0012.M5x", "12.M05x", "12.M5x", "9.M999999y", "12.M4z", "012.M4z"]
    assert dovecot_order(names) == reference(names) == ["9.M999999y", "12.M4z", "012.M4z", *names[:3]]


def test_a_folder_of_typical_names(monkeypatch: Any) -> None:
    rng = random.Random(8)
    names = []
    for i in range(5000):
        secs, usecs, pid = 1_600_000_000 + rng.randrange(5000), rng.randrange(10**6), rng.randrange(99999)
        names.append(f"{secs}.M{usecs}P{pid}.host,S={i},W={i}")
    calls: list[int] = []
    monkeypatch.setattr(sortorder, "_slow", lambda n: calls.append(1) or reference(n))
    assert dovecot_order(names) == reference(names)
    assert calls == []  # sorted by the native keys
    mixed = [*names, "1600000001.other"]
    assert dovecot_order(mixed) == reference(mixed)
    assert calls == [1]
