"""FETCH of snapshot items only (UID, FLAGS, MODSEQ, RFC822.SIZE, INTERNALDATE), answered from the
lines of a whole run (RFC 9051 §6.4.5, §7.5.2; RFC 7162 §3.1.4 MODSEQ and CHANGEDSINCE).

Theory of operation
-------------------
``UID FETCH 1:* (UID FLAGS)`` (a client's flag resync; Thunderbird sends ``UID fetch 1:* (FLAGS)``,
with CONDSTORE ``(CHANGEDSINCE n)``) asks for one line per message, made only of what the snapshot
holds. A selected view shows a ``Run`` (``store.view_runs``): the messages in sequence order, never
changed once built and shared by every view of the same snapshot. Message number ``i + 1`` is the
run's position ``i``, so for one line shape (UID first or not, the snapshot items in order) the whole
answer for the run is one fixed byte string. ``RunLines`` holds it with the offset of every line, and
``LINES`` keeps them per (run, shape) under a byte budget: a FETCH of any range of the run is then one
slice per range, however many messages, and every session of the folder shares it.

What a view shows beyond its run is its own: its ``\\Recent`` UIDs (RFC 3501 §2.3.2: a recent
message's FLAGS carry ``\\Recent``; not under IMAP4rev2) and the infos it reported itself
(``SelectedView._told``, its own STORE's results until the next refresh). Those messages are
"special": their lines are formatted one by one from the view's info and never come from the run's
lines, which hold the run's infos without ``\\Recent``.

Staleness: the lines belong to one ``Run`` object, whose infos cannot change. A STORE, another
session's change or a file renamed on disk gives the store a new snapshot, and the view a new run at
its next refresh (the view shows nothing else in between); the old run's lines are dropped with the
run (a weak reference) or by the budget. A FETCH that wants at least ``BUILD_MIN_LINES`` and a
``1/BUILD_FRACTION`` part of a run without cached lines builds them in rounds of ``ROUND`` messages
(the first shorter; a checkpoint between rounds), sending each round's wanted lines as soon as they
are formatted, so the client parses while the server formats. Smaller FETCHes format just their lines.

Lines are formatted column by column (``run_lines``: ``format_lines``, ``RunLines``, ``LINES``): one
``bytes %`` per message over C-level ``map``/``zip`` iterators, flag lists from one table per
distinct flag set. The octets are those of the general path (``fetch_render.render`` +
``responses.serialize``), which ``tests/handlers/test_fetch_flags_fast.py`` compares over random
mailboxes and histories.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from itertools import accumulate, compress
from operator import attrgetter, sub

import trio

from maildird.handlers.context import Context
from maildird.handlers.run_lines import LINES, LinesCache, LineShape, RunLines, format_lines, shape_of
from maildird.imap.commands import SequenceSet
from maildird.store.base import MessageInfo
from maildird.store.view import SelectedView
from maildird.store.view_runs import Run

ROUND = 2048
"""Messages formatted per round when a run's lines are built or a FETCH's lines formatted (one write
per round, a checkpoint between rounds)."""
FIRST_ROUND = 256
"""The first round is shorter: the client starts reading while the server formats the rest."""
BUILD_MIN_LINES = 256
BUILD_FRACTION = 4
"""A FETCH builds its run's lines when it wants at least ``BUILD_MIN_LINES`` lines and at least
``1/BUILD_FRACTION`` of the run; a smaller one formats only its own lines."""
_MODSEQ = attrgetter("modseq")


def view_parts(view: SelectedView) -> tuple[Run, Mapping[int, MessageInfo], AbstractSet[int]]:
    """The view's run, the infos it reported itself and its \\Recent UIDs (``SelectedView.parts``)."""
    return view.parts()


