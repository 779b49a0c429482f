"""Cold reads of the per-mailbox cache files: how UIDs are split into queries (``cachefile.runs``), the
section and structure files answering any set of UIDs exactly as a per-UID lookup would (dense runs
read as one range, gaps, duplicates-free scattered sets, more than ``SELECT_CHUNK``), a new structure
file's page size, and the collector left as it was found after a bulk read."""

from __future__ import annotations

import gc
import random
import sqlite3
from pathlib import Path

import pytest

from maildird.store.maildir import cachefile
from maildird.store.maildir.cachefile import RANGE_SLACK, SELECT_CHUNK, runs
from maildird.store.maildir.sectionfile import SectionFile
from maildird.store.maildir.structfile import StructFile
from maildird.store.structs import StructRow

GUID = "0123456789abcdef0123456789abcdef"
STORED = range(1, 3001)  # UIDs with rows; 3,000 > SELECT_CHUNK so both query shapes are used


@pytest.mark.parametrize(
    ("uids", "expected"),
    [
        ([], []),
        ([5], [([5], 5, 5, True)]),
        ([1, 2, 3], [([1, 2, 3], 1, 3, True)]),
        ([3, 1, 2], [([3, 1, 2], 1, 3, True)]),
        ([1, 3], [([1, 3], 1, 3, True)]),  # span 2 < 2 * 2
        ([1, 5], [([1, 5], 1, 5, False)]),  # span 4 >= 2 * 2: a list, not a range
    ],
)
def test_runs_small(uids: list[int], expected: list[tuple[list[int], int, int, bool]]) -> None:
    assert [(list(c), lo, hi, d) for c, lo, hi, d in runs(uids)] == expected


def test_runs_dense_is_one_query_whatever_its_length() -> None:
    uids = list(range(100, 100 + 10 * SELECT_CHUNK))
    assert [(len(c), lo, hi, d) for c, lo, hi, d in runs(uids)] == [
        (len(uids), 100, 100 + len(uids) - 1, True)
    ]


def test_runs_sparse_goes_in_chunks_that_cover_every_uid_once() -> None:
    uids = [n * (RANGE_SLACK + 3) for n in range(1, 3 * SELECT_CHUNK + 7)]
    parts = list(runs(uids))
    assert all(len(c) <= SELECT_CHUNK for c, _lo, _hi, _d in parts)
    assert [u for c, _lo, _hi, _d in parts for u in c] == uids
    for chunk, low, high, dense in parts:
        assert (low, high) == (min(chunk), max(chunk))
        assert dense == (high - low < RANGE_SLACK * len(chunk))


def _uid_sets() -> list[list[int]]:
    rng = random.Random(7)
    return [
        list(STORED),  # the whole folder: one range
        list(range(1, 1025)),  # one round of a message list
        list(range(2, 3000, 2)),  # every other UID: a range with rows between to drop
        sorted(rng.sample(range(1, 3001), 900)),  # scattered: IN lists
        sorted(rng.sample(range(1, 3001), 40)) + list(range(2990, 3100)),  # past the stored rows
        [2999, 7, 1500],  # not sorted
        [4000, 5000],  # nothing stored
    ]


def test_sections_read_any_set_like_one_by_one(tmp_path: Path) -> None:
    sf = SectionFile(tmp_path / "x.sections.db", GUID, 1)
    spec, other = sf.spec_id("HEADER.FIELDS (SUBJECT)"), sf.spec_id("HEADER.FIELDS (FROM)")
    rows = [(spec, uid, b"Subject: %d\r\n\r\n" % uid, 100 + uid) for uid in STORED]
    rows += [(other, uid, b"From: %d\r\n\r\n" % uid, 7) for uid in STORED]
    sf.put(rows)
    expected = {uid: (b"Subject: %d\r\n\r\n" % uid, 100 + uid) for uid in STORED}
    for uids in _uid_sets():
        assert sf.get_sections(spec, uids) == {u: expected[u] for u in uids if u in expected}
    sf.close()


def _row(uid: int) -> StructRow:
    if uid % 3:
        return StructRow(b"(env %d)" % uid)  # envelope only
    return StructRow(b"(env %d)" % uid, uid * 10, b"(body)", b"(bs %d)" % uid, None, b"(body8)", None)


def test_structs_read_any_set_like_one_by_one(tmp_path: Path) -> None:
    f = StructFile(tmp_path / "x.structs.db", GUID, 1)
    f.put_many({uid: _row(uid) for uid in STORED})
    for uids in _uid_sets():
        assert f.get_many(uids) == {u: _row(u) for u in uids if u in STORED}
    f.close()


def test_structs_damaged_rows_are_misses_in_a_range(tmp_path: Path) -> None:
    path = tmp_path / "x.structs.db"
    f = StructFile(path, GUID, 1)
    f.put_many({uid: _row(uid) for uid in STORED})
    with sqlite3.connect(path) as db:
        db.execute("UPDATE struct SET envelope = 'text' WHERE uid = 10")
        db.execute("UPDATE struct SET size = 1.5 WHERE uid = 30")
    got = f.get_many(list(STORED))
    assert 10 not in got and 30 not in got
    assert len(got) == len(STORED) - 2
    f.close()


def test_new_struct_file_takes_the_large_page_size(tmp_path: Path) -> None:
    path = tmp_path / "x.structs.db"
    StructFile(path, GUID, 1).close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA page_size").fetchone() == (cachefile.PAGE_SIZE,)


def test_old_struct_file_keeps_its_pages_and_rows(tmp_path: Path) -> None:
    """A file made before (4 KiB pages) is used as it is: no rebuild of every row for the page size."""
    path = tmp_path / "x.structs.db"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA page_size=4096")
        db.execute("VACUUM")
    f = StructFile(path, GUID, 1)
    f.put_many({1: _row(3)})
    f.close()
    again = StructFile(path, GUID, 1)
    assert again.get_many([1]) == {1: _row(3)}
    again.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA page_size").fetchone() == (4096,)


@pytest.mark.parametrize("enabled", [True, False])
def test_bulk_reads_leave_the_collector_as_found(tmp_path: Path, enabled: bool) -> None:
    """``structcache``/``sectioncache`` pause the collector for large reads (``collector.bulk_build``):
    afterwards it is on again only if it was on before."""
    from maildird.store.maildir import structcache

    assert len(STORED) >= structcache.BULK_MIN
    f = StructFile(tmp_path / "x.structs.db", GUID, 1)
    f.put_many({uid: _row(uid) for uid in STORED})
    f.close()
    cache = structcache.FolderStructs(structcache.MemoryLayer())
    where = structcache._Where(tmp_path / "x.structs.db", GUID, 1, set(STORED))
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        got = cache.read_blocking(where, list(STORED))
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
        cache.close()
    assert got == {u: _row(u) for u in STORED}
