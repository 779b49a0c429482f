"""A folder's restart through the sidecar's packed copy (``statepack``, ``memory.adopt_columns``): the
same snapshots, records and base index as the rows and as a full sync give, over a varied folder;
the pack follows every change (a STORE after it is never read back stale); a sync that moved files
itself writes no pack its mark could not use; a failed sidecar write stops marks (and packs)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from maildird.store.maildir import controlfiles, statepack
from maildird.store.maildir import state as state_mod
from maildird.store.maildir.memory import FolderMemory
from maildird.store.maildir.state import MailboxState
from tests.store.test_open_fast import age_dirs, forbid_listing, make_store, sidecar_mark, varied_folder, view

Spy = list[state_mod.Loaded]


@pytest.fixture(autouse=True)
def small_packs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(statepack, "PACK_MIN_MESSAGES", 1)


def spy_loads(monkeypatch: pytest.MonkeyPatch) -> Spy:
    seen: Spy = []
    real = MailboxState.load

    def load(self: MailboxState, guid: str, uidvalidity: int) -> state_mod.Loaded:
        got = real(self, guid, uidvalidity)
        seen.append(got)
        return got

    monkeypatch.setattr(MailboxState, "load", load)
    return seen


def pack_file(tmp_path: Path) -> Path:
    found = list((tmp_path / "state").glob("*" + statepack.PACK_SUFFIX))
    assert len(found) == 1, found
    return found[0]


async def change_and_settle(tmp_path: Path, inbox: Any, uid: int, flags: frozenset[str]) -> tuple[Any, ...]:
    """STORE ``flags`` on ``uid`` (its write discards the pack), then a settled full sync; its view."""
    pack = pack_file(tmp_path)
    await inbox.store_flags([uid], "add", flags)
    assert not pack.exists()
    age_dirs(tmp_path / "Maildir")
    inbox.folder.dirty = True
    expected = view(await inbox.snapshot())
    assert sidecar_mark(inbox)
    return expected


async def assert_restart_reads_the_pack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, expected: tuple[Any, ...]
) -> None:
    """A restart loads the folder from the pack (no listing, no rows) and sees ``expected``."""
    with monkeypatch.context() as m:
        forbid_listing(m)
        loads = spy_loads(m)
        store = make_store(tmp_path)
        again = await store.open("INBOX")
        assert view(await again.snapshot()) == expected
        await store.close()
    assert [ld.columns is not None for ld in loads] == [True]


async def test_restart_from_the_pack_equals_rows_and_full_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = await varied_folder(tmp_path)
    pack = pack_file(tmp_path)

    with monkeypatch.context() as m:
        forbid_listing(m)
        loads = spy_loads(m)
        store = make_store(tmp_path)
        warm = await store.open("INBOX")
        warm_snap = await warm.snapshot()
        warm_msgs, warm_bases = dict(warm.folder.msgs), dict(warm.folder.by_base)
        warm_infos = dict(warm.folder.infos)
        await store.close()
    assert [ld.columns is not None for ld in loads] == [True]
    assert view(warm_snap) == view(before)

    # The same sidecar without its pack: the rows give the same memory.
    pack.rename(pack.with_suffix(".kept"))
    with monkeypatch.context() as m:
        forbid_listing(m)
        loads = spy_loads(m)
        store = make_store(tmp_path)
        rows = await store.open("INBOX")
        rows_snap = await rows.snapshot()
        assert rows.folder.msgs == warm_msgs and rows.folder.by_base == warm_bases
        assert rows.folder.infos == warm_infos
        await store.close()
    assert [ld.columns is None for ld in loads] == [True]
    assert view(rows_snap) == view(before)

    # And a full sync over the pack's memory agrees with the listing.
    pack.with_suffix(".kept").rename(pack)
    store = make_store(tmp_path)
    cold = await store.open("INBOX")
    cold.folder._warm_start = lambda *a, **k: False  # type: ignore[method-assign]
    full = await cold.snapshot()
    assert view(full) == view(before)
    assert cold.folder.msgs == warm_msgs
    await store.close()


def test_adopt_columns_equals_adopt_rows() -> None:
    from tests.store.test_statepack import KEY, make_rows

    rows, dates = make_rows(400)
    data = statepack.encode(KEY, rows, dates)
    assert data is not None
    cols = statepack.decode(data, KEY)
    assert cols is not None
    by_rows, by_cols = FolderMemory(), FolderMemory()
    by_rows.adopt_rows(cols.rows())
    by_cols.adopt_columns(cols)
    assert by_cols.msgs == by_rows.msgs and list(by_cols.msgs) == list(by_rows.msgs)
    assert by_cols.by_base == by_rows.by_base
    assert list(by_cols.infos.items()) == list(by_rows.infos.items())
    assert all(
        type(a.internaldate) is type(b.internaldate)
        for a, b in zip(by_cols.infos.values(), by_rows.infos.values(), strict=True)
    )
    assert by_cols.pack_rows() == (
        list(by_rows.msgs.values()),
        [i.internaldate for i in by_rows.infos.values()],
    )


async def test_a_change_after_the_pack_is_never_read_back_stale(tmp_path: Path) -> None:
    await varied_folder(tmp_path)
    pack = pack_file(tmp_path)
    store = make_store(tmp_path)
    inbox = await store.open("INBOX")
    snap = await inbox.snapshot()
    uid = snap.messages[0].uid
    await inbox.store_flags([uid], "add", frozenset({"\\Answered", "Fresh"}))
    assert not pack.exists()  # the STORE's write discarded it
    expected = view(await inbox.snapshot())
    await store.close()

    store = make_store(tmp_path)
    again = await store.open("INBOX")
    got = await again.snapshot()
    assert view(got) == expected
    assert {"\\Answered", "Fresh"} <= got.messages[0].flags
    await store.close()


async def test_a_settled_sync_after_a_change_packs_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await varied_folder(tmp_path)
    pack = pack_file(tmp_path)
    store = make_store(tmp_path)
    inbox = await store.open("INBOX")
    snap = await inbox.snapshot()
    expected = await change_and_settle(tmp_path, inbox, snap.messages[1].uid, frozenset({"\\Flagged"}))
    assert pack.exists()
    await store.close()
    await assert_restart_reads_the_pack(tmp_path, monkeypatch, expected)


async def test_a_sync_that_moved_files_writes_no_pack(tmp_path: Path) -> None:
    """A read-write open claims new/: its mark describes the folder before the moves, so a pack
    written with it could never be read; none is written (the mark still is, as before)."""
    await varied_folder(tmp_path)
    pack = pack_file(tmp_path)
    pack.unlink()
    store = make_store(tmp_path)
    inbox = await store.open("INBOX")
    claimed = await inbox.snapshot(claim_recent=True)
    assert len(claimed.recent) == 2
    assert sidecar_mark(inbox)
    assert not pack.exists()
    await store.close()


async def test_after_a_failed_sidecar_write_no_mark_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rows lag behind memory after a failed write: a later settled sync must not mark them (a
    restart would trust them, and a pack made from memory would differ from them)."""
    await varied_folder(tmp_path)
    pack = pack_file(tmp_path)
    store = make_store(tmp_path)
    inbox = await store.open("INBOX")
    snap = await inbox.snapshot()
    real = MailboxState.commit

    def failing(self: MailboxState, **kw: Any) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(MailboxState, "commit", failing)
    await inbox.store_flags([snap.messages[2].uid], "add", frozenset({"\\Draft"}))
    monkeypatch.setattr(MailboxState, "commit", real)
    age_dirs(tmp_path / "Maildir")
    inbox.folder.dirty = True
    expected = view(await inbox.snapshot())
    assert sidecar_mark(inbox) == ""
    assert not pack.exists()
    await store.close()

    store = make_store(tmp_path)  # the restart lists the folder and finds the \Draft
    again = await store.open("INBOX")
    got = await again.snapshot()
    assert [(m.uid, m.flags) for m in got.messages] == [(m[1], m[2]) for m in expected[-1]]
    await store.close()


