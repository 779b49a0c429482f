"""Sidecar rows to memory in one pass (``FolderMemory.adopt_rows``): the same records, base index
and MessageInfo as building each from a ``Record``, whatever order the rows come in."""

from __future__ import annotations

from datetime import UTC, datetime

from maildird.store.base import MessageInfo
from maildird.store.maildir.memory import FolderMemory
from maildird.store.maildir.state import Loaded, Record

ROWS = [
    (1, "a", "a:2,S", 0, 10, 1_700_000_000_123_456_789, 5),
    (2, "b", "b", 1, 20, 1_700_000_001_000_000_000, 6),
    (7, "c", "c:2,FT", 0, 30, 1_700_000_002_999_999_999, 9),
]


def expected_infos() -> dict[int, MessageInfo]:
    flags = {1: {"\\Seen"}, 2: set(), 7: {"\\Flagged", "\\Deleted"}}
    return {
        uid: MessageInfo(
            uid, frozenset(flags[uid]), size, datetime.fromtimestamp(mtime // 10**9, UTC), modseq
        )
        for uid, _base, _name, _new, size, mtime, modseq in ROWS
    }


def test_rows_in_order() -> None:
    mem = FolderMemory()
    mem.adopt_rows(ROWS)
    assert mem.msgs == {r[0]: Record(*r) for r in ROWS}
    assert mem.by_base == {"a": 1, "b": 2, "c": 7}
    assert mem.infos == expected_infos()
    assert list(mem.infos) == [1, 2, 7]


def test_rows_out_of_order_are_sorted() -> None:
    mem = FolderMemory()
    mem.adopt_rows([ROWS[2], ROWS[0], ROWS[1]])
    assert list(mem.msgs) == [1, 2, 7] and list(mem.infos) == [1, 2, 7]
    assert mem.infos == expected_infos()


def test_loaded_records_view() -> None:
    loaded = Loaded(ROWS, 9, 1, False, 7)
    assert loaded.records == {r[0]: Record(*r) for r in ROWS}
    assert loaded.records[2].in_new  # SQLite's 1 is true
