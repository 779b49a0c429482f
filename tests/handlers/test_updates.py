"""The helpers every FETCH-like response uses, and QRESYNC reporting (RFC 7162 §3.2.5-§3.2.6)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from maildird.handlers.updates import RangeSet, internaldate, missing_set, uid_pairs_set, uid_set

from .harness import Session
from .memstore import MemMailbox, MemStore


@pytest.mark.parametrize(
    ("ranges", "present", "expected"),
    [
        ([(1, 10)], [2, 3, 7], "1,4:6,8:10"),
        ([(1, 4294967295)], [5], "1:4,6:4294967295"),
        ([(3, 3), (1, 2)], [1, 2, 3], ""),
        ([(5, 9), (1, 3)], [], "1:3,5:9"),
        ([(1, 5), (4, 8)], [6], "1:5,7:8"),
        ([(0, 2)], [], "1:2"),
    ],
)
def test_missing_set(ranges: list[tuple[int, int]], present: list[int], expected: str) -> None:
    assert missing_set(ranges, present) == expected


def test_range_set_and_uid_sets() -> None:
    r = RangeSet([(10, 20), (1, 3), (15, 30)])
    assert [n for n in (0, 1, 3, 4, 9, 10, 30, 31) if n in r] == [1, 3, 10, 30]
    assert uid_set([5, 1, 2, 3, 9, 3]) == "1:3,5,9"
    assert uid_pairs_set([7, 8, 2, 3]) == "7:8,2:3"


def test_internaldate_is_never_localised() -> None:
    when = datetime(2024, 3, 5, 4, 7, 9, tzinfo=timezone(-timedelta(hours=7, minutes=30)))
    assert internaldate(when) == "05-Mar-2024 04:07:09 -0730"


async def test_qresync_without_history_reports_gaps(store: MemStore) -> None:
    original = MemMailbox.expunged_since

    async def forgetful(self: MemMailbox, modseq: int) -> tuple[int, ...] | None:
        return None

    MemMailbox.expunged_since = forgetful  # type: ignore[method-assign]
    try:
        s = Session(store)
        await s.cmd("e ENABLE QRESYNC")
        await s.cmd("a0 SELECT INBOX")
        await s.cmd("a1 STORE 2 +FLAGS.SILENT (\\Deleted)")
        await s.cmd("a2 EXPUNGE")
        out = await s.lines("a3 SELECT INBOX (QRESYNC (1001 6 1:9))")
        assert b"* VANISHED (EARLIER) 2" in out
        out = await s.lines("a4 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 6 VANISHED)")
        assert out == [b"* VANISHED (EARLIER) 2", b"a4 OK UID FETCH completed."]
    finally:
        MemMailbox.expunged_since = original  # type: ignore[method-assign]


async def test_uid_fetch_vanished_with_history(store: MemStore) -> None:
    s = Session(store)
    await s.cmd("e ENABLE QRESYNC")
    await s.cmd("a0 SELECT INBOX")
    await s.cmd("a1 STORE 1,3 +FLAGS.SILENT (\\Deleted)")
    await s.cmd("a2 UID EXPUNGE 3")
    out = await s.lines("a3 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 4 VANISHED)")
    assert out == [
        b"* VANISHED (EARLIER) 3",
        b"* 1 FETCH (UID 1 FLAGS (\\Deleted \\Seen \\Recent) MODSEQ (5))",
        b"a3 OK UID FETCH completed.",
    ]
    plain = Session(store)
    await plain.cmd("b0 SELECT INBOX")
    out = await plain.cmd("a4 UID FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)")
    assert out == b"a4 BAD [CLIENTBUG] VANISHED needs UID FETCH, CHANGEDSINCE and ENABLE QRESYNC.\r\n"


async def test_held_back_expunge_bounds_highestmodseq(store: MemStore) -> None:
    """A non-UID STORE learns of another session's expunge but may not report it; its FETCH carries a
    MODSEQ past the expunge, so HIGHESTMODSEQ is restated below the expunge (RFC 7162 §3.2.5)."""
    a, b = Session(store), Session(store)
    await a.cmd("e ENABLE QRESYNC")
    await a.cmd("a0 SELECT INBOX")  # HIGHESTMODSEQ 4
    await b.cmd("b0 SELECT INBOX")
    await b.cmd("b1 STORE 1 +FLAGS.SILENT (\\Deleted)")  # 5
    await b.cmd("b2 EXPUNGE")  # 6
    out = await a.lines("a1 STORE 2 +FLAGS (\\Answered)")  # 7
    assert out == [
        b"* 2 FETCH (UID 2 FLAGS (\\Answered \\Recent) MODSEQ (7))",
        b"* OK [HIGHESTMODSEQ 4] Highest.",
        b"a1 OK STORE completed.",
    ]
    assert await a.lines("a2 NOOP") == [b"* VANISHED 1", b"a2 OK NOOP completed."]
    out = await a.lines("a3 UID EXPUNGE 99")
    assert out == [b"a3 OK [HIGHESTMODSEQ 7] UID EXPUNGE completed."]
