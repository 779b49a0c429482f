"""STORE on many messages (``flagstore``): memory and the sidecar equal what a fresh sync of the
disk gives, a large batch mutes the folder's watch and still wakes the hub, a rename by someone
else during the muted renames is seen by the next snapshot, the freshness check before the renames
uses the watch token (no listing when nothing happened), and UNCHANGEDSINCE (RFC 7162 §3.1.3)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio

from maildird import watchproof
from maildird.changes import ChangeHub, watch
from maildird.store.base import FlagOp, NewMessage, Snapshot
from maildird.store.maildir import flagstore, sync
from maildird.store.maildir.mailbox import MaildirMailbox
from maildird.store.maildir.state import MailboxState, state_path
from maildird.store.maildir.store import MaildirStore
from maildird.store.registry import Registry
from maildird.treewatch import TreeWatch

WAIT = 10  # generous bound for the hub to be bumped; not a timing assertion
MANY = flagstore.QUIET_MIN_MESSAGES + 22
FLAG_SETS = [
    frozenset(),
    frozenset({"\\Seen"}),
    frozenset({"\\Seen", "\\Flagged"}),
    frozenset({"\\Answered", "$Forwarded"}),
    frozenset({"\\Seen", "Work"}),
    frozenset({"Later", "\\Deleted"}),
]
CHANGES: list[tuple[FlagOp, frozenset[str]]] = [
    ("add", frozenset({"\\Flagged"})),
    ("remove", frozenset({"\\Flagged"})),
    ("remove", frozenset({"\\Seen", "Work"})),
    ("add", frozenset({"Work", "New", "\\Draft"})),
    ("replace", frozenset({"\\Seen", "Later"})),
    ("replace", frozenset()),
]


def make_store(tmp_path: Path, state: str = "state") -> MaildirStore:
    return MaildirStore(tmp_path / "Maildir", state_dir=tmp_path / state, registry=Registry())


async def filled(store: MaildirStore, count: int = MANY) -> MaildirMailbox:
    box = await store.open("INBOX")
    await box.append(
        [
            NewMessage(f"Subject: m{i}\n\nbody {i}\n".encode(), FLAG_SETS[i % len(FLAG_SETS)])
            for i in range(count)
        ]
    )
    await box.snapshot(claim_recent=True)
    return box


def flags_by_uid(snap: Snapshot) -> dict[int, frozenset[str]]:
    return {m.uid: m.flags for m in snap.messages}


@pytest.mark.parametrize(("op", "flags"), CHANGES)
async def test_memory_and_sidecar_equal_a_fresh_sync(
    tmp_path: Path, op: FlagOp, flags: frozenset[str]
) -> None:
    store = make_store(tmp_path)
    box = await filled(store)
    root = tmp_path / "Maildir"
    for i in range(4):  # files still in new/, no info: STORE moves them to cur/ (the general way)
        (root / "tmp" / f"170000000{i}.M{i}P1.outside").write_bytes(b"Subject: outside\n\nx\n")
        os.rename(
            root / "tmp" / f"170000000{i}.M{i}P1.outside", root / "new" / f"170000000{i}.M{i}P1.outside"
        )
    # Flags from the LAST ':' (maildir-format.md §1.5): this one is \Draft only.
    (root / "cur" / "1700000009.M9P9.odd:2,S:2,D").write_bytes(b"Subject: odd\n\nx\n")
    before = await box.snapshot()
    assert sum(1 for rec in box.folder.msgs.values() if rec.in_new) == 4
    uids = [m.uid for m in before.messages]
    result = await box.store_flags(uids[::2] + uids[-3:], op, flags)
    after = await box.snapshot()
    old_flags, new_flags = flags_by_uid(before), flags_by_uid(after)
    chosen = set(uids[::2] + uids[-3:])
    for uid, was in old_flags.items():
        if uid not in chosen:
            want = was
        elif op == "add":
            want = was | flags
        elif op == "remove":
            want = was - flags
        else:
            want = flags
        assert new_flags[uid] == want, (uid, was, op, flags)
    folder = box.folder
    memory = {uid: (rec.name, bool(rec.in_new), rec.modseq) for uid, rec in folder.msgs.items()}
    changed = {m.uid for m in result.changed}
    assert changed  # every case changes something
    assert {m.uid: m.modseq for m in after.messages if m.uid in changed} == {
        uid: max(m.modseq for m in result.changed) for uid in changed
    }
    assert after.highestmodseq == max(m.modseq for m in result.changed)
    assert {m.uid: m for m in result.changed} == {m.uid: m for m in after.messages if m.uid in changed}
    for m in after.messages:  # the INTERNALDATE object is kept, flags follow the file name
        old = next(b for b in before.messages if b.uid == m.uid)
        assert m.internaldate == old.internaldate and m.size == old.size
    assert guid_rows(tmp_path, folder) == memory
    await store.close()

    fresh = make_store(tmp_path, "state-fresh")  # no sidecar: everything from the file names
    again = await (await fresh.open("INBOX")).snapshot()
    assert flags_by_uid(again) == flags_by_uid(after)
    await fresh.close()


def guid_rows(tmp_path: Path, folder: sync.Folder) -> dict[int, tuple[str, bool, int]]:
    assert folder.guid is not None
    state = MailboxState(state_path(tmp_path / "state", folder.guid))
    try:
        loaded = state.load(folder.guid, folder.uidvalidity)
        return {uid: (rec.name, bool(rec.in_new), rec.modseq) for uid, rec in loaded.records.items()}
    finally:
        state.close()


async def test_unchanged_since_fails_the_newer_ones_and_renames_the_rest(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    box = await filled(store)
    snap = await box.snapshot()
    uids = [m.uid for m in snap.messages]
    first = await box.store_flags(uids[:10], "add", frozenset({"Marked"}))  # none has it yet
    cutoff = min(m.modseq for m in first.changed) - 1
    result = await box.store_flags(uids, "add", frozenset({"\\Draft"}), unchanged_since=cutoff)
    assert set(result.failed) == set(uids[:10])  # RFC 7162 §3.1.3: modified since, not touched
    assert {m.uid for m in result.changed} == set(uids[10:])
    after = flags_by_uid(await box.snapshot())
    assert all("\\Draft" not in after[u] for u in uids[:10])
    assert all("\\Draft" in after[u] for u in uids[10:])
    await store.close()


@asynccontextmanager
async def watched(tmp_path: Path) -> AsyncIterator[tuple[MaildirStore, MaildirMailbox, ChangeHub]]:
    store = make_store(tmp_path)
    box = await filled(store)
    hub = ChangeHub()
    async with trio.open_nursery() as nursery:
        await nursery.start(
            lambda task_status: watch(tmp_path / "Maildir", hub, rescan_seconds=3600, task_status=task_status)
        )
        try:
            yield store, box, hub
        finally:
            await store.close()
            nursery.cancel_scope.cancel()


async def settle(box: MaildirMailbox) -> None:
    """Snapshot until the folder's remembered token is the current one (the proof holds)."""
    for _ in range(5):
        await box.snapshot()
        if box.folder._watch_mark == watchproof.token(box.watch_key):
            return
    raise AssertionError("the watch proof never held")


