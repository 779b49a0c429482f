"""Values the commands carry: sequence sets (RFC 9051 §9, RFC 5182 ``$``) and FETCH items (RFC 9051
§6.4.5, RFC 3516 BINARY, RFC 7162 MODSEQ). Part of the command AST re-exported by ``commands``."""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

# --------------------------------------------------------------------------------------------------
# Sequence sets (RFC 9051 §9 "sequence-set", RFC 5182 "$")


@dataclass(frozen=True, slots=True)
class SequenceSet:
    """A sequence set. ``ranges`` holds inclusive ``(low, high)`` pairs as sent; ``None`` is ``*``.

    ``saved`` is True for ``$`` (SEARCHRES, RFC 5182 §2.1), in which case ``ranges`` is empty.
    A range ``4:2`` is kept as sent; ``resolve`` orders it (RFC 9051 §9: "2:4 and 4:2 are equivalent").
    """

    ranges: tuple[tuple[int | None, int | None], ...]
    saved: bool = False
    _merged: dict[int, list[tuple[int, int]]] = field(
        default_factory=dict, init=False, compare=False, hash=False, repr=False
    )
    """``resolve`` results by ``largest``: SEARCH asks ``contains`` once per message."""

    def resolve(self, largest: int) -> list[tuple[int, int]]:
        """The set as sorted, disjoint, merged inclusive ranges, ``*`` replaced by ``largest``.

        Merging matters: a 64 KiB command line can repeat ``1:*`` 16,000 times, and whatever walks
        the ranges must cost no more than the mailbox, not ranges x mailbox. With ``largest == 0``
        (empty mailbox), ``*`` stands for 0 and callers find no messages.
        """
        cached = self._merged.get(largest)
        if cached is not None:
            return list(cached)
        spans = sorted(
            (min(a, b), max(a, b))
            for a, b in (
                (largest if low is None else low, largest if high is None else high)
                for low, high in self.ranges
            )
        )
        out: list[tuple[int, int]] = []
        for a, b in spans:
            if out and a <= out[-1][1] + 1:
                if b > out[-1][1]:
                    out[-1] = (out[-1][0], b)
            else:
                out.append((a, b))
        if len(self._merged) > 4:  # a set is resolved against one or two sizes in practice
            self._merged.clear()
        self._merged[largest] = out
        return list(out)

    def contains(self, number: int, largest: int) -> bool:
        """True if ``number`` lies in the set, given ``largest`` for ``*`` (a bisection)."""
        ranges = self._merged.get(largest) or self.resolve(largest)
        i = bisect.bisect_right(ranges, (number, float("inf"))) - 1
        return i >= 0 and ranges[i][0] <= number <= ranges[i][1]

    def iter_in(self, candidates: list[int], largest: int) -> Iterator[int]:
        """The members of the sorted list ``candidates`` that lie in the set, in ascending order, once each.

        Used to map a UID set onto the UIDs that exist: a UID set may name UIDs that do not exist
        (RFC 9051 §6.4.9), and ``1:4294967295`` must not be expanded number by number. The ranges
        are disjoint and sorted, so the slices come out in order and never overlap.
        """
        for a, b in self.resolve(largest):
            lo = bisect.bisect_left(candidates, a)
            hi = bisect.bisect_right(candidates, b)
            yield from candidates[lo:hi]


SEQ_ALL = SequenceSet(((1, None),))
"""``1:*``."""


# --------------------------------------------------------------------------------------------------
# FETCH items (RFC 9051 §6.4.5, RFC 3516 BINARY, RFC 7162 MODSEQ)


@dataclass(frozen=True, slots=True)
class Section:
    """A body section spec (RFC 9051 §6.4.5 ``section``).

    ``part`` is the part path (``(1, 2)`` for ``1.2``; empty for the whole message).
    ``text`` is one of None, ``"HEADER"``, ``"HEADER.FIELDS"``, ``"HEADER.FIELDS.NOT"``, ``"TEXT"``,
    ``"MIME"``; ``fields`` holds the header field names for the two FIELDS forms, upper-cased as the
    grammar reads them case-insensitively but echoed as sent (``fields_as_sent``).
    """

    part: tuple[int, ...] = ()
    text: Literal["HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME"] | None = None
    fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FetchAtt:
    """A simple FETCH item: ``ENVELOPE``, ``FLAGS``, ``INTERNALDATE``, ``RFC822.SIZE``, ``UID``,
    ``BODY`` (non-extensible structure), ``BODYSTRUCTURE``, ``RFC822``, ``RFC822.HEADER``,
    ``RFC822.TEXT``, ``MODSEQ`` (RFC 7162 §3.1.4), ``SAVEDATE`` (RFC 8514), ``EMAILID``/``THREADID``
    (RFC 8474). The macros ALL, FAST and FULL are expanded by the grammar (RFC 9051 §6.4.5)."""

    name: str


@dataclass(frozen=True, slots=True)
class FetchBody:
    """``BODY[section]<partial>`` or ``BODY.PEEK[...]`` (RFC 9051 §6.4.5).

    ``partial`` is ``(origin, count)``; the response names only the origin (RFC 3501 §7.4.2).
    """

    section: Section
    peek: bool = False
    partial: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class FetchBinary:
    """``BINARY[part]<partial>``, ``BINARY.PEEK[...]`` (RFC 3516 §4.2), ``BINARY.SIZE[part]`` (``size``)."""

    part: tuple[int, ...]
    peek: bool = False
    partial: tuple[int, int] | None = None
    size: bool = False


FetchItem = FetchAtt | FetchBody | FetchBinary
