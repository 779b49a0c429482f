"""A hypothesis state machine: random APPEND/STORE/EXPUNGE/COPY/MOVE interleaved with an outside
writer (deliveries by rename or link, flag renames, unlinks), checked after every step:

* UIDs are strictly increasing in a snapshot and never reused (a new UID is above every UID ever
  seen in that folder);
* a UID never changes its message (each message body carries a unique id);
* each message file is exactly one UID (files in new/+cur/ == messages, one base per UID);
* the flags on disk (letters through dovecot-keywords) == the flags reported.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from pathlib import Path

import trio
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from maildird.store.base import NewMessage
from maildird.store.maildir.filenames import SYSTEM_LETTERS, base_of, parse_name
from maildird.store.maildir.keywords import Keywords
from maildird.store.maildir.mailbox import MaildirMailbox
from maildird.store.maildir.store import MaildirStore
from maildird.store.registry import Registry

FOLDERS = ("INBOX", "Foo")
FLAGS = st.frozensets(st.sampled_from(["\\Seen", "\\Flagged", "\\Deleted", "\\Answered", "Work", "$Junk"]))
_ids = itertools.count(1)


def body(cid: int) -> bytes:
    return f"Subject: {cid}\nX-Cid: {cid}\n\nbody {cid}\n".encode()


def cid_of(data: bytes) -> int:
    for line in data.splitlines():
        if line.startswith(b"X-Cid: "):
            return int(line[7:])
    raise AssertionError(data)


class MaildirMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="maildird-sm-"))
        self.root = self.tmp / "Maildir"
        self.store = MaildirStore(self.root, state_dir=self.tmp / "state", registry=Registry())
        self.boxes: dict[str, MaildirMailbox] = {}
        self.model: dict[str, dict[int, int]] = {f: {} for f in FOLDERS}  # uid -> cid
        self.top: dict[str, int] = dict.fromkeys(FOLDERS, 0)
        self.pending: dict[str, set[int]] = {f: set() for f in FOLDERS}  # outside deliveries
        self.seen: dict[str, dict[int, tuple[frozenset[str], int]]] = {f: {} for f in FOLDERS}
        self.highest: dict[str, int] = dict.fromkeys(FOLDERS, 0)
        trio.run(self._setup)

    async def _setup(self) -> None:
        await self.store.create("Foo")
        for f in FOLDERS:
            self.boxes[f] = await self.store.open(f)

    def path(self, folder: str) -> Path:
        return self.root if folder == "INBOX" else self.root / f".{folder}"

    def teardown(self) -> None:
        trio.run(self.store.close)
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- maildird operations ---------------------------------------------------------------------

    @rule(folder=st.sampled_from(FOLDERS), flags=st.lists(FLAGS, min_size=1, max_size=3))
    def append(self, folder: str, flags: list[frozenset[str]]) -> None:
        cids = [next(_ids) for _ in flags]
        top = self.top[folder]
        msgs = [NewMessage(body(c), f) for c, f in zip(cids, flags, strict=True)]
        res = trio.run(self.boxes[folder].append, msgs)
        self._learn(folder)
        assert list(res.uids) == sorted(set(res.uids)) and res.uids[0] > top
        for uid, cid in zip(res.uids, cids, strict=True):
            assert self.model[folder].get(uid) == cid

    @rule(
        folder=st.sampled_from(FOLDERS),
        op=st.sampled_from(["add", "remove", "replace"]),
        flags=FLAGS,
        pick=st.integers(0, 5),
    )
    def store_flags(self, folder: str, op: str, flags: frozenset[str], pick: int) -> None:
        uids = sorted(self.model[folder])[pick:][:2]
        res = trio.run(self.boxes[folder].store_flags, uids, op, flags)
        assert {m.uid for m in res.changed} <= set(uids)
        for m in res.changed:
            if op == "add":
                assert flags <= m.flags
            elif op == "remove":
                assert not (flags & m.flags)
            else:
                assert m.flags == flags

    @rule(folder=st.sampled_from(FOLDERS))
    def expunge(self, folder: str) -> None:
        snap = trio.run(self.boxes[folder].snapshot)
        self._learn(folder, snap)
        deleted = {m.uid for m in snap.messages if "\\Deleted" in m.flags}
        gone = trio.run(self.boxes[folder].expunge)
        assert set(gone) <= deleted
        for uid in gone:
            self.model[folder].pop(uid, None)

    @rule(src=st.sampled_from(FOLDERS), pick=st.integers(0, 5), move=st.booleans())
    def copy(self, src: str, pick: int, move: bool) -> None:
        dst = FOLDERS[1 - FOLDERS.index(src)]
        uids = sorted(self.model[src])[pick:][:2]
        mb = self.boxes[src]
        res = trio.run(mb.move if move else mb.copy, uids, self.boxes[dst])
        self._learn(dst)
        for s_uid, d_uid in res.pairs:
            assert self.model[dst][d_uid] == self.model[src][s_uid]
        if move:
            for s_uid, _ in res.pairs:
                self.model[src].pop(s_uid)

    @rule()
    def rename_folder(self) -> None:
        """RENAME keeps UIDVALIDITY and UIDs (the uidlist moves with the directory); rename back."""

        async def go() -> None:
            before = await self.boxes["Foo"].snapshot()
            await self.boxes["Foo"].close()
            await self.store.rename("Foo", "Bar")
            bar = await self.store.open("Bar")
            moved = await bar.snapshot()
            assert moved.uidvalidity == before.uidvalidity
            assert [(m.uid, m.flags) for m in moved.messages] == [(m.uid, m.flags) for m in before.messages]
            await bar.close()
            await self.store.rename("Bar", "Foo")
            self.boxes["Foo"] = await self.store.open("Foo")

        trio.run(go)

    # -- the outside writer ----------------------------------------------------------------------

    @rule(folder=st.sampled_from(FOLDERS), link=st.booleans(), info=st.sampled_from(["", ":2,S", ":2,FT"]))
    def outside_deliver(self, folder: str, link: bool, info: str) -> None:
        cid = next(_ids)
        base = f"1700000000.M{cid}P99.outside"
        tmp = self.path(folder) / "tmp" / base
        tmp.write_bytes(body(cid))
        dest = self.path(folder) / ("cur" if info else "new") / (base + info)
        if link:
            os.link(tmp, dest)
            os.unlink(tmp)
        else:
            os.rename(tmp, dest)
        self.pending[folder].add(cid)

    def _files(self, folder: str) -> list[Path]:
        p = self.path(folder)
        return sorted(
            p / sub / n for sub in ("new", "cur") for n in os.listdir(p / sub) if not n.startswith(".")
        )

    @precondition(lambda self: any(self._files(f) for f in FOLDERS))
    @rule(
        folder=st.sampled_from(FOLDERS),
        pick=st.integers(0, 50),
        letters=st.sampled_from(["", "S", "FS", "T"]),
    )
    def outside_rename(self, folder: str, pick: int, letters: str) -> None:
        files = self._files(folder)
        if not files:
            return
        f = files[pick % len(files)]
        mn = parse_name(f.name)
        keep = "".join(c for c in mn.letters if c not in SYSTEM_LETTERS)
        new = f.parent.parent / "cur" / f"{mn.base}:2,{''.join(sorted(letters + keep))}"
        os.rename(f, new)

    @precondition(lambda self: any(self._files(f) for f in FOLDERS))
    @rule(folder=st.sampled_from(FOLDERS), pick=st.integers(0, 50))
    def outside_unlink(self, folder: str, pick: int) -> None:
        files = self._files(folder)
        if not files:
            return
        f = files[pick % len(files)]
        cid = cid_of(f.read_bytes())
        os.unlink(f)
        # Copies share a body id, so find the UID by base name (every file but pending outside
        # deliveries is known to the store after the last invariant check).
        uid = self.boxes[folder].folder.by_base.get(base_of(f.name))
        if uid is not None and uid in self.model[folder]:
            del self.model[folder][uid]
        else:
            self.pending[folder].discard(cid)

    # -- checking --------------------------------------------------------------------------------

    def _learn(self, folder: str, snap: object = None) -> None:
        """Take a snapshot; UIDs not in the model must be new (above every UID seen) and belong to
        messages we just appended/copied or the outside writer delivered."""
        mb = self.boxes[folder]
        s = snap or trio.run(mb.snapshot)
        uids = [m.uid for m in s.messages]  # type: ignore[attr-defined]
        assert uids == sorted(set(uids)), uids
        for uid in uids:
            if uid not in self.model[folder]:
                assert uid > self.top[folder], (folder, uid, self.top[folder])
                self.model[folder][uid] = cid_of(trio.run(mb.read_message, uid))
                self.pending[folder].discard(self.model[folder][uid])
        self.top[folder] = max([self.top[folder], *uids])

    @invariant()
    def consistent(self) -> None:
        for folder in FOLDERS:
            mb = self.boxes[folder]
            s = trio.run(mb.snapshot)
            self._learn(folder, s)
            assert {m.uid for m in s.messages} == set(self.model[folder])
            assert not self.pending[folder], self.pending[folder]
            for m in s.messages:
                assert cid_of(trio.run(mb.read_message, m.uid)) == self.model[folder][m.uid]
            files = self._files(folder)
            assert len(files) == len(s.messages)
            assert len({base_of(f.name) for f in files}) == len(files)
            kw = Keywords.load(self.path(folder))
            by_base = mb.folder.by_base
            reported = {m.uid: m.flags for m in s.messages}
            # Modseqs (RFC 7162 §3.1): a flag change raises the message's modseq; HIGHESTMODSEQ
            # covers every message and never goes down.
            assert s.highestmodseq >= max([self.highest[folder], *(m.modseq for m in s.messages)])
            self.highest[folder] = s.highestmodseq
            for m in s.messages:
                before = self.seen[folder].get(m.uid)
                if before is not None and before[0] != m.flags:
                    assert m.modseq > before[1], (m, before)
                self.seen[folder][m.uid] = (m.flags, m.modseq)
            for f in files:
                mn = parse_name(f.name)
                on_disk = mn.system_flags | {kw.by_index[ord(c) - ord("a")] for c in mn.keyword_letters}
                assert reported[by_base[mn.base]] == on_disk, (f.name, reported[by_base[mn.base]])


TestMaildirMachine = MaildirMachine.TestCase
TestMaildirMachine.settings = settings(
    max_examples=30,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