async def test_a_large_store_mutes_the_watch_and_wakes_the_hub(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mutes: list[bool] = []
    real_mute = TreeWatch.mute

    def spy(self: TreeWatch, key: str) -> bool:
        mutes.append(real_mute(self, key))
        return mutes[-1]

    monkeypatch.setattr(TreeWatch, "mute", spy)
    async with watched(tmp_path) as (_store, box, hub):
        await settle(box)
        key = box.watch_key
        uids = [m.uid for m in (await box.snapshot()).messages]
        await box.store_flags(uids[:3], "add", frozenset({"\\Flagged"}))  # small: not muted
        assert mutes == []
        await settle(box)  # its echo read
        seen = hub.version(key)
        await box.store_flags(uids, "add", frozenset({"\\Flagged"}))
        assert mutes == [True]
        with trio.fail_after(WAIT):
            assert await hub.wait_past(key, seen) != seen
        assert all("\\Flagged" in m.flags for m in (await box.snapshot()).messages)
        assert watchproof.token(key) is not None  # unmuted


async def test_a_rename_by_someone_else_while_muted_is_seen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with watched(tmp_path) as (_store, box, _hub):
        await settle(box)
        snap = await box.snapshot()
        uids = [m.uid for m in snap.messages]
        outsider = uids[-1]
        cur = tmp_path / "Maildir" / "cur"
        name = box.folder.msgs[outsider].name
        real_fsync = flagstore.fsync_dir

        def foreign_rename_then_fsync(path: Path) -> None:
            # Another program sets \Draft on a message this STORE does not touch, while muted.
            os.rename(cur / name, cur / (name.split(":")[0] + ":2,D"))
            real_fsync(path)

        monkeypatch.setattr(flagstore, "fsync_dir", foreign_rename_then_fsync)
        await box.store_flags(uids[:-1], "add", frozenset({"\\Flagged"}))
        after = flags_by_uid(await box.snapshot())
        assert after[outsider] == frozenset({"\\Draft"})
        assert all("\\Flagged" in after[u] for u in uids[:-1])


async def test_no_listing_before_the_renames_when_the_token_is_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    syncs: list[int] = []
    real_sync = sync.Folder.sync_locked

    def counting(self: sync.Folder, *, claim_recent: bool, watched: int | None = None) -> frozenset[int]:
        syncs.append(1)
        return real_sync(self, claim_recent=claim_recent, watched=watched)

    monkeypatch.setattr(sync.Folder, "sync_locked", counting)
    async with watched(tmp_path) as (_store, box, _hub):
        await settle(box)
        uids = [m.uid for m in (await box.snapshot()).messages]
        syncs.clear()
        await box.store_flags(uids, "add", frozenset({"\\Flagged"}))
        assert syncs == []  # within the dirty window, yet the token proves nothing moved
        await settle(box)
        # Someone else changes a message: the token moves, the check before the renames syncs.
        rec = box.folder.msgs[uids[0]]
        cur = tmp_path / "Maildir" / "cur"
        os.rename(cur / rec.name, cur / (rec.base + ":2,FT"))
        syncs.clear()
        result = await box.store_flags(uids[:1], "add", frozenset({"\\Seen"}))
        assert syncs == [1]
        assert result.changed[0].flags == frozenset({"\\Flagged", "\\Deleted", "\\Seen"})