async def test_an_open_folder_packs_at_most_once_per_interval_and_pays_at_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every settled sync after a change would write a pack (150-200 ms of CPU at 100,000 messages);
    within ``PACK_INTERVAL`` of the last one an open folder writes none, and closing it writes it."""
    await varied_folder(tmp_path)
    pack = pack_file(tmp_path)
    store = make_store(tmp_path)
    inbox = await store.open("INBOX")
    snap = await inbox.snapshot()
    for round_, uid in enumerate((snap.messages[1].uid, snap.messages[2].uid)):
        # A keyword of its own: a change whatever flags the message had.
        expected = await change_and_settle(tmp_path, inbox, uid, frozenset({f"Round{round_}"}))
        # The first settled sync of this open folder packs; the second, within the interval, owes it.
        assert pack.exists() == (round_ == 0)
    await store.close()
    assert pack.exists()
    await assert_restart_reads_the_pack(tmp_path, monkeypatch, expected)


async def test_after_the_interval_a_settled_sync_packs_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(controlfiles, "PACK_INTERVAL", 0.0)
    await varied_folder(tmp_path)
    pack = pack_file(tmp_path)
    store = make_store(tmp_path)
    inbox = await store.open("INBOX")
    snap = await inbox.snapshot()
    for round_, uid in enumerate((snap.messages[1].uid, snap.messages[2].uid)):
        await change_and_settle(tmp_path, inbox, uid, frozenset({f"Round{round_}"}))
        assert pack.exists()
    await store.close()
