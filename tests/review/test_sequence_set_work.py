"""Hostile review: a sequence set's cost must not be (number of ranges) x (messages).

A 64 KiB command line holds about 16,000 ranges (``1:*,1:*,...`` or ``1:*,2:*,3:*,...``).
``SequenceSet.resolve`` returned them as sent, so ``SelectedView.resolve`` added each range's
messages to a set one by one (16,000 x EXISTS insertions for a FETCH, with no checkpoint: the whole
server stalls), ``iter_in`` sliced the UID list 16,000 times, and SEARCH's ``contains`` re-resolved
all 16,000 ranges for every message. Resolving to sorted, disjoint, merged ranges makes each of
these linear in the mailbox (and the per-message test a bisection).
"""

from __future__ import annotations

import itertools

import pytest

from maildird.imap.commands import SequenceSet

RANGES = 16_000
EXISTS = 100_000


def _total(ranges: list[tuple[int, int]]) -> int:
    return sum(b - a + 1 for a, b in ranges)


@pytest.mark.parametrize(
    "ranges",
    [
        tuple((1, None) for _ in range(RANGES)),  # 1:*,1:*,...
        tuple((i, None) for i in range(1, RANGES + 1)),  # 1:*,2:*,3:*,...
        tuple((None, None) for _ in range(RANGES)),  # *:*,*:*,...
        tuple((i % 50 + 1, EXISTS - i % 50) for i in range(RANGES)),  # nested ranges
    ],
    ids=["same", "staircase", "star", "nested"],
)
def test_resolve_returns_disjoint_ranges_whatever_the_client_repeats(
    ranges: tuple[tuple[int | None, int | None], ...],
) -> None:
    resolved = SequenceSet(ranges).resolve(EXISTS)
    # Everything the consumers iterate is bounded by the mailbox, not by ranges x mailbox.
    assert _total(resolved) <= EXISTS
    assert resolved == sorted(resolved)
    assert all(prev[1] + 1 < nxt[0] for prev, nxt in itertools.pairwise(resolved))


def test_resolve_keeps_the_meaning_of_the_set() -> None:
    """What the fix must keep (passes today): reversed ranges, ``*`` and membership."""
    s = SequenceSet(((5, 3), (None, None), (10, 12), (11, 20)))
    covered = {n for a, b in s.resolve(30) for n in range(a, b + 1)}
    assert covered == {3, 4, 5, 30} | set(range(10, 21))
    assert s.contains(30, 30) and s.contains(4, 30) and not s.contains(6, 30)
    assert list(s.iter_in([1, 3, 9, 10, 15, 21, 30], 30)) == [3, 10, 15, 30]
