"""The restart's bulk load (``memory.adopt_rows``, ``make_info``, ``bulk_build``) gives the snapshots a
full sync gives: the same MessageInfo values in the same order (flags, keywords, sizes, dates,
modseqs), the same recent UIDs, records and base index, over a varied folder (files in new/ and
cur/, keywords, flag changes, expunged rows), before and after a restart."""

from __future__ import annotations

import gc
import os
import random
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from maildird.store.base import MessageInfo, NewMessage, Snapshot
from maildird.store.maildir import collector, sync
from maildird.store.maildir.collector import bulk_build
from maildird.store.maildir.mailbox import MaildirMailbox
from maildird.store.maildir.memory import FolderMemory, make_info
from maildird.store.maildir.state import SYNC_MARK_KEY, Record
from maildird.store.maildir.store import MaildirStore
from maildird.store.registry import Registry

SEED = 20261128
COUNT = 60
PAST = 30  # seconds: directory mtimes this old are outside the dirty window
FLAG_CHOICES = ["\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft", "$Forwarded", "Work", "Later"]


def make_store(tmp_path: Path) -> MaildirStore:
    return MaildirStore(tmp_path / "Maildir", state_dir=tmp_path / "state", registry=Registry())


def age_dirs(root: Path) -> None:
    when = time.time() - PAST
    for sub in ("new", "cur"):
        os.utime(root / sub, (when, when))


def view(snap: Snapshot) -> tuple[Any, ...]:
    """Everything a snapshot says, with each MessageInfo as a plain tuple (type and values)."""
    return (
        snap.uidvalidity,
        snap.uidnext,
        snap.highestmodseq,
        snap.keywords,
        snap.can_create_keywords,
        snap.recent,
        tuple(
            (type(m), m.uid, m.flags, m.size, m.internaldate, m.internaldate.tzinfo, m.modseq)
            for m in snap.messages
        ),
    )


def sidecar_mark(mb: MaildirMailbox) -> str:
    state = mb.folder.state
    assert state is not None
    row = state._db.execute("SELECT value FROM meta WHERE key = ?", (SYNC_MARK_KEY,)).fetchone()
    return str(row[0]) if row else ""


async def varied_folder(tmp_path: Path) -> Snapshot:
    """A folder with mixed flags and keywords, later flag changes (other modseqs), expunged
    messages (rows in the expunge log), files left in new/ (by another program, with and
    without ``:2,``) and one with a far-past date; its last sync is settled and recorded."""
    rng = random.Random(SEED)
    root = tmp_path / "Maildir"
    store = make_store(tmp_path)
    inbox = await store.open("INBOX")
    msgs = []
    for i in range(COUNT):
        flags = frozenset(rng.sample(FLAG_CHOICES, rng.randrange(0, 4)))
        when = datetime(2001 + i % 20, 1 + i % 12, 1 + i % 28, i % 24, i % 60, i % 60, tzinfo=UTC)
        msgs.append(NewMessage(b"Subject: m%d\n\n%s\n" % (i, b"x" * rng.randrange(1, 400)), flags, when))
    await inbox.append(msgs)
    await inbox.snapshot(claim_recent=True)  # everything to cur/
    uids = [m.uid for m in (await inbox.snapshot()).messages]
    await inbox.store_flags(uids[::3], "add", frozenset({"\\Flagged", "Urgent"}))
    await inbox.store_flags(uids[1::5], "remove", frozenset({"\\Seen"}))
    await inbox.store_flags(uids[::7], "add", frozenset({"\\Deleted"}))
    await inbox.expunge(uids[::7])
    await inbox.append([NewMessage(b"Subject: late\n\nlate\n", frozenset({"Work"}))])
    (root / "new" / "1700000000.M1P1.other").write_bytes(b"Subject: foreign\n\nhi\n")
    (root / "new" / "1700000001.M2P1.other:2,FS").write_bytes(b"Subject: flagged\n\nhi\n")
    age_dirs(root)
    inbox.folder.dirty = True
    snap = await inbox.snapshot()  # settled: the mark is recorded, new/ is left alone
    assert sidecar_mark(inbox), "the settled sync must record its mark"
    assert inbox.folder.new_count == 2
    await store.close()
    return snap


