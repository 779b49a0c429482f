"""The sidecar and its packed copy (``state`` with ``statepack``): a settled sync's write packs the rows
it leaves, a reopen reads the pack instead of the rows and gets exactly the rows, and every other
write (by this handle or another, any kind) discards it; a damaged pack or an old sidecar without an
epoch falls back to the rows. HIGHESTMODSEQ and the expunge log are the rows' business and unchanged."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from maildird.store.maildir import statepack
from maildird.store.maildir.state import EPOCH_KEY, GEN_KEY, Loaded, MailboxState, Record, state_path

GUID = "f0325c03304a0a6b4863000083ecc375"
UIDVALIDITY = 42
MARK = "settled"
NS = 10**9


@pytest.fixture(autouse=True)
def small_packs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(statepack, "PACK_MIN_MESSAGES", 1)


def rec(uid: int, modseq: int, flags: str = "S", in_new: bool = False) -> Record:
    base = f"17000000{uid:03d}.M1P{uid}.host,S=10,W=12"
    name = base if in_new else f"{base}:2,{flags}"
    return Record(uid, base, name, in_new, 12 + uid, (1_700_000_000 + uid) * NS + 123, modseq)


def source(records: list[Record]) -> Any:
    def packed() -> tuple[list[Record], list[datetime]]:
        return records, [datetime.fromtimestamp(r.mtime_ns // NS, UTC) for r in records]

    return packed


def sql_rows(path: Path) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(path)
    try:
        return db.execute(
            "SELECT uid, base, name, in_new, size, mtime_ns, modseq FROM message ORDER BY uid"
        ).fetchall()
    finally:
        db.close()


def settled(path: Path, records: list[Record]) -> MailboxState:
    """A sidecar holding ``records`` whose last write was a settled sync's (mark and pack)."""
    st = MailboxState(path)
    top = st.load(GUID, UIDVALIDITY).highestmodseq
    st.commit(upserts=records, highestmodseq=top + 10, sync_mark=MARK, pack=source(records))
    return st


def reload(path: Path) -> Loaded:
    st = MailboxState(path)
    try:
        return st.load(GUID, UIDVALIDITY)
    finally:
        st.close()


