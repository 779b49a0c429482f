"""The per-connection selected view: message sequence numbers, pending untagged updates.

Theory of operation
-------------------
A ``Snapshot`` is the mailbox as the store sees it now; a ``SelectedView`` is the mailbox as one
client has been *told* it is. The two differ between the moments the server is allowed to send
untagged updates. ``refresh(snapshot, allow_expunge=...)`` diffs a new snapshot against the view,
moves the view forward and returns the ``Updates`` to send, in this order (each number in it is
correct at the moment it is sent when the handler emits them in this order):

1. ``expunged``: ``* n EXPUNGE`` sequence numbers, highest first, so removing one never changes the
   number of another still to be sent (RFC 9051 §7.5.1); or ``vanished`` (the same messages' UIDs,
   ascending) for a client that enabled QRESYNC (RFC 7162 §3.2.10).
2. ``exists`` (``* n EXISTS``), set when new messages arrived, then ``recent`` (``* n RECENT``).
3. ``flags``: ``(seq, info)`` for an unsolicited ``FETCH (FLAGS ...)`` (plus ``MODSEQ`` under
   CONDSTORE), numbered after 1 and 2.
4. ``keywords``: the mailbox's new keyword set when it changed (a new ``* FLAGS`` response).

Held-back expunges (RFC 9051 §7.5.1): during a non-UID FETCH, STORE or SEARCH the server must not
send EXPUNGE, because the client's message numbers would shift under the command. With
``allow_expunge=False`` a message that disappeared stays in the map with its last flags (frozen), new
mail may still be announced with EXISTS (new messages always get numbers past the held-back ones),
and the EXPUNGEs come out on the next refresh that allows them.

UID order is sequence order: the view's messages are a sorted run, so ``seq_of`` is a bisection.
A snapshot UID below the highest UID the client already knows, but never shown to it, cannot be
given a sequence number without renumbering; it cannot happen with a correct store (UIDs are
assigned ascending under a lock) and is ignored defensively.

Sharing (memory per session): the messages a view shows live in a ``Run`` (``view_runs``). While
the view shows exactly the snapshot's messages (the usual state) its run is the one shared by every
view of that ``Snapshot.messages`` tuple (``shared_run``), and the flag diff to the next shared run
is computed once (``Run.step_to``); the view itself holds only what is its own: ``_told`` (infos it
reported differently from the run: its own STORE's results from ``note_changes``), ``_gone``, its
\\Recent UIDs and ``saved``. Only a view that differs from the snapshot in which messages it shows
(held-back expunges, ignored lower UIDs) builds a private run, and goes back to the shared one on
the refresh after which it matches the snapshot again.

``\\Recent`` (RFC 3501 §2.3.2) is owned by the connection whose read-write ``snapshot`` call moved the
file from new/ to cur/: only UIDs in ``Snapshot.recent`` of this view's own calls (and the
constructor's ``recent``) are recent here.

The SEARCHRES result (RFC 5182) is kept as UIDs in ``saved``; expunged messages leave it
(RFC 5182 §2.1: "the server MUST remove ... from the search result variable").

There is no I/O here; tests are table-driven.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from maildird.imap.commands import SequenceSet
from maildird.store.base import Mailbox, MessageInfo, Snapshot
from maildird.store.view_runs import SHARED_RUNS, Run, Step, shared_run

__all__ = ["NO_UPDATES", "BadSequence", "SelectedView", "UidValidityChanged", "Updates"]


class BadSequence(Exception):
    """A message sequence number past EXISTS, or a sequence set on an empty mailbox, in a non-UID
    command: the client refers to a message that never existed for it (RFC 9051 §9 ``seq-number``:
    the server answers BAD)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UidValidityChanged(Exception):
    """The selected mailbox got a new UIDVALIDITY (its uidlist was lost and rebuilt). The view cannot
    be carried over; the connection must drop the selection (RFC 9051 §2.3.1.1)."""

    def __init__(self, old: int, new: int) -> None:
        super().__init__(f"UIDVALIDITY changed from {old} to {new}")
        self.old = old
        self.new = new


