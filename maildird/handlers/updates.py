"""Pending mailbox updates as untagged responses (RFC 9051 §7.5.1, RFC 7162 §3.2.10).

Theory of operation
-------------------
The selected view (``maildird.store.view``) knows what the client has been told; a fresh snapshot
knows what is true. ``flush`` diffs the two and sends the difference, in the order in which every
sequence number it sends is right at the moment it is sent: EXPUNGE (or VANISHED under QRESYNC),
EXISTS, RECENT, FLAGS (new keywords), then FETCH for changed flags.

``handle`` calls ``flush`` after every command that runs with a mailbox selected, just before the
tagged reply. Non-UID FETCH, STORE and SEARCH pass ``allow_expunge=False``: an expunge found then is
held back by the view and reported by the next command that may report it (RFC 9051 §7.5.1).

A command that reports flag changes itself (STORE, FETCH setting ``\\Seen``) calls
``view.note_changes`` with the new state, so the following flush does not report it twice.

The helpers that render FLAGS, INTERNALDATE and UID sets live here too, because every module that
sends a FETCH response uses them.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from datetime import UTC, datetime

from maildird.handlers.context import Context, Selected
from maildird.imap.errors import Bye, No
from maildird.imap.responses import Atom, Code, Status, Untagged, Value, serialize_value
from maildird.store.base import SYSTEM_FLAGS, MailboxNotFound, MessageInfo
from maildird.store.view import NO_UPDATES, UidValidityChanged

RECENT = "\\Recent"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
SYSTEM_ORDER = ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")
"""The order Dovecot lists system flags in FLAGS and PERMANENTFLAGS."""


def require_selected(ctx: Context) -> Selected:
    """The selected mailbox, or NO when there is none (after DELETE of the selected mailbox the core
    still believes a mailbox is selected; see ``mailboxes.delete``)."""
    if ctx.selected is None:
        raise No("No mailbox is selected.", "CLOSED")
    return ctx.selected


# --------------------------------------------------------------------------------------------------
# Rendering


def flag_atoms(flags: Iterable[str], *, recent: bool = False) -> tuple[Atom, ...]:
    """A flag list in a stable order: system flags first (Dovecot's order), then keywords sorted."""
    flags = set(flags)
    out = [Atom(f) for f in SYSTEM_ORDER if f in flags]
    if recent:
        out.append(Atom(RECENT))
    out.extend(Atom(f) for f in sorted(flags - SYSTEM_FLAGS - {RECENT}))
    return tuple(out)


FLAG_BYTES_CACHE_SIZE = 4096
"""Distinct (flag set, recent) pairs whose wire form is kept; a mailbox has a few dozen in practice."""

_FLAG_BYTES: tuple[dict[frozenset[str], bytes], dict[frozenset[str], bytes]] = ({}, {})
"""Wire forms by flag set, without and with ``\\Recent``."""


def flag_list_bytes(flags: frozenset[str], recent: bool) -> bytes:
    """``serialize_value(flag_atoms(flags, recent=recent))``, cached per flag set: a FETCH FLAGS of
    10,000 messages formats each of the mailbox's few distinct flag lists once."""
    table = _FLAG_BYTES[recent]
    data = table.get(flags)
    if data is None:
        data = serialize_value(flag_atoms(flags, recent=recent))
        if len(table) >= FLAG_BYTES_CACHE_SIZE:
            table.clear()
        table[flags] = data
    return data


def flag_bytes_table(recent: bool) -> dict[frozenset[str], bytes]:
    """The live cache behind ``flag_list_bytes`` for a tight loop: ``table.get(flags) or
    flag_list_bytes(flags, recent)``."""
    return _FLAG_BYTES[recent]


def message_flags(ctx: Context, sel: Selected, info: MessageInfo) -> tuple[Atom, ...]:
    """FETCH FLAGS of one message: stored flags plus this session's ``\\Recent`` (which IMAP4rev2
    no longer has, RFC 9051 Appendix E)."""
    return flag_atoms(info.flags, recent=not ctx.rev2 and sel.view.is_recent(info.uid))


def internaldate(dt: datetime) -> str:
    """RFC 9051 §9 ``date-time``: ``"17-Jul-1996 02:44:25 -0700"`` (month names never localised)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    offset = dt.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    return (
        f"{dt.day:02d}-{MONTHS[dt.month - 1]}-{dt.year:04d} {dt.hour:02d}:{dt.minute:02d}:{dt.second:02d} "
        f"{sign}{minutes // 60:02d}{minutes % 60:02d}"
    )


def uid_set(numbers: Iterable[int]) -> str:
    """A compact sequence set (``1:3,7``) of ascending, de-duplicated numbers (RFC 9051 §9)."""
    return uid_pairs_set(sorted(set(numbers)))


def _merge(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for low, high in sorted((max(1, a), b) for a, b in ranges if b >= max(1, a)):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


class RangeSet:
    """Membership in a resolved sequence set in O(log r), for sets of thousands of ranges."""

    __slots__ = ("_highs", "_lows")

    def __init__(self, ranges: Iterable[tuple[int, int]]) -> None:
        merged = _merge(ranges)
        self._lows = [a for a, _ in merged]
        self._highs = [b for _, b in merged]

    def __contains__(self, number: int) -> bool:
        i = bisect.bisect_right(self._lows, number) - 1
        return i >= 0 and number <= self._highs[i]


def missing_set(ranges: Iterable[tuple[int, int]], present: list[int]) -> str:
    """The numbers of ``ranges`` (inclusive pairs) that are not in the sorted list ``present``, as a
    compact sequence set. Works on gaps, never number by number, so ``1:4294967295`` costs nothing
    (QRESYNC without expunge history reports every UID the client may know that is gone)."""
    parts: list[str] = []
    for low, high in _merge(ranges):
        i = bisect.bisect_left(present, low)
        cursor = low
        while cursor <= high:
            nxt = present[i] if i < len(present) else high + 1
            if nxt > high:
                nxt = high + 1
            if nxt > cursor:
                parts.append(str(cursor) if nxt - 1 == cursor else f"{cursor}:{nxt - 1}")
            cursor = nxt + 1
            i += 1
    return ",".join(parts)


def uid_pairs_set(numbers: Iterable[int]) -> str:
    """A sequence set in the given order (COPYUID's two sets correspond element by element,
    RFC 4315 §3), with runs of consecutive numbers compressed."""
    seq = list(numbers)
    parts: list[str] = []
    i = 0
    while i < len(seq):
        j = i
        while j + 1 < len(seq) and seq[j + 1] == seq[j] + 1:
            j += 1
        parts.append(str(seq[i]) if i == j else f"{seq[i]}:{seq[j]}")
        i = j + 1
    return ",".join(parts)


def flags_response(ctx: Context, sel: Selected) -> list[Untagged | Status]:
    """``* FLAGS`` and ``* OK [PERMANENTFLAGS]`` for the selected mailbox (RFC 9051 §7.3.5, §7.1)."""
    snap = sel.view.snapshot
    # The store's keyword list, plus any keyword a message carries that the list misses (a Maildir
    # stores $Forwarded as the P flag letter, not in dovecot-keywords): FLAGS must name them all.
    # Over the distinct flag sets, not every message: a mailbox of 10,000 has a few dozen of them.
    flag_sets = {m.flags for m in snap.messages}
    sel.announced = snap.keywords | {f for flags in flag_sets for f in flags if not f.startswith("\\")}
    keywords = sorted(sel.announced)
    flags = (*flag_atoms(SYSTEM_FLAGS), *(Atom(k) for k in keywords))
    out: list[Untagged | Status] = [Untagged((Atom("FLAGS"), flags))]
    if sel.readonly:
        out.append(Status("OK", "Read-only mailbox.", Code("PERMANENTFLAGS", ((),))))
    else:
        permanent: tuple[Value, ...] = flags
        if snap.can_create_keywords:
            permanent = (*flags, Atom("\\*"))
        out.append(Status("OK", "Flags permitted.", Code("PERMANENTFLAGS", (permanent,))))
    return out


def flag_fetch(
    ctx: Context, sel: Selected, seq: int, info: MessageInfo, *, uid: bool, flags: bool = True
) -> Untagged:
    """``* n FETCH (UID u FLAGS (...) MODSEQ (m))``: UID for a UID command, UID and MODSEQ once
    CONDSTORE is active (RFC 7162 §3.1: "the server MUST automatically include both UID and
    mod-sequence data in all subsequent untagged FETCH responses" caused by STORE, by FETCH setting
    \\Seen, or by an external agent)."""
    items: list[Value] = []
    if uid or ctx.condstore:
        items += [Atom("UID"), info.uid]
    if flags:
        items += [Atom("FLAGS"), message_flags(ctx, sel, info)]
    if ctx.condstore:
        items += [Atom("MODSEQ"), (info.modseq,)]
    return Untagged((seq, Atom("FETCH"), tuple(items)))


async def enable_condstore(ctx: Context) -> None:
    """Note a CONDSTORE enabling command (RFC 7162 §3.1: FETCH/SEARCH with MODSEQ, CHANGEDSINCE,
    UNCHANGEDSINCE, STATUS HIGHESTMODSEQ, ENABLE). The first one while a mailbox is selected also
    reports that mailbox's HIGHESTMODSEQ, which SELECT did not need to tell before (Dovecot does)."""
    if ctx.condstore:
        return
    ctx.enabled.add("CONDSTORE")
    if ctx.selected is not None:
        highest = ctx.selected.synced_modseq
        await ctx.send(Status("OK", "Highest.", Code("HIGHESTMODSEQ", (highest,))))


# --------------------------------------------------------------------------------------------------
# Flushing


async def flush(ctx: Context, *, allow_expunge: bool = True, uid: bool = False) -> None:
    """Refresh the selected view and send what changed (module docstring)."""
    sel = ctx.selected
    if sel is None:
        return
    try:
        snapshot = await sel.mailbox.snapshot(claim_recent=not sel.readonly)
    except MailboxNotFound as exc:
        # Deleted (or renamed) by another session or process. Dovecot's answer: BYE, so the client
        # reconnects and lists again instead of meeting NO on every command.
        ctx.selected = None
        await sel.mailbox.close()
        raise Bye("Selected mailbox was deleted, have to disconnect.") from exc
    try:
        updates = sel.view.refresh(snapshot, allow_expunge=allow_expunge)
    except UidValidityChanged as exc:
        # RFC 9051 §2.3.1.1: the client's UIDs mean nothing now; Dovecot disconnects too.
        ctx.log.error("UIDVALIDITY of %s changed under a session: %s", sel.name, exc)
        ctx.selected = None
        await sel.mailbox.close()
        raise Bye("Mailbox UIDVALIDITY changed, reconnect.", "UNAVAILABLE") from exc
    if updates is NO_UPDATES or not updates:
        held = _bound_modseq(ctx, sel, snapshot.highestmodseq, len(snapshot.messages))
        if held is not None:
            await ctx.send(held)
        return
    if updates.vanished and ctx.qresync:
        await ctx.send(Untagged((Atom("VANISHED"), Atom(uid_set(updates.vanished)))))
    else:
        for n in updates.expunged:
            await ctx.send(Untagged((n, Atom("EXPUNGE"))))
    if updates.exists is not None:
        await ctx.send(Untagged((updates.exists, Atom("EXISTS"))))
    if updates.recent is not None and not ctx.rev2:
        await ctx.send(Untagged((updates.recent, Atom("RECENT"))))
    if updates.keywords is not None or any(
        not f.startswith("\\") and f not in sel.announced for _s, i in updates.flags for f in i.flags
    ):
        for response in flags_response(ctx, sel):
            await ctx.send(response)
    for seq, info in updates.flags:
        await ctx.send(flag_fetch(ctx, sel, seq, info, uid=uid))
    held = _bound_modseq(ctx, sel, snapshot.highestmodseq, len(snapshot.messages))
    if held is not None:
        await ctx.send(held)


def _bound_modseq(ctx: Context, sel: Selected, highest: int, present: int) -> Status | None:
    """While an expunge is held back, the MODSEQs this session sees may pass the expunge's, and a
    client resynchronising later from such a value would never learn of it (RFC 7162 §3.2.5
    VANISHED (EARLIER) starts after the given modseq). So the last word on HIGHESTMODSEQ is then the
    value from before the expunge (crymap's test ``qresync_delayed_vanished`` checks the same).
    Returns that ``* OK [HIGHESTMODSEQ]`` for the caller to send, or None (nearly always)."""
    if sel.view.exists > present:  # the view still holds messages the store no longer has
        if ctx.condstore:
            return Status("OK", "Highest.", Code("HIGHESTMODSEQ", (sel.synced_modseq,)))
        return None
    sel.synced_modseq = highest
    return None