def spans(view: SelectedView, seqset: SequenceSet, *, uid: bool) -> list[tuple[int, int]]:
    """The run positions a set names, as sorted disjoint ``(lo, hi)`` (``hi`` exclusive): the messages
    ``SelectedView.resolve`` gives, without a pair per message. ``$`` is the caller's (not here);
    a bad message number raises ``BadSequence`` through ``resolve`` itself. ``$`` (RFC 5182) names the
    view's saved UIDs that it still shows."""
    run = view_parts(view)[0]
    if seqset.saved:
        return _group(sorted({pos for pos in map(run.index, set(view.saved)) if pos is not None}))
    uids = run.uids
    out: list[tuple[int, int]] = []
    if uid:
        for low, high in seqset.resolve(uids[-1] if uids else 0):
            lo, hi = bisect.bisect_left(uids, low), bisect.bisect_right(uids, high)
            if out and out[-1][1] == lo:  # UID ranges around missing UIDs: one span
                out[-1] = (out[-1][0], hi)
            elif lo < hi:
                out.append((lo, hi))
        return out
    count = len(uids)
    ranges = seqset.resolve(count)
    if count == 0 or (ranges and ranges[-1][1] > count):
        view.resolve(seqset, uid=False)  # raises BadSequence, worded as for every other command
        raise AssertionError("resolve accepted a set past EXISTS")
    for low, high in ranges:
        lo = max(low, 1) - 1
        if lo < high:
            out.append((lo, high))
    return out


def _group(positions: list[int]) -> list[tuple[int, int]]:
    """Ascending positions as spans of consecutive ones: the breaks are found by C-level maps, so the
    Python steps are one per span, not one per position (CHANGEDSINCE of a whole folder)."""
    if not positions:
        return []
    steps = map(sub, positions[1:], positions[:-1])
    breaks = list(compress(range(1, len(positions)), map((1).__ne__, steps)))
    return [
        (positions[a], positions[b - 1] + 1)
        for a, b in zip([0, *breaks], [*breaks, len(positions)], strict=True)
    ]


def _changed(
    infos: Sequence[MessageInfo], wanted: list[tuple[int, int]], since: int
) -> list[tuple[int, int]]:
    """The parts of ``wanted`` whose messages have a MODSEQ above ``since`` (RFC 7162 §3.1.4.1)."""
    positions: list[int] = []
    for lo, hi in wanted:
        positions += compress(range(lo, hi), map(since.__lt__, map(_MODSEQ, infos[lo:hi])))
    return _group(positions)


def _specials(
    run: Run, told: Mapping[int, MessageInfo], recent: AbstractSet[int], wanted: list[tuple[int, int]]
) -> list[int]:
    """Positions inside ``wanted`` whose line the view formats itself (module docstring), ascending."""
    found: set[int] = set()
    for uid in (*told, *recent):
        pos = run.index(uid)
        if pos is not None:
            found.add(pos)
    if not found:
        return []
    starts = [lo for lo, _hi in wanted]
    out = []
    for pos in sorted(found):
        i = bisect.bisect_right(starts, pos) - 1
        if i >= 0 and pos < wanted[i][1]:
            out.append(pos)
    return out


def _cut(wanted: list[tuple[int, int]], specials: list[int]) -> list[tuple[int, int]]:
    """``wanted`` without the positions in ``specials``."""
    if not specials:
        return wanted
    out: list[tuple[int, int]] = []
    points = iter(specials)
    point = next(points, None)
    for lo, hi in wanted:
        while point is not None and point < hi:
            if point >= lo:
                if lo < point:
                    out.append((lo, point))
                lo = point + 1
            point = next(points, None)
        if lo < hi:
            out.append((lo, hi))
    return out


Source = Callable[[int, int], bytes]
"""The run's lines of positions ``lo`` to ``hi`` (exclusive), as one byte string."""


def _pieces(
    lo: int,
    hi: int,
    plain: list[tuple[int, int]],
    specials: list[int],
    source: Source,
    special: Callable[[int], bytes],
) -> list[bytes]:
    """The output for positions ``lo`` to ``hi`` (exclusive), in position order: the parts of the
    ``plain`` spans inside it from ``source``, each special position inside it from ``special``
    (``specials`` and the spans are disjoint)."""
    out: list[bytes] = []
    i = bisect.bisect_left(plain, (lo, lo))
    if i and plain[i - 1][1] > lo:
        i -= 1
    j = bisect.bisect_left(specials, lo)
    while True:
        start = max(plain[i][0], lo) if i < len(plain) and plain[i][0] < hi else None
        point = specials[j] if j < len(specials) and specials[j] < hi else None
        if point is not None and (start is None or point < start):
            out.append(special(point))
            j += 1
        elif start is not None:
            out.append(source(start, min(plain[i][1], hi)))
            i += 1
        else:
            return out


