"""FolderMemory.snapshot hands out the same Snapshot while nothing changed, and a fresh one, equal
to what building it anew gives, after any change a Snapshot shows."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from maildird.store.maildir.keywords import Keywords
from maildird.store.maildir.memory import FolderMemory
from maildird.store.maildir.state import Record

NS = 1_700_000_000 * 10**9


def rec(uid: int, info: str = ":2,", modseq: int = 5) -> Record:
    return Record(uid, f"{uid}.M1P1.h", f"{uid}.M1P1.h{info}", False, 100 + uid, NS, modseq)


def memory() -> FolderMemory:
    m = FolderMemory()
    m.uidvalidity = 42
    m.keywords = Keywords({0: "Work"})
    m._apply([rec(1), rec(2, ":2,S")], [], 5)
    return m


def _flag_change(m: FolderMemory) -> None:
    m._apply([rec(2, ":2,FS", modseq=6)], [], 6)


def _new_message(m: FolderMemory) -> None:
    m._apply([rec(3, modseq=7)], [], 7)


def _expunge(m: FolderMemory) -> None:
    m._apply([], [1], 8)


def _uidnext(m: FolderMemory) -> None:
    m._ul_next = 50


def _uidvalidity(m: FolderMemory) -> None:
    m.uidvalidity = 43


def _keyword_added(m: FolderMemory) -> None:
    m.keywords.letter_for("Later", allocate=True)


def _keywords_replaced(m: FolderMemory) -> None:
    m.keywords = Keywords({0: "Home"})  # as many names as before


def _highestmodseq(m: FolderMemory) -> None:
    m.highestmodseq = 99


CHANGES: list[Callable[[FolderMemory], None]] = [
    _flag_change,
    _new_message,
    _expunge,
    _uidnext,
    _uidvalidity,
    _keyword_added,
    _keywords_replaced,
    _highestmodseq,
]


def test_unchanged_memory_gives_the_same_snapshot() -> None:
    m = memory()
    first = m.snapshot()
    assert m.snapshot() is first
    assert first == m._build_snapshot(frozenset())


@pytest.mark.parametrize("change", CHANGES, ids=[c.__name__.strip("_") for c in CHANGES])
def test_a_change_gives_a_fresh_snapshot(change: Callable[[FolderMemory], None]) -> None:
    m = memory()
    before = m.snapshot()
    change(m)
    after = m.snapshot()
    assert after != before
    assert after == m._build_snapshot(frozenset())
    assert m.snapshot() is after


def test_recent_uids_are_never_cached() -> None:
    m = memory()
    plain = m.snapshot()
    claimed = m.snapshot(frozenset({2}))
    assert claimed.recent == {2} and claimed is not plain
    assert m.snapshot() is plain and plain.recent == frozenset()


@pytest.mark.parametrize(
    ("unclaimed", "claimed", "claim", "expected", "left"),
    [
        (set(), frozenset(), True, frozenset(), set()),
        (set(), frozenset({2}), True, frozenset({2}), set()),
        ({3, 99}, frozenset({2}), True, frozenset({2, 3}), set()),  # 99: no such message
        (set(), frozenset(), False, frozenset({1}), set()),  # 1 is still in new/
        ({3, 99}, frozenset(), False, frozenset({1, 3}), {3, 99}),  # EXAMINE takes nothing
    ],
)
def test_recent_uids(
    unclaimed: set[int], claimed: frozenset[int], claim: bool, expected: frozenset[int], left: set[int]
) -> None:
    m = memory()
    m._apply([rec(1)._replace(in_new=True), rec(3, modseq=7)], [], 7)
    m.unclaimed = set(unclaimed)
    assert m.recent_uids(claimed, claim=claim) == expected
    assert m.unclaimed == left
