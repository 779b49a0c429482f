"""The lines of a whole run for FETCH of snapshot items only (``handlers.fetch_flags``): their shape,
their formatting, and the server-wide cache of them (``LINES``).

Theory of operation: for one line shape (UID first or not, the snapshot items in order) the answer
for a ``Run`` (never changed once built) is one fixed byte string; ``RunLines`` holds it with the
offset of every line, ``LinesCache`` keeps them per (run, shape) under ``LINES_BUDGET`` octets and
drops a run's lines with the run (a weak reference). ``format_lines`` makes lines column by column:
one ``bytes %`` per message over C-level ``map``/``zip`` iterators, flag lists from one table per
distinct flag set (``fetch_flags``' module docstring says why the octets are the general path's).
"""

from __future__ import annotations

import weakref
from array import array
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate
from operator import attrgetter

from maildird.handlers.fetch_dates import internaldate_bytes
from maildird.handlers.fetch_lines import FORMATS, LinePlan
from maildird.handlers.updates import FLAG_BYTES_CACHE_SIZE, flag_list_bytes
from maildird.store.base import MessageInfo
from maildird.store.view_runs import Run

LINES_BUDGET = 16 << 20
"""Octets of run lines kept (data and offsets), all folders and shapes together: about 400 KiB for a
10,000-message folder's ``(UID FLAGS)``, 5 MiB for 100,000 messages."""

_UID = attrgetter("uid")
_FLAGS = attrgetter("flags")
_SIZE = attrgetter("size")
_MODSEQ = attrgetter("modseq")
_DATE = attrgetter("internaldate")


@dataclass(frozen=True, slots=True)
class LineShape:
    """One line form: ``* n FETCH (UID u FLAGS f ...)``. ``kinds`` are ``fetch_lines``' item kinds in
    order (MODSEQ appended when implied), ``fmt`` the line's ``bytes %`` format."""

    uid_first: bool
    kinds: tuple[str, ...]
    fmt: bytes


def shape_of(plan: LinePlan, *, uid_first: bool, wants_modseq: bool) -> LineShape:
    """The line shape of a plan of snapshot items only (``LinePlan.names``): UID first when asked, the
    items in the order asked, MODSEQ last when implied (CHANGEDSINCE) and not asked."""
    return _shape(plan.names, uid_first, wants_modseq and "MODSEQ" not in plan.names)


@lru_cache(maxsize=64)
def _shape(names: tuple[str, ...], uid_first: bool, add_modseq: bool) -> LineShape:
    kinds = (*names, "MODSEQ") if add_modseq else names
    formats = [b"UID %d"] if uid_first else []
    formats += [FORMATS[kind] for kind in kinds]
    return LineShape(uid_first, kinds, b"* %d FETCH (" + b" ".join(formats) + b")\r\n")


class _FlagTable(dict[frozenset[str], bytes]):
    """Flag lists' wire forms by flag set (``updates.flag_list_bytes``), made on the first lookup: one
    C-level ``__getitem__`` per message in ``format_lines``."""

    def __init__(self, recent: bool) -> None:
        super().__init__()
        self.recent = recent

    def __missing__(self, flags: frozenset[str]) -> bytes:
        if len(self) >= FLAG_BYTES_CACHE_SIZE:
            self.clear()
        data = self[flags] = flag_list_bytes(flags, self.recent)
        return data


_FLAG_TABLES = (_FlagTable(False), _FlagTable(True))


def format_lines(
    shape: LineShape,
    first: int,
    infos: Sequence[MessageInfo],
    uids: Sequence[int] | None = None,
    *,
    recent: bool = False,
) -> list[bytes]:
    """The lines of ``infos`` numbered from ``first`` (``uids``: their UIDs, when the caller has them;
    with ``recent`` their FLAGS carry \\Recent), one column per item, one ``%`` per message."""
    columns: list[Iterable[object]] = [range(first, first + len(infos))]
    if shape.uid_first:
        columns.append(map(_UID, infos) if uids is None else uids)
    for kind in shape.kinds:
        if kind == "FLAGS":
            columns.append(map(_FLAG_TABLES[recent].__getitem__, map(_FLAGS, infos)))
        elif kind == "MODSEQ":
            columns.append(map(_MODSEQ, infos))
        elif kind == "RFC822.SIZE":
            columns.append(map(_SIZE, infos))
        else:
            columns.append(map(internaldate_bytes, map(_DATE, infos)))
    return list(map(shape.fmt.__mod__, zip(*columns, strict=True)))