async def send(
    ctx: Context,
    view: SelectedView,
    shape: LineShape,
    wanted: list[tuple[int, int]],
    *,
    changedsince: int | None,
    recent: bool,
    before: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """``* n FETCH`` lines for the run positions ``wanted`` (``spans``), in ascending order: those whose
    MODSEQ is above ``changedsince`` when given; ``recent`` False (IMAP4rev2) leaves \\Recent out.
    ``before`` (the VANISHED response) is sent first."""
    run, told, recent_uids = view_parts(view)
    infos = run.infos
    if not recent:
        recent_uids = frozenset()
    specials = _specials(run, told, recent_uids, wanted)
    if changedsince is not None:
        plain = _cut(_changed(infos, wanted, changedsince), specials)
        specials = [p for p in specials if told.get(infos[p].uid, infos[p]).modseq > changedsince]
    else:
        plain = _cut(wanted, specials)
    if before is not None:
        await before()
    if not plain and not specials:
        return

    def special(pos: int) -> bytes:
        info = infos[pos]
        uid = info.uid
        return format_lines(shape, pos + 1, (told.get(uid, info),), recent=uid in recent_uids)[0]

    cached = LINES.get(run, shape)
    if cached is not None:
        await ctx.send_bytes(b"".join(_pieces(0, len(infos), plain, specials, cached.span, special)))
        return
    count = sum(hi - lo for lo, hi in plain)
    if count >= BUILD_MIN_LINES and count * BUILD_FRACTION >= len(infos):
        await _build_and_send(ctx, run, shape, plain, specials, special)
        return
    start = min([lo for lo, _hi in plain[:1]] + specials[:1])
    end = max([hi for _lo, hi in plain[-1:]] + [pos + 1 for pos in specials[-1:]])

    def direct(lo: int, hi: int) -> bytes:
        return b"".join(format_lines(shape, lo + 1, infos[lo:hi], run.uids[lo:hi]))

    for number, (lo, hi) in enumerate(_rounds(start, end)):
        if number:
            await trio.lowlevel.checkpoint()
        data = b"".join(_pieces(lo, hi, plain, specials, direct, special))
        if data:
            await ctx.send_bytes(data)


def _rounds(start: int, end: int) -> Iterator[tuple[int, int]]:
    """Positions ``start`` to ``end`` in rounds: ``FIRST_ROUND``, then ``ROUND`` each."""
    lo, size = start, min(FIRST_ROUND, ROUND)
    while lo < end:
        yield lo, min(lo + size, end)
        lo, size = lo + size, ROUND


async def _build_and_send(
    ctx: Context,
    run: Run,
    shape: LineShape,
    plain: list[tuple[int, int]],
    specials: list[int],
    special: Callable[[int], bytes],
) -> None:
    """Format the whole run in rounds, sending each round's wanted lines at once, then keep the lines
    (``LINES``)."""
    infos = run.infos
    chunks: list[bytes] = []
    lengths = array("I")
    for number, (lo, hi) in enumerate(_rounds(0, len(infos))):
        if number:
            await trio.lowlevel.checkpoint()
        lines = format_lines(shape, lo + 1, infos[lo:hi], run.uids[lo:hi])
        chunk = b"".join(lines)
        lengths.extend(map(len, lines))
        chunks.append(chunk)
        data = b"".join(_pieces(lo, hi, plain, specials, _Round(lo, lines, chunk).span, special))
        if data:
            await ctx.send_bytes(data)
    LINES.put(run, shape, RunLines(LINES.ref(run, shape), b"".join(chunks), lengths))


class _Round:
    """One round's lines while a run's lines are built: spans of it, the offsets worked out only for
    a span that is not the whole round."""

    __slots__ = ("chunk", "lines", "lo", "offsets")

    def __init__(self, lo: int, lines: list[bytes], chunk: bytes) -> None:
        self.lo = lo
        self.lines = lines
        self.chunk = chunk
        self.offsets: list[int] | None = None

    def span(self, a: int, b: int) -> bytes:
        a -= self.lo
        b -= self.lo
        if a == 0 and b == len(self.lines):
            return self.chunk
        if self.offsets is None:
            self.offsets = list(accumulate(map(len, self.lines), initial=0))
        return self.chunk[self.offsets[a] : self.offsets[b]]


__all__ = [
    "BUILD_FRACTION",
    "BUILD_MIN_LINES",
    "FIRST_ROUND",
    "LINES",
    "ROUND",
    "LineShape",
    "LinesCache",
    "RunLines",
    "format_lines",
    "send",
    "shape_of",
    "spans",
    "view_parts",
]
