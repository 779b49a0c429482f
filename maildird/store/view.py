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

UID order is sequence order: the map is a sorted list of UIDs, so ``seq_of`` is a bisection.
A snapshot UID below the highest UID the client already knows, but never shown to it, cannot be
given a sequence number without renumbering; it cannot happen with a correct store (UIDs are
assigned ascending under a lock) and is ignored defensively.

``\\Recent`` (RFC 3501 §2.3.2) is owned by the connection whose read-write ``snapshot`` call moved the
file from new/ to cur/: only UIDs in ``Snapshot.recent`` of this view's own calls (and the
constructor's ``recent``) are recent here.

The SEARCHRES result (RFC 5182) is kept as UIDs in ``saved``; expunged messages leave it
(RFC 5182 §2.1: "the server MUST remove ... from the search result variable").

There is no I/O here; tests are table-driven.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field

from maildird.imap.commands import SequenceSet
from maildird.store.base import Mailbox, MessageInfo, Snapshot


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


class SelectedView:
    """What one connection has been told of its selected mailbox (contracts.md §3)."""

    def __init__(
        self, mailbox: Mailbox, snapshot: Snapshot, *, readonly: bool, recent: frozenset[int] = frozenset()
    ) -> None:
        self.mailbox = mailbox
        self.readonly = readonly
        self._snapshot = snapshot
        self._uids: list[int] = [m.uid for m in snapshot.messages]
        self._infos: dict[int, MessageInfo] = {m.uid: m for m in snapshot.messages}
        self._gone: set[int] = set()
        self._recent: set[int] = set((recent | snapshot.recent) & self._infos.keys())
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
        return len(self._uids)

    @property
    def recent_count(self) -> int:
        return len(self._recent)

    @property
    def messages(self) -> list[MessageInfo]:
        """Every message in sequence order (index + 1 = sequence number)."""
        return [self._infos[uid] for uid in self._uids]

    @property
    def uids(self) -> list[int]:
        """Every UID in sequence order."""
        return list(self._uids)

    def uid_at(self, seq: int) -> int:
        """The UID of message number ``seq`` (1-based). Raises ``BadSequence`` past EXISTS."""
        if not 1 <= seq <= len(self._uids):
            raise BadSequence(f"no message {seq} (EXISTS is {len(self._uids)})")
        return self._uids[seq - 1]

    def seq_of(self, uid: int) -> int | None:
        """The sequence number of ``uid``, or None if the client does not know that UID."""
        i = bisect.bisect_left(self._uids, uid)
        if i < len(self._uids) and self._uids[i] == uid:
            return i + 1
        return None

    def info(self, uid: int) -> MessageInfo | None:
        return self._infos.get(uid)

    def is_recent(self, uid: int) -> bool:
        return uid in self._recent

    def is_expunged(self, uid: int) -> bool:
        """True for a message that is gone from the store but still held back in this view."""
        return uid in self._gone

    def resolve(self, seqset: SequenceSet, *, uid: bool) -> list[tuple[int, MessageInfo]]:
        """The messages a sequence set names, as ``(seq, info)`` in ascending order, each once.

        RFC 9051 §6.4.8 / §9: in a UID set, ``*`` is the largest UID the client knows, and ``n:*``
        with n past it still names that largest UID; UIDs that do not exist are skipped. In a
        message-number set a number past EXISTS is an error (``BadSequence``), as is any set on an
        empty mailbox. ``$`` (RFC 5182) resolves through ``saved``.
        """
        if seqset.saved:
            wanted = set(self.saved)
            return [(i + 1, self._infos[u]) for i, u in enumerate(self._uids) if u in wanted]
        if uid:
            largest = self._uids[-1] if self._uids else 0
            out: list[tuple[int, MessageInfo]] = []
            for u in seqset.iter_in(self._uids, largest):
                seq = self.seq_of(u)
                assert seq is not None
                out.append((seq, self._infos[u]))
            return out
        count = len(self._uids)
        if count == 0:
            raise BadSequence("no messages")
        chosen: set[int] = set()
        for low, high in seqset.resolve(count):
            if high > count:
                raise BadSequence(f"no message {high} (EXISTS is {count})")
            chosen.update(range(max(low, 1), high + 1))
        return [(seq, self._infos[self._uids[seq - 1]]) for seq in sorted(chosen)]

    # -- updates -------------------------------------------------------------------------------

    def note_changes(self, infos: Iterable[MessageInfo]) -> None:
        """Record state this connection already reported itself (its own STORE's FETCH
        responses), so the next refresh does not report it again."""
        for info in infos:
            if info.uid in self._infos and info.uid not in self._gone:
                self._infos[info.uid] = info

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
            return Updates([], [], None, None, [], None)
        current = {m.uid: m for m in snapshot.messages}
        self._snapshot = snapshot

        # 1. Messages the client knows that the store no longer has.
        for u in self._uids:
            if u not in current:
                self._gone.add(u)
        expunged: list[int] = []
        vanished: list[int] = []
        if allow_expunge and self._gone:
            keep: list[int] = []
            for i, u in enumerate(self._uids):
                if u in self._gone:
                    expunged.append(i + 1)
                    vanished.append(u)
                    del self._infos[u]
                else:
                    keep.append(u)
            expunged.reverse()  # highest first: each number stays right while earlier ones are sent
            self._uids = keep
            self._recent.difference_update(vanished)
            gone = set(vanished)
            self.saved = [u for u in self.saved if u not in gone]
            self._gone.clear()

        # 2. New messages: only above the highest UID the client knows (module docstring).
        last = self._uids[-1] if self._uids else 0
        new = [m for m in snapshot.messages if m.uid > last]
        recent_before = len(self._recent)
        self._recent.update(u for u in snapshot.recent if u in current and u not in self._gone)
        for m in new:
            self._uids.append(m.uid)
            self._infos[m.uid] = m
        # EXPUNGE already lowers the count the client keeps; EXISTS goes out for arrivals only.
        exists = len(self._uids) if new else None
        recent = len(self._recent) if new or len(self._recent) > recent_before else None

        # 3. Flag (and modseq) changes of messages the client already knew.
        flags: list[tuple[int, MessageInfo]] = []
        known = len(self._uids) - len(new)
        for i in range(known):
            u = self._uids[i]
            if u in self._gone:
                continue  # held back: frozen until its EXPUNGE is sent
            now = current[u]
            before = self._infos[u]
            if now.flags != before.flags or now.modseq != before.modseq:
                self._infos[u] = now
                flags.append((i + 1, now))

        # 4. The keyword list (a new * FLAGS response).
        keywords = None
        if snapshot.keywords != self._keywords:
            keywords = self._keywords = snapshot.keywords
        return Updates(expunged, vanished, exists, recent, flags, keywords)