class RunLines:
    """A run's lines in one shape: ``data`` and each line's length (``lengths``); where each line
    starts is worked out on the first slice that needs it (a whole-run FETCH never does)."""

    __slots__ = ("_offsets", "data", "lengths", "run")

    def __init__(self, run: weakref.ref[Run], data: bytes, lengths: array[int]) -> None:
        self.run = run
        self.data = data
        self.lengths = lengths
        self._offsets: array[int] | None = None

    @property
    def size(self) -> int:
        """Octets held, the offsets counted as if worked out already (a bound for the budget)."""
        return (
            len(self.data)
            + self.lengths.itemsize * len(self.lengths)
            + _OFFSET_SIZE * (len(self.lengths) + 1)
        )

    def span(self, lo: int, hi: int) -> bytes:
        """The lines of positions ``lo`` to ``hi`` (exclusive)."""
        if lo == 0 and hi == len(self.lengths):
            return self.data
        offsets = self._offsets
        if offsets is None:
            offsets = self._offsets = array("Q", list(accumulate(self.lengths, initial=0)))
        return self.data[offsets[lo] : offsets[hi]]


_OFFSET_SIZE = array("Q").itemsize


class LinesCache:
    """``RunLines`` by (run, shape), least recently used first out past ``budget`` octets; an entry goes
    with its run, so a run's id cannot find another run's lines.

    A run dies whenever the last view lets go of it, possibly inside a garbage collection that another
    thread's allocation started, in the middle of a ``put`` here: the weak reference's callback only
    notes the key (``list.append`` is atomic), and the event loop's thread drops the entry at its next
    call (``_purge``)."""

    def __init__(self, budget: int = LINES_BUDGET) -> None:
        self.budget = budget
        self._size = 0
        self._entries: OrderedDict[tuple[int, LineShape], RunLines] = OrderedDict()
        self._dead: list[tuple[int, LineShape]] = []

    def __len__(self) -> int:
        self._purge()
        return len(self._entries)

    @property
    def size(self) -> int:
        """Octets held (``RunLines.size`` of every entry)."""
        self._purge()
        return self._size

    def get(self, run: Run, shape: LineShape) -> RunLines | None:
        self._purge()
        key = (id(run), shape)
        lines = self._entries.get(key)
        if lines is None or lines.run() is not run:
            return None
        self._entries.move_to_end(key)
        return lines

    def ref(self, run: Run, shape: LineShape) -> weakref.ref[Run]:
        """The weak reference a new ``RunLines`` of ``run`` holds: its death drops the entry."""
        key = (id(run), shape)
        dead = self._dead
        return weakref.ref(run, lambda _ref: dead.append(key))

    def put(self, run: Run, shape: LineShape, lines: RunLines) -> None:
        self._purge()
        if lines.run() is not run or lines.size > self.budget:
            return
        key = (id(run), shape)
        self._remove(key)
        while self._entries and self._size + lines.size > self.budget:
            self._remove(next(iter(self._entries)))
        self._entries[key] = lines
        self._size += lines.size

    def _purge(self) -> None:
        dead = self._dead
        while dead:
            key = dead.pop()
            lines = self._entries.get(key)
            if lines is not None and lines.run() is None:  # not a later run's lines under a reused id
                self._remove(key)

    def _remove(self, key: tuple[int, LineShape]) -> None:
        lines = self._entries.pop(key, None)
        if lines is not None:
            self._size -= lines.size

    def clear(self) -> None:
        self._entries.clear()
        self._dead.clear()
        self._size = 0


LINES = LinesCache()
"""The server's run lines (one event loop: no locking)."""


__all__ = [
    "LINES",
    "LINES_BUDGET",
    "LineShape",
    "LinesCache",
    "RunLines",
    "format_lines",
    "shape_of",
]
