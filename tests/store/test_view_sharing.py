"""SelectedView sharing: views of one snapshot share its run; each session's own state stays its own."""

from __future__ import annotations

import gc
import tracemalloc
from dataclasses import replace

from maildird.store import view as view_module
from maildird.store.view import SelectedView
from tests.store.test_view import MAILBOX, info, seqset, snap

MESSAGES = 10_000
SESSIONS = 200
PER_VIEW_BUDGET = 2_048
"""Bytes a view of an unchanged 10,000-message folder may cost (issue 8: < 100 KB per connection);
a view with its own copy of the map costs about 400 KB."""


def test_views_of_one_snapshot_share_one_run() -> None:
    s = snap([1, 2, 3])
    a = SelectedView(MAILBOX, s, readonly=False)
    b = SelectedView(MAILBOX, s, readonly=True)
    assert a._run is b._run
    assert a._run.infos is s.messages
    s2 = snap([1, 2, 3, 4])
    a.refresh(s2, allow_expunge=True)
    b.refresh(s2, allow_expunge=True)
    assert a._run is b._run and a._run.infos is s2.messages


def test_flag_diff_is_computed_once_for_every_view() -> None:
    s1 = snap([1, 2, 3])
    views = [SelectedView(MAILBOX, s1, readonly=False) for _ in range(3)]
    s2 = snap([info(1), info(2, "\\Seen", 2), info(3)])
    run1 = views[0]._run
    first = views[0].refresh(s2, allow_expunge=True)
    cached = run1._step
    assert cached is not None and cached[0]() is views[0]._run
    for v in views[1:]:
        assert v.refresh(s2, allow_expunge=True) == first
        assert v._run is views[0]._run
    assert run1._step is cached
    assert [(seq, m.uid) for seq, m in first.flags] == [(2, 2)]


def test_held_back_expunge_stays_in_its_session() -> None:
    s1 = snap([1, 2, 3])
    a = SelectedView(MAILBOX, s1, readonly=False)
    b = SelectedView(MAILBOX, s1, readonly=False)
    s2 = snap([1, 3])
    assert a.refresh(s2, allow_expunge=False).expunged == []  # a is in a FETCH: held back
    assert b.refresh(s2, allow_expunge=True).expunged == [2]
    assert a.exists == 3 and a.is_expunged(2) and a.uid_at(2) == 2 and a.info(2) == info(2)
    assert b.exists == 2 and not b.is_expunged(2) and b.uid_at(2) == 3 and b.info(2) is None
    assert [m.uid for _, m in a.resolve(seqset("1:*"), uid=False)] == [1, 2, 3]
    assert [m.uid for _, m in b.resolve(seqset("1:*"), uid=False)] == [1, 3]
    # A third session selecting now shares with b, not with a's private run.
    c = SelectedView(MAILBOX, s2, readonly=False)
    assert c._run is b._run and a._run is not b._run
    # Once a sends its EXPUNGE, it shares again.
    assert a.refresh(s2, allow_expunge=True).expunged == [2]
    assert a._run is b._run


def test_own_store_echo_and_recent_stay_in_their_session() -> None:
    s1 = snap([1, 2, 3], recent={3})
    a = SelectedView(MAILBOX, s1, readonly=False, recent=s1.recent)
    b = SelectedView(MAILBOX, replace(s1, recent=frozenset()), readonly=False)
    assert a.is_recent(3) and not b.is_recent(3)
    a.note_changes([info(2, "\\Seen", 5)])
    assert a.info(2) == info(2, "\\Seen", 5) and a.messages[1] == info(2, "\\Seen", 5)
    assert b.info(2) == info(2) and b.messages[1] == info(2)
    assert a._run is b._run
    s2 = snap([info(1), info(2, "\\Seen", 5), info(3)])
    assert a.refresh(s2, allow_expunge=True).flags == []  # already told by its own STORE
    assert [(seq, m.uid) for seq, m in b.refresh(s2, allow_expunge=True).flags] == [(2, 2)]
    assert a._told == {} and a._run is b._run


def test_a_run_goes_with_the_last_view_using_it() -> None:
    s = snap(list(range(1, 50)))
    key = id(s.messages)
    v = SelectedView(MAILBOX, s, readonly=False)
    assert key in view_module._SHARED
    v.refresh(snap(list(range(1, 51))), allow_expunge=True)
    del s
    gc.collect()
    assert key not in view_module._SHARED


def test_many_views_of_one_folder_cost_little_each() -> None:
    s = snap(list(range(1, MESSAGES + 1)))
    SelectedView(MAILBOX, s, readonly=False)  # builds the shared run, once
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        views = [SelectedView(MAILBOX, s, readonly=False) for _ in range(SESSIONS)]
        for v in views:
            v.refresh(s, allow_expunge=True)
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(views) == SESSIONS
    assert used / SESSIONS < PER_VIEW_BUDGET, used / SESSIONS


def test_a_session_left_behind_does_not_keep_later_runs_alive() -> None:
    """A silent session stays on its old run; the runs that others moved through must still go."""
    s1 = snap([1, 2])
    behind = SelectedView(MAILBOX, s1, readonly=False)
    moving = SelectedView(MAILBOX, s1, readonly=False)
    s2 = snap([1, 2, 3])
    moving.refresh(s2, allow_expunge=True)
    key = id(s2.messages)
    moving.refresh(snap([1, 2, 3, 4]), allow_expunge=True)
    del s2
    gc.collect()
    assert key not in view_module._SHARED
    assert behind.refresh(snap([1, 2, 3, 4, 5]), allow_expunge=True).exists == 5
