"""SelectedView: sequence numbers, expunge numbering, held-back expunges, \\Recent, resolve (table-driven)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from maildird.imap.commands import SequenceSet
from maildird.store.base import Mailbox, MessageInfo, Snapshot
from maildird.store.view import BadSequence, SelectedView, UidValidityChanged

DATE = datetime(2026, 1, 1, tzinfo=UTC)
MAILBOX = cast(Mailbox, object())


def info(uid: int, flags: str = "", modseq: int = 1) -> MessageInfo:
    return MessageInfo(uid, frozenset(f for f in flags.split() if f), 100 + uid, DATE, modseq)


_VERSIONS = itertools.count(1)


def snap(
    uids: list[int] | list[MessageInfo],
    *,
    recent: set[int] = frozenset(),  # type: ignore[assignment]
    uidvalidity: int = 7,
    keywords: frozenset[str] = frozenset(),
    version: int | None = None,
) -> Snapshot:
    """A snapshot; each gets a new ``version`` (the store bumps it on every change) unless given."""
    msgs = tuple(u if isinstance(u, MessageInfo) else info(u) for u in uids)
    top = max((m.uid for m in msgs), default=0)
    return Snapshot(
        uidvalidity, top + 1, max((m.modseq for m in msgs), default=1), msgs, keywords, True,
        frozenset(recent), next(_VERSIONS) if version is None else version,
    )  # fmt: skip


def view(uids: list[int], **kw: Any) -> SelectedView:
    return SelectedView(MAILBOX, snap(uids), readonly=False, **kw)


def seqset(text: str) -> SequenceSet:
    """Parse ``1:3,5,7:*`` (test helper; the real parser lives in the grammar)."""
    if text == "$":
        return SequenceSet((), saved=True)
    ranges: list[tuple[int | None, int | None]] = []
    for part in text.split(","):
        lo, _, hi = part.partition(":")
        a = None if lo == "*" else int(lo)
        b = a if not hi else (None if hi == "*" else int(hi))
        ranges.append((a, b))
    return SequenceSet(tuple(ranges))


# --------------------------------------------------------------------------------------------------
# Expunge numbering: each emitted number must be right at the moment it is sent.

EXPUNGE_CASES = [
    # (before, after, expected EXPUNGE numbers in emission order)
    ([1, 2, 3, 4, 5], [1, 2, 3, 4, 5], []),
    ([1, 2, 3, 4, 5], [1, 2, 4, 5], [3]),
    ([1, 2, 3, 4, 5], [2, 4], [5, 3, 1]),
    ([1, 2, 3, 4, 5], [], [5, 4, 3, 2, 1]),
    ([3, 4, 7, 11, 12], [4, 12], [4, 3, 1]),
]


@pytest.mark.parametrize(("before", "after", "expected"), EXPUNGE_CASES)
def test_expunge_numbers_are_valid_when_emitted(
    before: list[int], after: list[int], expected: list[int]
) -> None:
    v = view(before)
    up = v.refresh(snap(after), allow_expunge=True)
    assert up.expunged == expected
    assert up.vanished == sorted(set(before) - set(after))
    # Replaying the EXPUNGEs against the client's list must give exactly the new state.
    client = list(before)
    for n in up.expunged:
        del client[n - 1]
    assert client == after == v.uids
    assert up.exists is None  # no arrivals


def test_expunge_and_new_mail_together() -> None:
    v = view([1, 2, 3])
    up = v.refresh(snap([1, 3, 4, 5]), allow_expunge=True)
    assert up.expunged == [2]
    assert up.exists == 4
    assert v.uids == [1, 3, 4, 5]
    assert v.seq_of(4) == 3 and v.seq_of(2) is None


# --------------------------------------------------------------------------------------------------
# Held-back expunges (RFC 9051 §7.5.1)


def test_held_back_expunge_keeps_numbers_and_freezes_flags() -> None:
    v = view([1, 2, 3])
    up = v.refresh(snap([info(1, "\\Seen", 2), info(3), info(4)]), allow_expunge=False)
    assert up.expunged == [] and up.vanished == []
    assert up.exists == 4  # new mail may still be announced, numbered after the held-back one
    assert v.uids == [1, 2, 3, 4]
    assert v.is_expunged(2) and not v.is_expunged(1)
    assert up.flags == [(1, info(1, "\\Seen", 2))]
    # The held-back message keeps its old flags even if a later snapshot still lacks it.
    up2 = v.refresh(snap([info(1, "\\Seen", 2), info(3), info(4)]), allow_expunge=False)
    assert not up2
    assert v.info(2) == info(2)
    # The next allowed refresh emits the pending EXPUNGE.
    up3 = v.refresh(snap([info(1, "\\Seen", 2), info(3), info(4)]), allow_expunge=True)
    assert up3.expunged == [2] and up3.vanished == [2]
    assert v.uids == [1, 3, 4]
    assert up3.exists is None


def test_held_back_resolves_still() -> None:
    v = view([1, 2, 3])
    v.refresh(snap([1, 3]), allow_expunge=False)
    assert [s for s, _ in v.resolve(seqset("1:*"), uid=False)] == [1, 2, 3]
    assert [m.uid for _, m in v.resolve(seqset("2"), uid=True)] == [2]


def test_held_back_then_reappears_is_not_expunged() -> None:
    """A message missing in one snapshot (held back) that the store has again later keeps living?

    No: once a store reports a UID gone it is gone for good (UIDs are never reused), so the view
    still emits the EXPUNGE even if the UID shows up again; the store never does that, but the view
    must not resurrect a frozen message silently."""
    v = view([1, 2])
    v.refresh(snap([1]), allow_expunge=False)
    up = v.refresh(snap([1, 2]), allow_expunge=True)
    assert up.expunged == [2]


# --------------------------------------------------------------------------------------------------
# Flags / modseq updates


FLAG_CASES = [
    # (before infos, after infos, expected (seq, uid, flags) updates)
    ([info(1), info(2)], [info(1), info(2)], []),
    ([info(1), info(2)], [info(1), info(2, "\\Seen", 2)], [(2, 2, "\\Seen")]),
    ([info(1), info(2)], [info(1, "", 3), info(2)], [(1, 1, "")]),  # modseq-only change
    # 2 is held back (allow_expunge=False), so 3 keeps number 3
    (
        [info(1), info(2), info(3)],
        [info(1, "\\Flagged", 2), info(3, "$Junk", 2)],
        [(1, 1, "\\Flagged"), (3, 3, "$Junk")],
    ),
]


@pytest.mark.parametrize(("before", "after", "expected"), FLAG_CASES)
def test_flag_updates(
    before: list[MessageInfo], after: list[MessageInfo], expected: list[tuple[int, int, str]]
) -> None:
    v = SelectedView(MAILBOX, snap(before), readonly=False)
    up = v.refresh(snap(after), allow_expunge=False)
    got = [(seq, m.uid, " ".join(sorted(m.flags))) for seq, m in up.flags]
    assert got == expected


def test_flag_update_numbers_after_expunge() -> None:
    v = view([1, 2, 3])
    up = v.refresh(snap([info(1), info(3, "\\Seen", 5)]), allow_expunge=True)
    assert up.expunged == [2]
    assert [(s, m.uid) for s, m in up.flags] == [(2, 3)]


def test_note_changes_suppresses_own_store_echo() -> None:
    v = view([1, 2])
    v.note_changes([info(2, "\\Seen", 9)])
    up = v.refresh(snap([info(1), info(2, "\\Seen", 9)]), allow_expunge=True)
    assert up.flags == []


def test_keywords_change_reported_once() -> None:
    v = view([1])
    up = v.refresh(snap([1], keywords=frozenset({"$Junk"})), allow_expunge=True)
    assert up.keywords == frozenset({"$Junk"})
    assert v.refresh(snap([1], keywords=frozenset({"$Junk"})), allow_expunge=True).keywords is None


def test_uidvalidity_change_raises() -> None:
    v = view([1])
    with pytest.raises(UidValidityChanged):
        v.refresh(snap([1], uidvalidity=8), allow_expunge=True)


def test_lower_unknown_uid_is_ignored() -> None:
    v = view([1, 5])
    up = v.refresh(snap([1, 3, 5, 6]), allow_expunge=True)
    assert v.uids == [1, 5, 6]
    assert up.exists == 3


# --------------------------------------------------------------------------------------------------
# \Recent ownership


def test_recent_only_from_own_claims() -> None:
    v = SelectedView(MAILBOX, snap([1, 2], recent={2}), readonly=False)
    assert v.is_recent(2) and not v.is_recent(1)
    assert v.recent_count == 1
    # Another session claimed 3 (this snapshot did not): 3 is not recent here.
    up = v.refresh(snap([1, 2, 3]), allow_expunge=True)
    assert up.exists == 3 and up.recent == 1
    assert not v.is_recent(3)
    # This view's own claiming snapshot makes 4 recent.
    up = v.refresh(snap([1, 2, 3, 4], recent={4}), allow_expunge=True)
    assert up.exists == 4 and up.recent == 2
    assert v.is_recent(4)
    # Expunging a recent message drops it from the count.
    v.refresh(snap([1, 3, 4]), allow_expunge=True)
    assert v.recent_count == 1


def test_constructor_recent_argument() -> None:
    v = view([1, 2, 3], recent=frozenset({1, 3, 99}))
    assert [v.is_recent(u) for u in (1, 2, 3, 99)] == [True, False, True, False]


# --------------------------------------------------------------------------------------------------
# resolve


RESOLVE_CASES = [
    # (uids in the view, set, uid?, expected UIDs) ; None = BadSequence
    ([10, 20, 30], "1", False, [10]),
    ([10, 20, 30], "1:*", False, [10, 20, 30]),
    ([10, 20, 30], "*", False, [30]),
    ([10, 20, 30], "3:1", False, [10, 20, 30]),
    ([10, 20, 30], "*:2", False, [20, 30]),
    ([10, 20, 30], "2,2,1", False, [10, 20]),
    ([10, 20, 30], "4", False, None),
    ([10, 20, 30], "2:4", False, None),
    ([], "1:*", False, None),
    ([], "*", False, None),
    ([10, 20, 30], "10", True, [10]),
    ([10, 20, 30], "11:19", True, []),
    ([10, 20, 30], "15:*", True, [20, 30]),
    ([10, 20, 30], "40:*", True, [30]),  # n:* with n past the largest still matches the largest
    ([10, 20, 30], "*", True, [30]),
    ([10, 20, 30], "1:4294967295", True, [10, 20, 30]),
    ([10, 20, 30], "99", True, []),
    ([], "1:*", True, []),
    ([], "*", True, []),
]


@pytest.mark.parametrize(("uids", "text", "uid", "expected"), RESOLVE_CASES)
def test_resolve(uids: list[int], text: str, uid: bool, expected: list[int] | None) -> None:
    v = view(uids)
    if expected is None:
        with pytest.raises(BadSequence):
            v.resolve(seqset(text), uid=uid)
        return
    got = v.resolve(seqset(text), uid=uid)
    assert [m.uid for _, m in got] == expected
    assert [s for s, _ in got] == [uids.index(u) + 1 for u in expected]


def test_uid_at_and_seq_of() -> None:
    v = view([4, 8])
    assert v.uid_at(2) == 8
    assert v.seq_of(8) == 2 and v.seq_of(5) is None
    with pytest.raises(BadSequence):
        v.uid_at(3)
    with pytest.raises(BadSequence):
        v.uid_at(0)


def test_searchres_saved_set() -> None:
    v = view([1, 2, 3, 4])
    v.saved = [2, 4, 99]
    assert [(s, m.uid) for s, m in v.resolve(seqset("$"), uid=False)] == [(2, 2), (4, 4)]
    v.refresh(snap([1, 3, 4]), allow_expunge=True)
    assert v.saved == [4, 99]  # the expunged 2 leaves the result variable (RFC 5182 §2.1)
    assert [(s, m.uid) for s, m in v.resolve(seqset("$"), uid=True)] == [(3, 4)]


def test_an_unchanged_version_is_a_no_op_refresh() -> None:
    """Snapshot.version grows with every change, so the same version means nothing to report (the
    flush after every command and NOOP stay O(1)); a new version is diffed in full."""
    v = view([1, 2, 3])
    same = snap([1, 2, 3, 4], version=v.snapshot.version)  # contents ignored: the version says unchanged
    assert not v.refresh(same, allow_expunge=True)
    assert v.exists == 3
    assert v.refresh(snap([1, 2, 3, 4]), allow_expunge=True).exists == 4


def test_same_version_still_releases_held_back_expunges() -> None:
    v = view([1, 2, 3])
    later = snap([1, 3])
    assert not v.refresh(later, allow_expunge=False).expunged  # held back during FETCH
    again = snap([1, 3], version=later.version)
    assert v.refresh(again, allow_expunge=True).expunged == [2]
