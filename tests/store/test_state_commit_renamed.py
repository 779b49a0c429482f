"""``MailboxState.commit(renamed=...)``: a flag change's records update only name, in_new and modseq of
their rows, and leave exactly the rows (and expunge log, HIGHESTMODSEQ) that writing them whole
leaves; a missing row is written whole; the commit stays one transaction. And the sidecar rows a
folder's STORE, EXPUNGE and APPEND leave are the ones a rebuild from the directory makes."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from maildird.store.base import NewMessage
from maildird.store.maildir.state import MailboxState, Record
from tests.store.test_gc_settle import fill
from tests.store.test_open_fast import make_store

TOP = 1_800_000_000_000_000
"""A modseq above the clock's for the records written here (``next_modseq`` never goes below it)."""


def rows(st: MailboxState) -> list[tuple[Any, ...]]:
    return list(st._db.execute("SELECT * FROM message ORDER BY uid"))


def state_of(st: MailboxState) -> tuple[Any, ...]:
    """Everything a commit writes but the write generation: rows, expunge log, HIGHESTMODSEQ, mark (the
    expunge floor is the clock at the file's creation)."""
    log = list(st._db.execute("SELECT * FROM expunged ORDER BY uid"))
    meta = dict(
        st._db.execute("SELECT key, value FROM meta WHERE key NOT IN ('epoch', 'gen', 'expunge_floor')")
    )
    return rows(st), log, meta


def record(uid: int, *, flags: str = "S", in_new: bool = False, modseq: int = TOP) -> Record:
    base = f"1700000{uid:03d}.M{uid}P1.host,S={1000 + uid}"
    return Record(uid, base, f"{base}:2,{flags}", in_new, 1000 + uid, 1_700_000_000_000_000_000 + uid, modseq)


def opened(tmp_path: Path, name: str) -> MailboxState:
    st = MailboxState(tmp_path / f"{name}.sqlite")
    st.load("guid", 7)
    st.commit(upserts=[record(u, in_new=u % 3 == 0) for u in range(1, 21)], highestmodseq=TOP)
    return st


def renames(uids: range, modseq: int) -> list[Record]:
    return [record(u, flags="FS", modseq=modseq) for u in uids]


def row_of(rec: Record, modseq: int) -> tuple[Any, ...]:
    """The sidecar row ``rec`` leaves (in cur/: in_new 0) with ``modseq``."""
    return (rec.uid, rec.base, rec.name, 0, rec.size, rec.mtime_ns, modseq)


def test_renamed_leaves_the_rows_writing_them_whole_leaves(tmp_path: Path) -> None:
    whole, renamed = opened(tmp_path, "whole"), opened(tmp_path, "renamed")
    changed = renames(range(2, 20, 2), TOP + 1)
    whole.commit(upserts=changed, highestmodseq=TOP + 1)
    renamed.commit(renamed=changed, highestmodseq=TOP + 1)
    assert state_of(renamed) == state_of(whole)
    assert rows(renamed)[1] == row_of(changed[0], TOP + 1)
    assert rows(renamed)[2][2].endswith(":2,S") and rows(renamed)[2][3] == 1  # untouched: in_new kept
    whole.close()
    renamed.close()


def test_renamed_with_upserts_and_expunges_in_one_commit(tmp_path: Path) -> None:
    whole, renamed = opened(tmp_path, "whole"), opened(tmp_path, "renamed")
    changed = renames(range(1, 6), TOP + 2)
    arrived = [record(u, modseq=TOP + 2) for u in (21, 22)]
    gone = [(8, TOP + 2), (9, TOP + 2)]
    whole.commit(upserts=changed + arrived, expunged=gone, highestmodseq=TOP + 2)
    renamed.commit(renamed=changed, upserts=arrived, expunged=gone, highestmodseq=TOP + 2)
    assert state_of(renamed) == state_of(whole)
    assert [r[0] for r in rows(renamed)] == [u for u in range(1, 23) if u not in (8, 9)]
    whole.close()
    renamed.close()


def test_a_renamed_record_without_a_row_is_written_whole(tmp_path: Path) -> None:
    whole, renamed = opened(tmp_path, "whole"), opened(tmp_path, "renamed")
    for st in (whole, renamed):
        st._db.execute("DELETE FROM message WHERE uid = 5")  # as if a write had been lost
    changed = renames(range(3, 8), TOP + 3)
    whole.commit(upserts=changed, highestmodseq=TOP + 3)
    renamed.commit(renamed=changed, highestmodseq=TOP + 3)
    assert state_of(renamed) == state_of(whole)
    assert rows(renamed)[4] == row_of(changed[2], TOP + 3)
    whole.close()
    renamed.close()


