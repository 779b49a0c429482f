"""A selection's stored sections packed into one blob (``sectionfile`` keeps it in its ``pack`` table), so
that a message list's first FETCH after a restart reads one value instead of 10,000 rows.

Theory of operation
-------------------
Reading 10,000 rows of ``section`` costs SQLite a row step and Python four objects per row (the row
tuple, UID, octets and size); after a restart that is most of what a cold header fetch does besides
sending (12-25 ms of a 60-80 ms FETCH on the benchmark machine). A pack holds the same rows as three
arrays of 32-bit numbers (UIDs, CRLF header sizes, section lengths) and the sections' octets one after
another; ``decode`` makes the sections with one slice each and the mapping with C-level ``zip``/``dict``.

A pack is only a copy of rows, and a row never changes under its ``(selection, UID)`` within one file
(a message's octets never change; another UIDVALIDITY or another rendering makes the file again,
``sectionfile.SCHEMA_VERSION``). So a pack never holds a wrong section, only possibly too few (mail
that came after it) or too many (messages expunged since): the reader serves from it only UIDs the
folder still knows, exactly as from the rows, and takes the others from the rows (``sectioncache``
decides when a pack is stale enough to write again).

Layout (little-endian): ``MAGIC``, the count ``n``, then ``n`` UIDs, ``n`` sizes, ``n`` lengths (each a
32-bit unsigned number), then the octets. ``decode`` checks the arithmetic (the lengths add up to what
follows the arrays) and returns None for anything else: a damaged pack is a miss, never an exception
or a wrong slice.
"""

from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Mapping, Sequence
from itertools import accumulate, islice

MAGIC = b"SPK1"
"""The first octets of every pack; another version of the layout takes another magic."""

_HEAD = struct.Struct("<4sI")
_UINT32_MAX = 0xFFFFFFFF

Section = tuple[bytes, int]
"""A rendered header section and the length of the message's CRLF header (``sectionfile.Section``)."""


def _u32(values: Sequence[int]) -> array[int]:
    out = array("I", values)
    if out.itemsize != 4:  # pragma: no cover (every platform CPython builds on has a 4-octet "I")
        raise ValueError("array('I') is not 32 bits here")
    if sys.byteorder != "little":  # pragma: no cover
        out.byteswap()
    return out


def encode(sections: Mapping[int, Section]) -> bytes:
    """The pack of ``sections`` (UID -> section), in ascending UID order. Raises ``ValueError`` for a
    UID, size or length that does not fit in 32 bits (the caller then writes no pack)."""
    uids = sorted(sections)
    pieces = [sections[uid] for uid in uids]
    sizes = [size for _data, size in pieces]
    lengths = [len(data) for data, _size in pieces]
    for column in (uids, sizes, lengths):
        if column and (min(column) < 0 or max(column) > _UINT32_MAX):
            raise ValueError("a value of the pack does not fit in 32 bits")
    return b"".join(
        (
            _HEAD.pack(MAGIC, len(uids)),
            _u32(uids).tobytes(),
            _u32(sizes).tobytes(),
            _u32(lengths).tobytes(),
            *[data for data, _size in pieces],
        )
    )


def _column(blob: bytes, start: int, count: int) -> array[int]:
    out = array("I")
    out.frombytes(blob[start : start + 4 * count])
    if sys.byteorder != "little":  # pragma: no cover
        out.byteswap()
    return out


def decode(blob: object) -> dict[int, Section] | None:
    """The sections a pack holds by UID, or None when ``blob`` is not a well-formed pack."""
    if not isinstance(blob, bytes) or len(blob) < _HEAD.size:
        return None
    magic, count = _HEAD.unpack_from(blob)
    body = _HEAD.size + 12 * count
    if magic != MAGIC or len(blob) < body:
        return None
    uids = _column(blob, _HEAD.size, count)
    sizes = _column(blob, _HEAD.size + 4 * count, count)
    lengths = _column(blob, _HEAD.size + 8 * count, count)
    if sum(lengths) != len(blob) - body:
        return None
    ends = list(accumulate(lengths, initial=body))
    # ``ends`` holds one more than ``lengths``: each pair of neighbours bounds one section.
    datas = [blob[a:b] for a, b in zip(ends, islice(ends, 1, None), strict=False)]
    found = dict(zip(uids, zip(datas, sizes, strict=True), strict=True))
    return found if len(found) == count else None  # a UID twice: not a pack this module wrote


__all__ = ["MAGIC", "Section", "decode", "encode"]