def forbid_listing(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(folder: Path) -> Any:
        raise AssertionError(f"listed {folder} although the sidecar's mark matched")

    monkeypatch.setattr(sync, "list_dir", boom)


async def test_restart_load_equals_full_sync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = await varied_folder(tmp_path)
    assert len(before.messages) == COUNT - len(range(0, COUNT, 7)) + 3
    assert any(m.modseq != before.messages[0].modseq for m in before.messages)
    assert before.recent == frozenset()

    # The restart: the bulk load alone, no listing.
    with monkeypatch.context() as m:
        forbid_listing(m)
        store = make_store(tmp_path)
        warm = await store.open("INBOX")
        warm_snap = await warm.snapshot()
        warm_msgs, warm_bases = dict(warm.folder.msgs), dict(warm.folder.by_base)
        warm_examine = view(await warm.snapshot())
        await store.close()
    assert view(warm_snap) == view(before)
    assert warm_examine == view(before)

    # The same sidecar through the full sync (rows adopted, then every file listed and compared).
    store = make_store(tmp_path)
    cold = await store.open("INBOX")
    cold.folder._warm_start = lambda *a, **k: False  # type: ignore[method-assign]
    full = await cold.snapshot()
    assert view(full) == view(before)
    assert cold.folder.msgs == warm_msgs and cold.folder.by_base == warm_bases
    # Infos built one by one from the records equal the bulk-built ones.
    cold.folder.infos = {}
    cold.folder._rebuild_infos()
    assert list(cold.folder.infos.values()) == list(full.messages)
    await store.close()

    # A read-write open after the restart claims new/ (a listing) and reports both as recent.
    store = make_store(tmp_path)
    rw = await store.open("INBOX")
    claimed = await rw.snapshot(claim_recent=True)
    assert len(claimed.recent) == 2
    assert [(m.uid, m.flags, m.size, m.internaldate) for m in claimed.messages] == [
        (m.uid, m.flags, m.size, m.internaldate) for m in before.messages
    ]
    await store.close()


def test_make_info_equals_the_constructor() -> None:
    when = datetime(2020, 2, 29, 12, 0, 1, tzinfo=UTC)
    flags = frozenset({"\\Seen", "Work"})
    made = make_info(7, flags, 1234, when, 99)
    built = MessageInfo(7, flags, 1234, when, 99)
    assert type(made) is MessageInfo
    assert made == built and hash(made) == hash(built) and repr(made) == repr(built)
    assert (made.uid, made.flags, made.size, made.internaldate, made.modseq) == (7, flags, 1234, when, 99)
    with pytest.raises(AttributeError):
        made.uid = 8  # type: ignore[misc]


def test_adopt_rows_equals_per_record_infos() -> None:
    """A bulk adoption of shuffled rows equals infos built one record at a time, in UID order."""
    rng = random.Random(SEED)
    letters = ["", ":2,", ":2,S", ":2,FS", ":2,Sa", ":2,T", ":2,DRS", ":2,Sb,extra", ":1,x"]
    rows = [
        (uid, f"{uid}.M{uid}P1.h", f"{uid}.M{uid}P1.h{rng.choice(letters)}", rng.randrange(2),
         rng.randrange(1, 10**6), rng.randrange(0, 4 * 10**18), rng.randrange(1, 10**15))
        for uid in rng.sample(range(1, 10**6), 300)
    ]  # fmt: skip
    bulk = FolderMemory()
    bulk.adopt_rows(rows)
    one = FolderMemory()
    one.adopt_rows([])
    assert one.msgs == {} and one.infos == {} and one.by_base == {}
    ordered = sorted(rows)
    assert list(bulk.msgs) == [r[0] for r in ordered] == list(bulk.infos)
    assert bulk.by_base == {r[1]: r[0] for r in ordered}
    assert [bulk._info(rec) for rec in bulk.msgs.values()] == list(bulk.infos.values())


def test_bulk_build_restores_the_collector() -> None:
    assert gc.isenabled()
    with bulk_build():
        assert not gc.isenabled()
        with bulk_build():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner one found it disabled: left so
    assert gc.isenabled()
    gc.disable()
    try:
        with bulk_build():
            pass
        assert not gc.isenabled()  # it was disabled on entry: stays so
    finally:
        gc.enable()


class _Built:
    """A tracked object (a class instance) standing for a record or an info."""

    __slots__ = ("n",)

    def __init__(self, n: int) -> None:
        self.n = n


def test_bulk_build_leaves_what_it_built_in_the_oldest_generation(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a large bulk build made is promoted without a collection walking it (``promote_young``),
    and nothing frozen on purpose by someone else is released."""
    monkeypatch.setattr(collector, "PROMOTE_MIN_YOUNG", 1000)
    with bulk_build():
        built = [_Built(i) for i in range(2000)]
        young = {id(o) for o in gc.get_objects(generation=0)}
        assert all(id(o) in young for o in built[::97])  # built young while collection is paused
    oldest = {id(o) for o in gc.get_objects(generation=2)}
    assert all(id(o) in oldest for o in built[::97])
    assert gc.isenabled() and gc.get_freeze_count() == 0

    gc.freeze()  # someone keeps objects frozen (e.g. before fork)
    frozen = gc.get_freeze_count()
    try:
        with bulk_build():
            more = [_Built(i) for i in range(100)]
        assert gc.get_freeze_count() == frozen
        assert len(more) == 100
    finally:
        gc.unfreeze()


def test_a_small_bulk_build_is_left_to_the_young_collection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(collector, "PROMOTE_MIN_YOUNG", 10**9)
    gc.collect()
    with bulk_build():
        built = [_Built(i) for i in range(200)]
    young = {id(o) for o in gc.get_objects(generation=0)} | {id(o) for o in gc.get_objects(generation=1)}
    assert all(id(o) in young for o in built)


def test_first_apply_into_empty_memory_equals_the_general_one() -> None:
    """A first open's ``_apply`` (every record new: ``_adopt_new``) leaves what the per-record path
    leaves, and a batch with a UID twice takes the per-record path."""
    rng = random.Random(SEED)
    recs = [
        Record(
            uid,
            f"{uid}.M1P1.h",
            f"{uid}.M1P1.h:2,{rng.choice(['', 'S', 'FS', 'a'])}",
            False,
            uid,
            uid * 10**9,
            7,
        )
        for uid in rng.sample(range(1, 500), 120)
    ]
    for batch in (recs, [*recs, recs[5]._replace(name=recs[5].base + ":2,T")]):
        fast, each = FolderMemory(), FolderMemory()
        fast._apply(list(batch), [], 9)
        each._apply_each(list(batch), [])
        each.highestmodseq, each.version = max(each.highestmodseq, 9), each.version + 1
        assert list(fast.msgs.items()) == list(each.msgs.items())
        assert fast.by_base == each.by_base and fast.max_uid == each.max_uid
        assert list(fast.infos.items()) == list(each.infos.items())
        assert (fast.highestmodseq, fast.version) == (each.highestmodseq, each.version)