def test_reopen_reads_the_pack_and_it_equals_the_rows(tmp_path: Path) -> None:
    path = state_path(tmp_path, GUID)
    records = [rec(u, 100 + u, "RS" if u % 2 else "S", in_new=u % 5 == 0) for u in range(1, 40)]
    st = settled(path, records)
    top = st.load(GUID, UIDVALIDITY).highestmodseq
    st.commit(expunged=[(7, top + 5)], highestmodseq=top + 5)  # rows and log change: the pack goes
    live = [r for r in records if r.uid != 7]
    st.set_sync_mark(MARK + "2", source(live))
    st.close()
    assert statepack.pack_path(path) is not None and statepack.pack_path(path).exists()  # type: ignore[union-attr]
    loaded = reload(path)
    assert loaded.columns is not None and loaded.rows == []
    assert loaded.columns.rows() == sql_rows(path)
    assert loaded.records == {r.uid: r for r in live}
    assert loaded.columns.dates == [datetime.fromtimestamp(r.mtime_ns // NS, UTC) for r in live]
    assert (loaded.highestmodseq, loaded.sync_mark, loaded.max_uid) == (top + 5, MARK + "2", 39)
    st = MailboxState(path)
    assert st.expunged_since(top + 4) == (7,)
    st.close()


@pytest.mark.parametrize(
    "write",
    ["upsert", "expunge", "clear mark", "other mark without pack", "other incarnation"],
)
def test_every_other_write_discards_the_pack(tmp_path: Path, write: str) -> None:
    path = state_path(tmp_path, GUID)
    records = [rec(u, 100) for u in range(1, 10)]
    st = settled(path, records)
    pack = statepack.pack_path(path)
    assert pack is not None and pack.exists()
    if write == "upsert":
        st.commit(upserts=[rec(3, 200, "FS")], highestmodseq=200)
    elif write == "expunge":
        st.commit(expunged=[(3, 200)], highestmodseq=200)
    elif write == "clear mark":
        st.set_sync_mark("")
    elif write == "other mark without pack":
        st.set_sync_mark(MARK + "x")
    else:
        st.load(GUID, UIDVALIDITY + 1)
    st.close()
    assert not pack.exists()
    loaded = reload(path)
    assert loaded.columns is None
    if write == "other incarnation":
        return
    assert loaded.rows == sql_rows(path)


def test_a_write_by_another_handle_invalidates_a_pack_it_does_not_know(tmp_path: Path) -> None:
    """Another process (another connection to the file) writes after our pack: it does not remove
    our file, but raises the generation, so the pack no longer names the sidecar's state."""
    path = state_path(tmp_path, GUID)
    records = [rec(u, 100) for u in range(1, 10)]
    settled(path, records).close()
    other = MailboxState(path)
    other._pack_on_disk = False  # as a process that never saw the file
    other.load(GUID, UIDVALIDITY)
    other.commit(upserts=[rec(4, 300, "T")], highestmodseq=300, sync_mark=MARK)  # even the same mark
    other.close()
    pack = statepack.pack_path(path)
    assert pack is not None and pack.exists()
    loaded = reload(path)
    assert loaded.columns is None
    assert loaded.records[4].name.endswith(":2,T")


def test_a_same_state_write_that_fails_keeps_the_pack_valid(tmp_path: Path) -> None:
    """A write that rolls back changes no row and no generation: the pack still copies the rows."""
    path = state_path(tmp_path, GUID)
    records = [rec(u, 100) for u in range(1, 10)]
    st = settled(path, records)
    with pytest.raises(sqlite3.IntegrityError):
        st.commit(upserts=[Record(11, None, "x", False, 1, 1, 1)], highestmodseq=1)  # type: ignore[arg-type]
    st.close()
    loaded = reload(path)
    assert loaded.columns is not None and loaded.columns.rows() == sql_rows(path)


@pytest.mark.parametrize("damage", ["truncated", "flipped", "emptied", "foreign epoch"])
def test_a_damaged_pack_falls_back_to_the_rows(tmp_path: Path, damage: str) -> None:
    path = state_path(tmp_path, GUID)
    records = [rec(u, 100 + u) for u in range(1, 30)]
    settled(path, records).close()
    pack = statepack.pack_path(path)
    assert pack is not None
    data = pack.read_bytes()
    if damage == "truncated":
        pack.write_bytes(data[: len(data) - 9])
    elif damage == "flipped":
        pack.write_bytes(data[:-20] + bytes([data[-20] ^ 4]) + data[-19:])
    elif damage == "emptied":
        pack.write_bytes(b"")
    else:
        db = sqlite3.connect(path)
        db.execute("UPDATE meta SET value = 'feedfacefeedface' WHERE key = ?", (EPOCH_KEY,))
        db.commit()
        db.close()
    loaded = reload(path)
    assert loaded.columns is None
    assert loaded.records == {r.uid: r._replace(in_new=0) for r in records}
    assert loaded.sync_mark == MARK  # the mark itself is the rows' and still holds


def test_an_old_sidecar_without_epoch_reads_its_rows_and_gets_one_at_the_next_write(tmp_path: Path) -> None:
    path = state_path(tmp_path, GUID)
    records = [rec(u, 100) for u in range(1, 10)]
    settled(path, records).close()
    db = sqlite3.connect(path)
    db.execute("DELETE FROM meta WHERE key IN (?, ?)", (EPOCH_KEY, GEN_KEY))
    db.commit()
    db.close()
    loaded = reload(path)
    assert loaded.columns is None and loaded.rows == sql_rows(path)
    st = MailboxState(path)
    st.load(GUID, UIDVALIDITY)
    st.set_sync_mark(MARK + "y", source(records))
    st.close()
    loaded = reload(path)
    assert loaded.columns is not None and loaded.columns.rows() == sql_rows(path)


def test_no_pack_below_the_minimum_or_in_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(statepack, "PACK_MIN_MESSAGES", 10)
    path = state_path(tmp_path, GUID)
    settled(path, [rec(u, 100) for u in range(1, 10)]).close()
    assert not path.with_name(path.stem + statepack.PACK_SUFFIX).exists()
    assert reload(path).columns is None
    mem = MailboxState(Path(":memory:"))
    mem.load(GUID, UIDVALIDITY)
    mem.commit(
        upserts=[rec(u, 100) for u in range(1, 20)], highestmodseq=100, sync_mark=MARK, pack=source([])
    )
    assert mem.load(GUID, UIDVALIDITY).columns is None
    mem.close()


def test_rows_are_stored_as_before_with_far_dates_clamped(tmp_path: Path) -> None:
    """``commit`` stores ``in_new`` as 0/1 and clamps mtimes past SQLite's 64 bits (a date after
    2262), whether or not a batch holds such an mtime."""
    path = state_path(tmp_path, GUID)
    st = MailboxState(path)
    top = st.load(GUID, UIDVALIDITY).highestmodseq
    plain = [rec(u, top + 1, in_new=u % 2 == 0) for u in range(1, 5)]
    far = [rec(5, top + 1)._replace(mtime_ns=2**70), rec(6, top + 1)._replace(mtime_ns=-(2**70))]
    st.commit(upserts=plain, highestmodseq=top + 1)
    st.commit(upserts=[*far, rec(7, top + 1, in_new=True)], highestmodseq=top + 1)
    st.close()
    want = [(r.uid, r.base, r.name, int(r.in_new), r.size, r.mtime_ns, r.modseq) for r in plain]
    want += [(5, far[0].base, far[0].name, 0, far[0].size, 2**63 - 1, top + 1)]
    want += [(6, far[1].base, far[1].name, 0, far[1].size, -(2**63 - 1), top + 1)]
    r7 = rec(7, top + 1, in_new=True)
    want += [(7, r7.base, r7.name, 1, r7.size, r7.mtime_ns, top + 1)]
    assert sql_rows(path) == want
