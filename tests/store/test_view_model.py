"""SelectedView against a simple reference model (a hypothesis state machine).

The reference is the straightforward view the sharing one replaced: its own sorted UID list and
``{uid: info}`` map per session, the whole snapshot diffed on every change. A model store hands out
snapshots the way the Maildir store does (one ``messages`` tuple per version, an unchanged message
keeps its ``MessageInfo`` object), and several sessions refresh, STORE (``note_changes``), claim
\\Recent, hold expunges back and resolve sequence sets in random order. After every step each view
must answer every question exactly as its reference does, and a view that shows exactly the
snapshot's messages must be sharing the snapshot's run.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from maildird.imap.commands import SequenceSet
from maildird.store.base import Mailbox, MessageInfo, Snapshot
from maildird.store.view import BadSequence, SelectedView, UidValidityChanged, Updates

DATE = datetime(2026, 1, 1, tzinfo=UTC)
MAILBOX = cast(Mailbox, object())
FLAGS = st.frozensets(st.sampled_from(["\\Seen", "\\Flagged", "\\Deleted", "$Junk"]), max_size=2)
SESSIONS = 3


class ReferenceView:
    """The model: per-session list and dict, a full diff per refresh (same contract as SelectedView)."""

    def __init__(self, snapshot: Snapshot, *, recent: frozenset[int] = frozenset()) -> None:
        self.snapshot = snapshot
        self.uids = [m.uid for m in snapshot.messages]
        self.infos = {m.uid: m for m in snapshot.messages}
        self.gone: set[int] = set()
        self.recent = set((recent | snapshot.recent) & self.infos.keys())
        self.keywords = snapshot.keywords
        self.saved: list[int] = []

    def seq_of(self, uid: int) -> int | None:
        i = bisect.bisect_left(self.uids, uid)
        return i + 1 if i < len(self.uids) and self.uids[i] == uid else None

    def resolve(self, seqset: SequenceSet, *, uid: bool) -> list[tuple[int, MessageInfo]]:
        if seqset.saved:
            wanted = set(self.saved)
            return [(i + 1, self.infos[u]) for i, u in enumerate(self.uids) if u in wanted]
        if uid:
            largest = self.uids[-1] if self.uids else 0
            return [(cast(int, self.seq_of(u)), self.infos[u]) for u in seqset.iter_in(self.uids, largest)]
        count = len(self.uids)
        if count == 0:
            raise BadSequence("no messages")
        chosen: set[int] = set()
        for low, high in seqset.resolve(count):
            if high > count:
                raise BadSequence("past EXISTS")
            chosen.update(range(max(low, 1), high + 1))
        return [(seq, self.infos[self.uids[seq - 1]]) for seq in sorted(chosen)]

    def note_changes(self, infos: Iterable[MessageInfo]) -> None:
        for info in infos:
            if info.uid in self.infos and info.uid not in self.gone:
                self.infos[info.uid] = info

    def refresh(self, snapshot: Snapshot, *, allow_expunge: bool) -> Updates:
        if snapshot.uidvalidity != self.snapshot.uidvalidity:
            raise UidValidityChanged(self.snapshot.uidvalidity, snapshot.uidvalidity)
        if (
            snapshot.version == self.snapshot.version
            and snapshot.recent <= self.recent
            and not (allow_expunge and self.gone)
        ):
            self.snapshot = snapshot
            return Updates()
        current = {m.uid: m for m in snapshot.messages}
        self.snapshot = snapshot
        self.gone.update(u for u in self.uids if u not in current)
        expunged: list[int] = []
        vanished: list[int] = []
        if allow_expunge and self.gone:
            for i, u in enumerate(self.uids):
                if u in self.gone:
                    expunged.append(i + 1)
                    vanished.append(u)
                    del self.infos[u]
            expunged.reverse()
            self.uids = [u for u in self.uids if u not in self.gone]
            self.recent.difference_update(vanished)
            self.saved = [u for u in self.saved if u not in self.gone]
            self.gone.clear()
        last = self.uids[-1] if self.uids else 0
        new = [m for m in snapshot.messages if m.uid > last]
        recent_before = len(self.recent)
        self.recent.update(u for u in snapshot.recent if u in current and u not in self.gone)
        known = len(self.uids)
        for m in new:
            self.uids.append(m.uid)
            self.infos[m.uid] = m
        exists = len(self.uids) if new else None
        recent = len(self.recent) if new or len(self.recent) > recent_before else None
        flags: list[tuple[int, MessageInfo]] = []
        for i in range(known):
            u = self.uids[i]
            if u in self.gone:
                continue
            now, before = current[u], self.infos[u]
            if now.flags != before.flags or now.modseq != before.modseq:
                self.infos[u] = now
                flags.append((i + 1, now))
        keywords = None
        if snapshot.keywords != self.keywords:
            keywords = self.keywords = snapshot.keywords
        return Updates(expunged, vanished, exists, recent, flags, keywords)


@dataclass
class ModelStore:
    """Snapshots as the Maildir store makes them: one tuple per version, unchanged infos kept."""

    infos: dict[int, MessageInfo]
    next_uid: int = 1
    modseq: int = 1
    version: int = 1
    keywords: frozenset[str] = frozenset()
    _cache: tuple[int, tuple[MessageInfo, ...]] | None = None

    def snapshot(self, recent: frozenset[int] = frozenset()) -> Snapshot:
        if self._cache is None or self._cache[0] != self.version:
            self._cache = (self.version, tuple(self.infos[u] for u in sorted(self.infos)))
        messages = self._cache[1]
        return Snapshot(7, self.next_uid, self.modseq, messages, self.keywords, True, recent, self.version)


def seqsets() -> st.SearchStrategy[SequenceSet]:
    number = st.one_of(st.none(), st.integers(1, 40))
    ranges = st.lists(st.tuples(number, number), min_size=1, max_size=4)
    return st.one_of(
        ranges.map(lambda r: SequenceSet(tuple(r))),
        st.just(SequenceSet((), saved=True)),
    )


class ViewMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.store = ModelStore({})
        self.holes: list[int] = []  # UIDs skipped at delivery: a buggy store may show them later
        self.views: list[tuple[SelectedView, ReferenceView]] = []
        self._ids = itertools.count(1)

    def _bump(self) -> int:
        self.store.version += 1
        self.store.modseq += 1
        return self.store.modseq

    @rule(count=st.integers(1, 4), skip=st.booleans())
    def deliver(self, count: int, skip: bool) -> None:
        modseq = self._bump()
        for _ in range(count):
            if skip:
                self.holes.append(self.store.next_uid)
                self.store.next_uid += 1
            uid = self.store.next_uid
            self.store.next_uid += 1
            self.store.infos[uid] = MessageInfo(uid, frozenset(), 100 + uid, DATE, modseq)

    @precondition(lambda self: self.holes)
    @rule(data=st.data())
    def show_lower_uid(self, data: st.DataObject) -> None:
        """The defensive case: a UID below ones the clients know appears (views ignore it)."""
        uid = self.holes.pop(data.draw(st.integers(0, len(self.holes) - 1)))
        self.store.infos[uid] = MessageInfo(uid, frozenset(), 100 + uid, DATE, self._bump())

    @precondition(lambda self: self.store.infos)
    @rule(data=st.data())
    def expunge(self, data: st.DataObject) -> None:
        uids = data.draw(st.lists(st.sampled_from(sorted(self.store.infos)), min_size=1, unique=True))
        self._bump()
        for u in uids:
            del self.store.infos[u]

    def _set_flags(self, data: st.DataObject) -> list[MessageInfo]:
        uids = data.draw(st.lists(st.sampled_from(sorted(self.store.infos)), min_size=1, unique=True))
        flags = data.draw(FLAGS)
        modseq = self._bump()
        changed = []
        for u in uids:
            self.store.infos[u] = info = replace(self.store.infos[u], flags=flags, modseq=modseq)
            changed.append(info)
        return changed

    @precondition(lambda self: self.store.infos)
    @rule(data=st.data())
    def other_writer_sets_flags(self, data: st.DataObject) -> None:
        self._set_flags(data)

    @precondition(lambda self: self.store.infos and self.views)
    @rule(data=st.data(), echo_differs=st.booleans())
    def session_stores_flags(self, data: st.DataObject, echo_differs: bool) -> None:
        """A session's own STORE: the store changes, the session notes what it reported."""
        k = data.draw(st.integers(0, len(self.views) - 1))
        changed = self._set_flags(data)
        if echo_differs:  # the reported info is an equal copy, not the store's object
            changed = [replace(m) for m in changed]
        for view, ref in [self.views[k]]:
            view.note_changes(changed)
            ref.note_changes(changed)

    @precondition(lambda self: self.store.infos)
    @rule(data=st.data())
    def other_fields_change(self, data: st.DataObject) -> None:
        """An info changes in a field the view does not report (size): views keep what they had."""
        u = data.draw(st.sampled_from(sorted(self.store.infos)))
        self.store.version += 1
        m = self.store.infos[u]
        self.store.infos[u] = replace(m, size=m.size + 1, internaldate=m.internaldate + timedelta(1))

    @rule()
    def rebuild_every_info(self) -> None:
        """The store rebuilds every MessageInfo as an equal new object (a keyword file reread)."""
        self.store.version += 1
        self.store.infos = {u: replace(m) for u, m in self.store.infos.items()}

    @rule(word=st.sampled_from(["$Junk", "Work"]))
    def keywords_change(self, word: str) -> None:
        self.store.version += 1
        self.store.keywords = self.store.keywords ^ {word}

    @precondition(lambda self: len(self.views) < SESSIONS)
    @rule(data=st.data())
    def select(self, data: st.DataObject) -> None:
        claim = frozenset(data.draw(st.sets(st.sampled_from(sorted(self.store.infos) or [1]))))
        extra = frozenset(data.draw(st.sets(st.integers(1, 40), max_size=2)))
        snap = self.store.snapshot(claim & self.store.infos.keys())
        self.views.append(
            (
                SelectedView(MAILBOX, snap, readonly=False, recent=extra),
                ReferenceView(snap, recent=extra),
            )
        )

    @precondition(lambda self: self.views)
    @rule(data=st.data(), allow_expunge=st.booleans(), claim=st.booleans())
    def refresh(self, data: st.DataObject, allow_expunge: bool, claim: bool) -> None:
        k = data.draw(st.integers(0, len(self.views) - 1))
        recent: frozenset[int] = frozenset()
        if claim and self.store.infos:
            recent = frozenset(data.draw(st.sets(st.sampled_from(sorted(self.store.infos)), max_size=3)))
        snap = self.store.snapshot(recent)
        view, ref = self.views[k]
        expected = ref.refresh(snap, allow_expunge=allow_expunge)
        assert view.refresh(snap, allow_expunge=allow_expunge) == expected

    @precondition(lambda self: self.views)
    @rule(data=st.data(), seqset=seqsets(), uid=st.booleans())
    def resolve(self, data: st.DataObject, seqset: SequenceSet, uid: bool) -> None:
        view, ref = self.views[data.draw(st.integers(0, len(self.views) - 1))]
        try:
            expected = ref.resolve(seqset, uid=uid)
        except BadSequence:
            try:
                view.resolve(seqset, uid=uid)
            except BadSequence:
                return
            raise AssertionError("the view resolved what the reference refused") from None
        assert view.resolve(seqset, uid=uid) == expected

    @precondition(lambda self: self.views)
    @rule(data=st.data(), saved=st.lists(st.integers(1, 40), max_size=5))
    def save(self, data: st.DataObject, saved: list[int]) -> None:
        view, ref = self.views[data.draw(st.integers(0, len(self.views) - 1))]
        view.saved = list(saved)
        ref.saved = list(saved)

    @invariant()
    def views_match_their_reference(self) -> None:
        for view, ref in self.views:
            assert view.uids == ref.uids
            assert view.exists == len(ref.uids)
            assert view.messages == [ref.infos[u] for u in ref.uids]
            assert view.snapshot is ref.snapshot
            assert view.recent_count == len(ref.recent)
            assert view.saved == ref.saved
            for seq, u in enumerate(ref.uids, 1):
                assert view.uid_at(seq) == u
            for u in range(0, self.store.next_uid + 2):
                assert view.seq_of(u) == ref.seq_of(u)
                assert view.info(u) == ref.infos.get(u)
                assert view.is_recent(u) == (u in ref.recent)
                assert view.is_expunged(u) == (u in ref.gone)

    @invariant()
    def in_sync_views_share_the_snapshot(self) -> None:
        for view, ref in self.views:
            shows = [m.uid for m in view.snapshot.messages]
            if not ref.gone and ref.uids == shows:
                assert view._run.infos is view.snapshot.messages
                assert view._run.uids == shows


ViewMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)
test_view_matches_reference_model = ViewMachine.TestCase


def _told_case(noted: int, echo: str) -> tuple[list[Updates], list[list[MessageInfo]]]:
    """20 messages; this session STOREs ``noted`` of them; then the store reports them (and others)."""
    store = ModelStore({u: MessageInfo(u, frozenset(), 100 + u, DATE, 1) for u in range(1, 21)}, 21, 1)
    first = store.snapshot()
    view, ref = SelectedView(MAILBOX, first, readonly=False), ReferenceView(first)
    store.version, store.modseq = 2, 2
    changed = []
    for u in range(1, noted + 1):
        store.infos[u] = m = replace(store.infos[u], flags=frozenset({"\\Seen"}), modseq=2)
        changed.append(
            {"same": m, "copy": replace(m), "stale": replace(m, modseq=1), "size": replace(m, size=1)}[echo]
        )
    store.infos[20] = replace(store.infos[20], flags=frozenset({"\\Flagged"}), modseq=2)  # another's STORE
    store.infos[19] = replace(store.infos[19], size=7)  # a field the view does not report
    view.note_changes(changed)
    ref.note_changes(changed)
    out = [
        view.refresh(store.snapshot(), allow_expunge=True),
        ref.refresh(store.snapshot(), allow_expunge=True),
    ]
    return out, [view.messages, [ref.infos[u] for u in ref.uids]]


@pytest.mark.parametrize("echo", ["same", "copy", "stale", "size"])
@pytest.mark.parametrize("noted", [1, 2, 18])  # few: looked up one by one; many: one walk over all
def test_own_store_echo_matches_reference(noted: int, echo: str) -> None:
    (got, expected), (messages, ref_messages) = _told_case(noted, echo)
    assert got == expected
    assert messages == ref_messages  # sizes included: a view keeps what it had for unreported fields
