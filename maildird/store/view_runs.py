"""Runs: the messages a selected view shows, shared between views of the same snapshot.

Theory of operation
-------------------
A thousand idle sessions on one 10,000-message folder must not hold a thousand copies of its map.
A ``Run`` is a view's messages in UID order (the infos plus their UIDs, for bisection); it is never
mutated once built. ``shared_run(snapshot.messages)`` gives the one run of that very
``Snapshot.messages`` tuple: built once, kept in ``SHARED_RUNS`` (weak values, keyed by the tuple's
id) while some view uses it, and dropped with the last one. A run holds its tuple, so the id cannot
be reused while its entry lives; a stale entry (another tuple at a reused id) is detected by
identity and replaced.

``Run.step_to(new)`` is the diff between two runs when no message went away (the old UIDs are a
prefix of the new): the positions whose flags or modseq changed, and those that changed in other
fields only. A run remembers its last answer (the successor held weakly, so a session that stays
behind does not keep every later run alive), so every view making the same step from one shared
run to the next computes it once.

What a view holds of its own (its ``told`` infos, held-back expunges, private runs) is in
``maildird.store.view``. There is no I/O here.
"""

from __future__ import annotations

import bisect
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

from maildird.store.base import MessageInfo

__all__ = ["SHARED_RUNS", "Run", "Step", "shared_run"]


@dataclass(frozen=True, slots=True)
class Step:
    """What changes from a run to a successor whose UIDs begin with the run's UIDs (no expunges):
    positions (0-based) whose flags or modseq differ (``changed``: to report), and positions whose
    info differs in other fields only (``other``: a view keeps the info it had, as it reports
    flag and modseq changes only)."""

    changed: list[int]
    other: list[int]


class Run:
    """Messages in UID order with their UIDs (for bisection). Never mutated once built."""

    __slots__ = ("__weakref__", "_step", "infos", "uids")

    def __init__(self, infos: Sequence[MessageInfo], uids: list[int] | None = None) -> None:
        self.infos = infos
        self.uids: list[int] = [m.uid for m in infos] if uids is None else uids
        self._step: tuple[weakref.ref[Run], Step | None] | None = None
        """The last ``step_to`` answer: every view moving between the same two runs reuses it. The
        successor is held weakly: a session that stays behind must not keep every later run alive."""

    def index(self, uid: int) -> int | None:
        """The 0-based position of ``uid``, or None."""
        uids = self.uids
        i = bisect.bisect_left(uids, uid)
        return i if i < len(uids) and uids[i] == uid else None

    def step_to(self, new: Run) -> Step | None:
        """The changes to ``new`` when this run's UIDs are a prefix of its UIDs, else None."""
        cached = self._step
        if cached is not None and cached[0]() is new:
            return cached[1]
        n = len(self.uids)
        step: Step | None = None
        if n <= len(new.uids) and self.uids == new.uids[:n]:
            changed: list[int] = []
            other: list[int] = []
            for i, (a, b) in enumerate(zip(self.infos, new.infos, strict=False)):  # new may be longer
                if a is not b:  # the store keeps the MessageInfo of an unchanged message
                    if a.flags != b.flags or a.modseq != b.modseq:
                        changed.append(i)
                    elif a != b:
                        other.append(i)
            step = Step(changed, other)
        self._step = (weakref.ref(new), step)
        return step


SHARED_RUNS: weakref.WeakValueDictionary[int, Run] = weakref.WeakValueDictionary()
"""The run of each ``Snapshot.messages`` tuple some view shows, by the tuple's id. A run holds its
tuple, so an id cannot be reused while its entry lives; the entry goes with the last view using it."""


def shared_run(messages: tuple[MessageInfo, ...]) -> Run:
    """The run every view of this very ``Snapshot.messages`` tuple shares (built on first use)."""
    run = SHARED_RUNS.get(id(messages))
    if run is None or run.infos is not messages:
        run = Run(messages)
        SHARED_RUNS[id(messages)] = run
    return run