def test_the_commit_is_one_transaction(tmp_path: Path) -> None:
    st = opened(tmp_path, "one")
    before = state_of(st)
    with pytest.raises(sqlite3.Error):  # the expunge log's uid must be an integer: fails after the UPDATE
        st.commit(renamed=renames(range(1, 4), TOP + 4), expunged=[("x", TOP + 4)], highestmodseq=TOP + 4)  # type: ignore[list-item]
    assert state_of(st) == before
    st.close()


def sidecar_rows(tmp_path: Path) -> list[tuple[Any, ...]]:
    """The sidecar's rows but their modseqs (a rebuild hands out new ones)."""
    (path,) = (tmp_path / "state").glob("*.sqlite")
    with sqlite3.connect(path) as db:
        return list(db.execute("SELECT uid, base, name, in_new, size, mtime_ns FROM message ORDER BY uid"))


async def test_store_expunge_append_leave_the_rows_a_rebuild_makes(tmp_path: Path) -> None:
    fill(tmp_path, 40)
    store = make_store(tmp_path)
    box = await store.open("INBOX")
    uids = [i.uid for i in (await box.snapshot()).messages]
    await box.store_flags(uids[::2], "add", frozenset({"\\Flagged"}))
    await box.store_flags(uids[:10], "add", frozenset({"\\Deleted"}))
    await box.store_flags(uids[1::4], "remove", frozenset({"\\Seen"}))
    await box.expunge()
    await box.append([NewMessage(b"Subject: new\r\n\r\nhello\r\n", frozenset({"\\Seen"}), None)])
    await box.store_flags([uids[-1]], "replace", frozenset({"\\Answered"}))
    after = await box.snapshot()
    await store.close()
    kept = sidecar_rows(tmp_path)
    assert [r[0] for r in kept] == [i.uid for i in after.messages]

    for f in (tmp_path / "state").iterdir():
        f.unlink()  # the sidecar and its pack: the next open rebuilds them from the directory
    store = make_store(tmp_path)
    again = await store.open("INBOX")
    rebuilt_snapshot = await again.snapshot()
    await store.close()
    assert sidecar_rows(tmp_path) == kept
    assert [(i.uid, i.flags) for i in rebuilt_snapshot.messages] == [(i.uid, i.flags) for i in after.messages]


async def test_store_after_a_failed_sidecar_write_writes_its_rows_whole(tmp_path: Path) -> None:
    """After a failed write the rows may lag behind memory (``_rows_stale``): a STORE's records then go
    to the sidecar whole, not as a rename of rows whose size and mtime could be stale."""
    fill(tmp_path, 6)
    store = make_store(tmp_path)
    box = await store.open("INBOX")
    uid = (await box.snapshot()).messages[2].uid
    folder = box.folder
    assert folder.state is not None
    folder.state._db.execute("UPDATE message SET size = 1, mtime_ns = 2 WHERE uid = ?", (uid,))
    folder.state._db.commit()
    folder._rows_stale = True  # as ``_failed_write`` leaves it
    await box.store_flags([uid], "add", frozenset({"\\Flagged"}))
    rec = folder.msgs[uid]
    (row,) = folder.state._db.execute("SELECT name, size, mtime_ns FROM message WHERE uid = ?", (uid,))
    assert row == (rec.name, rec.size, rec.mtime_ns)
    assert row[1] != 1
    await store.close()


async def test_store_renames_only_what_a_flag_change_changes(tmp_path: Path) -> None:
    """A STORE (rows current) updates name, in_new and modseq and leaves the other columns alone: a
    row's size altered behind the folder's back stays altered (the rename path, not a whole write)."""
    fill(tmp_path, 6)
    store = make_store(tmp_path)
    box = await store.open("INBOX")
    uid = (await box.snapshot()).messages[2].uid
    folder = box.folder
    assert folder.state is not None and not folder._rows_stale
    folder.state._db.execute("UPDATE message SET size = 1 WHERE uid = ?", (uid,))
    folder.state._db.commit()
    await box.store_flags([uid], "add", frozenset({"\\Flagged"}))
    rec = folder.msgs[uid]
    (row,) = folder.state._db.execute("SELECT name, modseq, size FROM message WHERE uid = ?", (uid,))
    assert row == (rec.name, rec.modseq, 1)
    assert "F" in rec.name.rpartition(":2,")[2]
    await store.close()
