"""The full collection a large build owes (``collector.promote_young``, ``collection_owed``,
``settle_collector``) is paid at a quiet moment with no file-system work in flight
(``fsthreads.run_fs``, ``settle_when_idle``, ``activity.when_quiet``), not by the next commands.

Asserted on the collector's own counters (``gc.get_stats``) and on the module's bookkeeping, never on
timings; the Trio tests run on the autojump clock."""

from __future__ import annotations

import gc
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
import trio
import trio.testing

from maildird import activity
from maildird.store.maildir import cachefile, collector, fsthreads
from maildird.store.maildir.collector import bulk_build, collection_owed, settle_collector
from tests.store.test_open_fast import make_store

MESSAGES = 300
"""Messages of the folder the integration tests open: a build of ~900 tracked objects."""


def full_collections() -> int:
    return int(gc.get_stats()[-1]["collections"])


@pytest.fixture(autouse=True)
def fresh_debt(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts as a process that never settled and owes nothing."""
    monkeypatch.setattr(collector, "_promoted", 0)
    monkeypatch.setattr(collector, "_full_seen", -1)
    monkeypatch.setattr(collector, "_heap", 0)
    monkeypatch.setattr(collector, "PROMOTE_MIN_YOUNG", 100)
    assert gc.isenabled()
    yield
    assert gc.isenabled()


class _Built:
    __slots__ = ("n",)

    def __init__(self, n: int) -> None:
        self.n = n


def build(count: int) -> list[_Built]:
    with bulk_build():
        return [_Built(i) for i in range(count)]


def test_a_promoted_build_owes_one_full_collection_and_the_settle_pays_it() -> None:
    built = build(2000)
    assert collector._promoted >= len(built)
    assert collection_owed()
    before = full_collections()
    settle_collector()
    assert full_collections() == before + 1
    assert not collection_owed() and collector._promoted == 0
    assert collector._heap > len(built)  # the heap the collection left, which the next debt is weighed by
    settle_collector()  # nothing owed: no second collection
    assert full_collections() == before + 1


def test_a_small_build_is_not_promoted_and_owes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(collector, "PROMOTE_MIN_YOUNG", 10**9)
    build(2000)
    assert collector._promoted == 0 and not collection_owed()


def test_any_full_collection_since_the_promotion_clears_the_debt() -> None:
    build(2000)
    assert collection_owed()
    gc.collect()
    assert not collection_owed()
    build(500)  # promoted after that collection: counted from zero
    assert collector._promoted < 2000


def test_after_a_settle_the_debt_is_weighed_against_the_heap_it_left(monkeypatch: pytest.MonkeyPatch) -> None:
    build(2000)
    settle_collector()
    monkeypatch.setattr(collector, "_heap", 1500)  # as if the settle had left a small heap
    build(1000)
    assert not collection_owed()  # less than SETTLE_AFTER_HEAPS heaps promoted
    build(2200)
    assert collector._promoted >= collector.SETTLE_AFTER_HEAPS * 1500
    assert collection_owed()


def test_the_collection_at_start_measures_the_heap_so_a_restart_load_owes_nothing() -> None:
    """``collect_at_start`` (``cli_serve``, before the first client) runs the process's first full
    collection and records the heap: a promoted build under ``SETTLE_AFTER_HEAPS`` heaps then owes
    no collection on a client's time, one above does."""
    before = full_collections()
    collector.collect_at_start()
    assert full_collections() == before + 1
    heap = collector._heap
    assert heap > 1000 and collector._promoted == 0 and not collection_owed()
    build(min(heap, 20_000) // 2)
    assert collector._promoted > 0 and not collection_owed()
    build(collector.SETTLE_AFTER_HEAPS * heap)
    assert collection_owed()


async def test_when_quiet_runs_a_job_once_after_the_quiet_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    runs: list[float] = []

    def job() -> None:
        runs.append(trio.current_time())

    activity.mark()
    marked = trio.current_time()
    activity.when_quiet(job)
    activity.when_quiet(job)  # waiting already: not queued twice
    await trio.sleep(activity.QUIET_SECONDS / 2)
    activity.mark()  # a command meanwhile puts it off
    put_off = trio.current_time()
    await trio.sleep(activity.QUIET_SECONDS * 4)
    assert len(runs) == 1
    assert runs[0] - put_off >= activity.QUIET_SECONDS and runs[0] - marked >= activity.QUIET_SECONDS
    activity.when_quiet(job)  # done: asked again, it runs again
    await trio.sleep(activity.QUIET_SECONDS * 4)
    assert len(runs) == 2


async def test_a_job_that_raises_is_logged_not_raised(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> None:
        raise ValueError("boom")

    with caplog.at_level(logging.WARNING, logger="maildird.activity"):
        activity.when_quiet(broken)
        await trio.sleep(activity.QUIET_SECONDS * 4)
    assert any("failed" in r.getMessage() and r.exc_info for r in caplog.records)


def fill(tmp_path: Path, count: int) -> None:
    cur = tmp_path / "Maildir" / "cur"
    for sub in ("cur", "new", "tmp"):
        (tmp_path / "Maildir" / sub).mkdir(parents=True, exist_ok=True)
    for n in range(count):
        (cur / f"17000{n:05d}.M{n}P1.host:2,S").write_bytes(b"Subject: m%d\r\n\r\nbody\r\n" % n)
    os.utime(cur, (0, 0))


async def test_opening_a_large_folder_settles_when_quiet_not_during_commands(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    fill(tmp_path, MESSAGES)
    store = make_store(tmp_path)
    try:
        activity.mark()
        box = await store.open("INBOX")
        snap = await box.snapshot()  # the load (run_fs) promotes its records and infos
        assert len(snap.messages) == MESSAGES
        infos = {id(i) for i in snap.messages}
        assert {id(o) for o in gc.get_objects(generation=2)} >= infos  # promoted, not walked
        assert collector._promoted > 0  # owed, and scheduled: not paid by the open
        assert collector._heap == 0
        await trio.sleep(activity.QUIET_SECONDS * 4)
        assert collector._promoted == 0 and collector._heap > 0  # settled once it was quiet
    finally:
        await store.close()


async def test_the_settle_waits_for_file_system_work_in_flight(
    autojump_clock: trio.testing.MockClock,
) -> None:
    build(2000)
    assert collection_owed()
    busy = trio.Event()
    done = trio.Event()

    async def worker() -> None:
        async with fsthreads.FS_LIMITER:  # a STORE's renames in a worker thread, as the limiter sees it
            busy.set()
            await done.wait()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(worker)
        await busy.wait()
        activity.when_quiet(fsthreads.settle_when_idle)
        await trio.sleep(activity.QUIET_SECONDS * 10)
        assert collector._promoted > 0 and collector._heap == 0  # quiet, but work in flight: not yet
        done.set()
    await trio.sleep(activity.QUIET_SECONDS * 4)
    assert collector._promoted == 0 and collector._heap > 0


async def test_a_large_store_leaves_the_collector_as_it_found_it(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """STORE pauses the collector for its batch (``flagstore``): afterwards it is enabled with its
    thresholds unchanged, the new infos were promoted rather than walked, and the debt is settled
    when quiet."""
    fill(tmp_path, MESSAGES)
    thresholds = gc.get_threshold()
    store = make_store(tmp_path)
    try:
        box = await store.open("INBOX")
        uids = [i.uid for i in (await box.snapshot()).messages]
        await trio.sleep(activity.QUIET_SECONDS * 4)  # the load's debt settled
        assert collector._promoted == 0
        monkeypatch.setattr(collector, "_heap", 1)  # as if the settle had left a tiny heap: the STORE owes
        result = await box.store_flags(uids, "add", frozenset({"\\Flagged"}))
        assert len(result.changed) == MESSAGES
        assert gc.isenabled() and gc.get_threshold() == thresholds
        assert all("\\Flagged" in i.flags for i in result.changed)
        assert {id(o) for o in gc.get_objects(generation=2)} >= {id(i) for i in result.changed}
        assert collector._promoted > 0
        await trio.sleep(activity.QUIET_SECONDS * 4)
        assert collector._promoted == 0 and collector._heap > 1  # the STORE's debt settled
    finally:
        await store.close()


def test_overlapping_pauses_in_two_threads_resume_the_collector_once_the_last_ends() -> None:
    """A pause on the event loop (a section read-ahead) and one in a worker thread (a folder's load)
    overlap: the collector stays paused until the last one ends, then runs again."""
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen: list[bool] = []

    def second() -> None:
        a_in.wait()
        with bulk_build():
            b_in.set()
            a_out.wait()
            seen.append(gc.isenabled())  # the first pause has ended, this one holds

    t = threading.Thread(target=second)
    t.start()
    with cachefile.collector_paused():
        a_in.set()
        b_in.wait()
    a_out.set()
    t.join()
    assert seen == [False]
    assert gc.isenabled()


def test_racing_pauses_never_leave_the_collector_disabled() -> None:
    """Two threads pausing as fast as they can, with a tiny switch interval: a check-then-disable per
    pause left the collector disabled for good in a few of 200 such rounds."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for _ in range(50):

            def spin(pause: Callable[[], AbstractContextManager[None]]) -> None:
                for _ in range(500):
                    with pause():
                        pass

            threads = [
                threading.Thread(target=spin, args=(p,)) for p in (cachefile.collector_paused, bulk_build)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert gc.isenabled()
    finally:
        sys.setswitchinterval(interval)
