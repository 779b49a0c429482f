"""A seeded random mix of foreign changes (deliveries, flag renames, moves, unlinks) and our own
(APPEND, STORE, EXPUNGE, claims of new/) on a watched folder: after every step, with no sleep, the
snapshot shows exactly what new/ and cur/ hold. The differential check for the watch proof of
freshness (``maildird.watchproof``): the snapshot is compared with a listing of the disk."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
import trio

from maildird import watchproof
from maildird.changes import ChangeHub, watch
from maildird.store.base import NewMessage, Snapshot
from maildird.store.maildir.filenames import base_of, parse_name
from maildird.store.maildir.mailbox import MaildirMailbox
from maildird.store.maildir.store import MaildirStore
from maildird.store.registry import Registry

MSG = b"From: a@example.org\nSubject: hi\n\nbody\n"
STEPS = 150
SEEDS = [1, 2, 3]
INFOS = [":2,", ":2,S", ":2,FS", ":2,RS", ":2,T"]


def on_disk(root: Path) -> dict[str, frozenset[str]]:
    """Base name -> system flags of every message file in new/ and cur/ (the truth)."""
    out: dict[str, frozenset[str]] = {}
    for sub in ("new", "cur"):
        for name in os.listdir(root / sub):
            out[base_of(name)] = parse_name(name).system_flags if sub == "cur" else frozenset()
    return out


def shown(snap: Snapshot, box: MaildirMailbox) -> dict[str, frozenset[str]]:
    msgs = box.folder.msgs
    return {msgs[m.uid].base: m.flags - {"\\Recent"} for m in snap.messages}


class Foreign:
    """Another program working on the Maildir (an MDA, a second IMAP server)."""

    def __init__(self, root: Path, rng: random.Random) -> None:
        self.root = root
        self.rng = rng
        self.serial = 0

    def _files(self, sub: str) -> list[str]:
        return sorted(os.listdir(self.root / sub))

    def deliver(self) -> None:
        self.serial += 1
        base = f"{1_700_000_000 + self.serial}.M{self.serial}P42.mda"
        tmp = self.root / "tmp" / base
        tmp.write_bytes(MSG)
        if self.rng.random() < 0.3:
            dest = self.root / "cur" / (base + self.rng.choice(INFOS))
        else:
            dest = self.root / "new" / base
        if self.rng.random() < 0.5:
            os.link(tmp, dest)
            os.unlink(tmp)
        else:
            os.rename(tmp, dest)

    def flag(self) -> None:
        files = self._files("cur")
        if files:
            name = self.rng.choice(files)
            os.rename(self.root / "cur" / name, self.root / "cur" / (base_of(name) + self.rng.choice(INFOS)))

    def to_cur(self) -> None:
        files = self._files("new")
        if files:
            name = self.rng.choice(files)
            os.rename(self.root / "new" / name, self.root / "cur" / (name + ":2,S"))

    def unlink(self) -> None:
        sub = self.rng.choice(["new", "cur"])
        files = self._files(sub)
        if files:
            os.unlink(self.root / sub / self.rng.choice(files))


async def ours(box: MaildirMailbox, snap: Snapshot, rng: random.Random) -> None:
    """One operation of our own, through the store."""
    uids = [m.uid for m in snap.messages]
    what = rng.choice(["append", "store", "expunge", "claim"])
    if what == "append" or not uids:
        await box.append([NewMessage(MSG, frozenset(rng.choice([set(), {"\\Seen"}])))])
    elif what == "store":
        await box.store_flags([rng.choice(uids)], rng.choice(["add", "remove"]), frozenset({"\\Flagged"}))
    elif what == "expunge":
        victim = rng.choice(uids)
        await box.store_flags([victim], "add", frozenset({"\\Deleted"}))
        await box.expunge([victim])
    else:
        await box.snapshot(claim_recent=True)


@pytest.mark.parametrize("seed", SEEDS)
async def test_every_snapshot_shows_the_disk(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    root = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True)
    hub = ChangeHub()
    store = MaildirStore(root, state_dir=tmp_path / "state", registry=Registry())
    foreign = Foreign(root, rng)
    proven = 0
    async with trio.open_nursery() as nursery:
        await nursery.start(
            lambda task_status: watch(root, hub, rescan_seconds=3600, task_status=task_status)
        )
        box = await store.open("INBOX")
        snap = await box.snapshot()
        for _ in range(STEPS):
            step = rng.random()
            if step < 0.6:
                rng.choice([foreign.deliver, foreign.deliver, foreign.flag, foreign.to_cur, foreign.unlink])()
            elif step < 0.85:
                await ours(box, snap, rng)
            # else: nothing happens; the proof alone must answer
            proven += box.folder._watch_mark == watchproof.token(box.watch_key)
            snap = await box.snapshot()
            assert shown(snap, box) == on_disk(root)
        await store.close()
        nursery.cancel_scope.cancel()
    assert proven > 0  # the proof path was exercised, not only the stats
