"""SEARCH keys that need no message, over a whole mailbox at once (RFC 9051 §6.4.4).

Theory of operation
-------------------
A SEARCH like ``UNSEEN SINCE 1-Apr-2023 FROM x`` first narrows ten thousand messages down with the keys
that the snapshot answers (flags, sets, sizes, dates, modseqs). Building a ``search.SearchContext`` per
message for that cost more than the whole answer may take, so each such key becomes one function of
(sequence number, snapshot info) (``snapshot_test``), and ``snapshot_filter`` runs them as list
comprehensions, flag keys first and a system flag without any call per message. The functions give
what ``search.matches`` gives for the same message (tests/message/test_search_fast.py holds them
together).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from maildird.imap.commands import (
    SearchAll,
    SearchAnd,
    SearchDate,
    SearchFlag,
    SearchKey,
    SearchModSeq,
    SearchNot,
    SearchOr,
    SearchSet,
    SearchSize,
    SearchWithin,
)
from maildird.message.search import RECENT, needs_message


class Info(Protocol):
    """What a snapshot knows of a message (``store.base.MessageInfo`` has these)."""

    @property
    def uid(self) -> int: ...
    @property
    def flags(self) -> frozenset[str]: ...
    @property
    def size(self) -> int: ...
    @property
    def internaldate(self) -> datetime: ...
    @property
    def modseq(self) -> int: ...


SnapshotTest = Callable[[int, Info], bool]
"""A key that needs no message content, as a test of (sequence number, snapshot info)."""


@dataclass(frozen=True, slots=True)
class Mailbox:
    """What ``snapshot_test`` needs besides each message: the ``*`` values, ``$``, the clock, \\Recent."""

    largest_seq: int
    largest_uid: int
    saved: frozenset[int]
    now: datetime
    recent: Callable[[int], bool]


def snapshot_test(key: SearchKey, box: Mailbox) -> SnapshotTest:
    """``key`` (which must not need the message: ``needs_message`` is False) as one function, so a
    SEARCH can filter ten thousand messages with a comprehension instead of a ``SearchContext`` each.
    Gives exactly what ``matches`` gives for the same message (tests/message/test_search_fast.py)."""
    if isinstance(key, SearchAll):
        return lambda s, i: True
    if isinstance(key, SearchFlag):
        return _flag_test(key.flag, key.present, box)
    if isinstance(key, SearchSize):
        n = key.size
        return (lambda s, i: i.size > n) if key.larger else (lambda s, i: i.size < n)
    if isinstance(key, SearchSet):
        seqset = key.set
        if seqset.saved:
            saved = box.saved
            return lambda s, i: i.uid in saved
        if key.uid:
            largest_uid = box.largest_uid
            return lambda s, i: seqset.contains(i.uid, largest_uid)
        largest_seq = box.largest_seq
        return lambda s, i: seqset.contains(s, largest_seq)
    if isinstance(key, SearchModSeq):
        m = key.modseq
        return lambda s, i: i.modseq >= m
    if isinstance(key, SearchWithin):
        limit = box.now - timedelta(seconds=key.seconds)
        return (lambda s, i: i.internaldate <= limit) if key.older else (lambda s, i: i.internaldate > limit)
    if isinstance(key, SearchDate) and not key.sent:
        when = key.when
        if key.op == "before":
            return lambda s, i: i.internaldate.date() < when
        if key.op == "on":
            return lambda s, i: i.internaldate.date() == when
        return lambda s, i: i.internaldate.date() >= when
    if isinstance(key, SearchNot):
        inner = snapshot_test(key.key, box)
        return lambda s, i: not inner(s, i)
    if isinstance(key, SearchOr):
        left, right = snapshot_test(key.left, box), snapshot_test(key.right, box)
        return lambda s, i: left(s, i) or right(s, i)
    if isinstance(key, SearchAnd):
        tests = tuple(snapshot_test(k, box) for k in key.keys)
        return lambda s, i: all(t(s, i) for t in tests)
    raise ValueError(f"{type(key).__name__} needs the message, not only the snapshot")


def _flag_test(flag: str, present: bool, box: Mailbox) -> SnapshotTest:
    """``_has_flag`` as a test."""
    if flag == RECENT:
        recent = box.recent
        return (lambda s, i: recent(i.uid)) if present else (lambda s, i: not recent(i.uid))
    if flag.startswith("\\"):
        return (lambda s, i: flag in i.flags) if present else (lambda s, i: flag not in i.flags)
    folded = flag.casefold()

    def keyword(s: int, i: Info) -> bool:
        return (flag in i.flags or any(f.casefold() == folded for f in i.flags)) == present

    return keyword


def conjuncts(key: SearchKey) -> list[SearchKey]:
    """The keys of a top-level AND (nested ANDs flattened), or ``[key]``."""
    if isinstance(key, SearchAnd):
        return [k for sub in key.keys for k in conjuncts(sub)]
    return [key]


def content_only(key: SearchKey) -> bool:
    """True when every leaf of ``key`` needs the message: ``prefilter`` can decide nothing then."""
    if isinstance(key, SearchNot):
        return content_only(key.key)
    if isinstance(key, SearchOr):
        return content_only(key.left) and content_only(key.right)
    if isinstance(key, SearchAnd):
        return all(content_only(k) for k in key.keys)
    return needs_message(key)


InfoT = TypeVar("InfoT", bound=Info)


def snapshot_filter(
    keys: list[SearchKey], box: Mailbox, messages: Sequence[InfoT]
) -> list[tuple[int, InfoT]]:
    """``(sequence number, info)`` of the ``messages`` (in sequence order) that pass every key of
    ``keys`` (none of which needs the message). Flag keys go first, as one comprehension each without a
    call per message: ``UNSEEN`` leaves a tenth of a mailbox for the keys after it."""
    ordered = sorted(keys, key=lambda k: not isinstance(k, SearchFlag))
    if not ordered:
        return list(enumerate(messages, 1))
    out: list[tuple[int, InfoT]] | None = None
    for key in ordered:
        source = enumerate(messages, 1) if out is None else out
        if isinstance(key, SearchFlag) and key.flag != RECENT and key.flag.startswith("\\"):
            flag = key.flag
            if key.present:
                out = [m for m in source if flag in m[1].flags]
            else:
                out = [m for m in source if flag not in m[1].flags]
        else:
            test = snapshot_test(key, box)
            out = [m for m in source if test(m[0], m[1])]
    assert out is not None
    return out