@dataclass(frozen=True, slots=True)
class Updates:
    """Untagged updates to send, in field order (see the module docstring)."""

    expunged: list[int] = field(default_factory=list)
    vanished: list[int] = field(default_factory=list)
    exists: int | None = None
    recent: int | None = None
    flags: list[tuple[int, MessageInfo]] = field(default_factory=list)
    keywords: frozenset[str] | None = None

    def __bool__(self) -> bool:
        return bool(
            self.expunged
            or self.vanished
            or self.exists is not None
            or self.recent is not None
            or self.flags
            or self.keywords is not None
        )


NO_UPDATES = Updates()
"""What ``refresh`` returns when nothing changed (after nearly every command): one shared value, so
callers must never mutate an ``Updates`` (none does; ``handlers.updates.flush`` only reads it)."""

_TOLD_WALK_RATIO = 8
"""A view that told its own state of more than 1/8 of its messages (a STORE on many) compares them
all in one walk instead of looking each up by bisection."""

_SHARED = SHARED_RUNS
"""The shared-run cache under its name from before ``view_runs`` held it (tests look into it)."""


class SelectedView:
    """What one connection has been told of its selected mailbox (contracts.md §3)."""

    __slots__ = (
        "_gone", "_keywords", "_recent", "_run", "_snapshot", "_told", "mailbox", "readonly", "saved",
    )  # fmt: skip

    def __init__(
        self, mailbox: Mailbox, snapshot: Snapshot, *, readonly: bool, recent: frozenset[int] = frozenset()
    ) -> None:
        self.mailbox = mailbox
        self.readonly = readonly
        self._snapshot = snapshot
        self._run = shared_run(snapshot.messages)
        self._told: dict[int, MessageInfo] = {}
        """Infos this view shows instead of its run's (module docstring)."""
        self._gone: set[int] = set()
        run = self._run
        self._recent: set[int] = {u for u in recent | snapshot.recent if run.index(u) is not None}
        self._keywords = snapshot.keywords
        self.saved: list[int] = []
        """The SEARCHRES result variable (RFC 5182), as UIDs."""

    # -- read access ---------------------------------------------------------------------------

    @property
    def snapshot(self) -> Snapshot:
        """The last snapshot the view was refreshed with (UIDNEXT, HIGHESTMODSEQ, keywords...)."""
        return self._snapshot

    @property
    def uidvalidity(self) -> int:
        return self._snapshot.uidvalidity

    @property
    def exists(self) -> int:
        """The message count the client knows (held-back expunged messages included)."""
        return len(self._run.uids)

    @property
    def recent_count(self) -> int:
        return len(self._recent)

    def parts(self) -> tuple[Run, Mapping[int, MessageInfo], AbstractSet[int]]:
        """The run the client knows, the infos this view reported itself since its last refresh (they
        win over the run's) and its \\Recent UIDs, read-only: ``handlers.fetch_flags`` answers a
        flag resync from a run's shared lines and formats only these messages one by one."""
        return self._run, self._told, self._recent

    @property
    def messages(self) -> list[MessageInfo]:
        """Every message in sequence order (index + 1 = sequence number)."""
        told = self._told
        if not told:
            return list(self._run.infos)
        return [told.get(m.uid, m) for m in self._run.infos]

    @property
    def uids(self) -> list[int]:
        """Every UID in sequence order."""
        return list(self._run.uids)

    def uid_at(self, seq: int) -> int:
        """The UID of message number ``seq`` (1-based). Raises ``BadSequence`` past EXISTS."""
        uids = self._run.uids
        if not 1 <= seq <= len(uids):
            raise BadSequence(f"no message {seq} (EXISTS is {len(uids)})")
        return uids[seq - 1]

    def seq_of(self, uid: int) -> int | None:
        """The sequence number of ``uid``, or None if the client does not know that UID."""
        i = self._run.index(uid)
        return None if i is None else i + 1

    def info(self, uid: int) -> MessageInfo | None:
        i = self._run.index(uid)
        if i is None:
            return None
        return self._told.get(uid) or self._run.infos[i]

    def is_recent(self, uid: int) -> bool:
        return uid in self._recent

    def is_expunged(self, uid: int) -> bool:
        """True for a message that is gone from the store but still held back in this view."""
        return uid in self._gone

    def _span(self, lo: int, hi: int) -> list[tuple[int, MessageInfo]]:
        """``(seq, info)`` for the 0-based positions ``lo`` to ``hi`` (exclusive)."""
        infos = self._run.infos[lo:hi]
        told = self._told
        if told:
            infos = [told.get(m.uid, m) for m in infos]
        return list(zip(range(lo + 1, hi + 1), infos, strict=True))

    def resolve(self, seqset: SequenceSet, *, uid: bool) -> list[tuple[int, MessageInfo]]:
        """The messages a sequence set names, as ``(seq, info)`` in ascending order, each once.

        RFC 9051 §6.4.8 / §9: in a UID set, ``*`` is the largest UID the client knows, and ``n:*``
        with n past it still names that largest UID; UIDs that do not exist are skipped. In a
        message-number set a number past EXISTS is an error (``BadSequence``), as is any set on an
        empty mailbox. ``$`` (RFC 5182) resolves through ``saved``.
        """
        run = self._run
        out: list[tuple[int, MessageInfo]] = []
        if seqset.saved:
            for u in sorted(set(self.saved)):
                i = run.index(u)
                if i is not None:
                    out += self._span(i, i + 1)
            return out
        uids = run.uids
        if uid:
            # resolve() gives sorted, disjoint, merged ranges: the slices come out in order, once each.
            for low, high in seqset.resolve(uids[-1] if uids else 0):
                out += self._span(bisect.bisect_left(uids, low), bisect.bisect_right(uids, high))
            return out
        count = len(uids)
        if count == 0:
            raise BadSequence("no messages")
        ranges = seqset.resolve(count)
        if ranges and ranges[-1][1] > count:
            raise BadSequence(f"no message {ranges[-1][1]} (EXISTS is {count})")
        for low, high in ranges:
            out += self._span(max(low, 1) - 1, high)
        return out

    # -- updates -------------------------------------------------------------------------------

    def note_changes(self, infos: Iterable[MessageInfo]) -> None:
        """Record state this connection already reported itself (its own STORE's FETCH
        responses), so the next refresh does not report it again."""
        # Unknown UIDs may go in (a STORE resolves its UIDs from this view, so there are none in
        # practice): ``_told`` is read only for UIDs of the run, and the next refresh drops the rest.
        gone = self._gone
        if gone:
            self._told.update((m.uid, m) for m in infos if m.uid not in gone)
        else:
            self._told.update((m.uid, m) for m in infos)

    def refresh(self, snapshot: Snapshot, *, allow_expunge: bool) -> Updates:
        """Move the view to ``snapshot`` and return what to tell the client (module docstring)."""
        if snapshot.uidvalidity != self._snapshot.uidvalidity:
            raise UidValidityChanged(self._snapshot.uidvalidity, snapshot.uidvalidity)
        if (
            snapshot.version == self._snapshot.version
            and snapshot.recent <= self._recent  # a read-only session is re-told the same recent UIDs
            and not (allow_expunge and self._gone)
        ):
            # Nothing changed since the last refresh (the version grows with every change), nothing
            # claimed, nothing held back to release: the flush after every command and every NOOP
            # cost O(1) instead of a walk over the whole mailbox.
            self._snapshot = snapshot
            return NO_UPDATES
        new = shared_run(snapshot.messages)
        step = None if self._gone else self._run.step_to(new)
        if step is not None:
            updates = self._advance(snapshot, new, step)
        else:
            updates = self._rebuild(snapshot, new, allow_expunge)
        self._snapshot = snapshot
        return updates

    def _keyword_update(self, snapshot: Snapshot) -> frozenset[str] | None:
        """4. The keyword list (a new * FLAGS response)."""
        if snapshot.keywords == self._keywords:
            return None
        self._keywords = snapshot.keywords
        return self._keywords

    def _advance(self, snapshot: Snapshot, new: Run, step: Step) -> Updates:
        """The usual refresh: nothing held back, nothing expunged, the view's UIDs begin the new
        snapshot's. The view takes the new shared run; the shared ``step`` says which flags changed."""
        old, told = self._run, self._told
        known = len(old.uids)
        # 2. New messages and this view's own new \Recent ones.
        recent_before = len(self._recent)
        self._recent.update(u for u in snapshot.recent if new.index(u) is not None)
        arrived = len(new.uids) > known
        exists = len(new.uids) if arrived else None
        recent = len(self._recent) if arrived or len(self._recent) > recent_before else None
        # 3. Flag (and modseq) changes: against what this view told where it told its own.
        reported: list[int] = []
        keep: dict[int, MessageInfo] = {}
        if not told:
            reported = step.changed
            keep = {old.uids[i]: old.infos[i] for i in step.other}
        elif len(told) * _TOLD_WALK_RATIO >= known:  # its own STORE on many: one walk over them all
            for i, u, was, now in zip(range(known), old.uids, old.infos, new.infos, strict=False):
                before = told.get(u, was)
                if before is now:  # unchanged, or the usual echo: the store's own object
                    continue
                if before.flags != now.flags or before.modseq != now.modseq:
                    reported.append(i)
                elif before != now:
                    keep[u] = before
        else:
            for u, before in told.items():
                i = bisect.bisect_left(new.uids, u)
                if i >= known or new.uids[i] != u:
                    continue  # not a UID this view knew: dropped
                now = new.infos[i]
                if before is now:
                    continue
                if before.flags != now.flags or before.modseq != now.modseq:
                    reported.append(i)
                elif before != now:
                    keep[u] = before
            reported += [i for i in step.changed if old.uids[i] not in told]
            reported.sort()
            keep.update((old.uids[i], old.infos[i]) for i in step.other if old.uids[i] not in told)
        self._run, self._told = new, keep
        flags = [(i + 1, new.infos[i]) for i in reported]
        return Updates([], [], exists, recent, flags, self._keyword_update(snapshot))

    def _rebuild(self, snapshot: Snapshot, new: Run, allow_expunge: bool) -> Updates:
        """A refresh with expunges (held back or sent) or ignored lower UIDs: the diff in full."""
        run, told, gone = self._run, self._told, self._gone
        uids = list(run.uids)
        infos = [told.get(m.uid, m) for m in run.infos] if told else list(run.infos)
        current = dict(zip(new.uids, new.infos, strict=True))

        # 1. Messages the client knows that the store no longer has.
        gone.update(u for u in uids if u not in current)
        expunged: list[int] = []
        vanished: list[int] = []
        if allow_expunge and gone:
            keep_uids: list[int] = []
            keep_infos: list[MessageInfo] = []
            for i, u in enumerate(uids):
                if u in gone:
                    expunged.append(i + 1)
                    vanished.append(u)
                else:
                    keep_uids.append(u)
                    keep_infos.append(infos[i])
            expunged.reverse()  # highest first: each number stays right while earlier ones are sent
            uids, infos = keep_uids, keep_infos
            self._recent.difference_update(vanished)
            removed = set(vanished)
            self.saved = [u for u in self.saved if u not in removed]
            gone.clear()

        # 2. New messages: only above the highest UID the client knows (module docstring).
        start = bisect.bisect_right(new.uids, uids[-1] if uids else 0)
        recent_before = len(self._recent)
        self._recent.update(u for u in snapshot.recent if u in current and u not in gone)
        known = len(uids)
        uids += new.uids[start:]
        infos += new.infos[start:]
        # EXPUNGE already lowers the count the client keeps; EXISTS goes out for arrivals only.
        arrived = start < len(new.uids)
        exists = len(uids) if arrived else None
        recent = len(self._recent) if arrived or len(self._recent) > recent_before else None

        # 3. Flag (and modseq) changes of messages the client already knew.
        flags: list[tuple[int, MessageInfo]] = []
        for i in range(known):
            u = uids[i]
            if u in gone:
                continue  # held back: frozen until its EXPUNGE is sent
            now = current[u]
            before = infos[i]
            if now is not before and (now.flags != before.flags or now.modseq != before.modseq):
                infos[i] = now
                flags.append((i + 1, now))

        if not gone and len(uids) == len(new.uids):
            # Every UID shown is in the snapshot and as many: the same messages. Back to sharing.
            self._run = new
            self._told = {m.uid: m for m, n in zip(infos, new.infos, strict=True) if m is not n and m != n}
        else:
            self._run = Run(infos, uids)
            self._told = {}
        return Updates(expunged, vanished, exists, recent, flags, self._keyword_update(snapshot))
