"""Header fields found in a message's bytes (RFC 5322 §2.2): the CRLF form of a stored message, the header
block as stored, and the scanners that split a header into fields or pick the fields of one name.

Theory of operation
-------------------
A field is kept as a ``FieldSpan`` (name, raw, value, key) until somebody asks for it, and only then made a
``HeaderField`` (``parse.Part`` does that). A clean header (every CR and LF in a CRLF) is split by one
regular expression (``_FIELD``); any other by a line walk (``_scan_fields_slow``) that gives the same
fields. The fields of one name are found with ``bytes.find`` on the lower-cased header and confirmed by
one anchored match (``_named_fields``), without scanning the rest.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

_CRLF = b"\r\n"


@dataclass(frozen=True, slots=True)
class HeaderField:
    """One header field. ``name`` as written (no colon, trailing blanks removed); ``raw`` is the whole field
    with its continuation lines and final CRLF; ``value`` is everything after the colon, still folded."""

    name: bytes
    raw: bytes
    value: bytes
    key: bytes
    """The name upper-cased, for case-insensitive comparison (RFC 5322 §1.2.2)."""

    def unfolded(self) -> bytes:
        """The value with folding removed (RFC 5322 §2.2.3: CRLF before WSP is deleted) and outer blanks
        stripped."""
        return self.value.replace(b"\r\n", b"").replace(b"\n", b"").strip(b" \t")


def to_crlf(raw: bytes) -> bytes:
    """``raw`` with every bare LF turned into CRLF (existing CRLFs untouched)."""
    if b"\r" not in raw:
        return raw.replace(b"\n", b"\r\n")  # LF-only (most Maildirs): one scan and one copy
    lf = raw.count(b"\n")
    if lf == 0 or raw.count(b"\r\n") == lf:
        return raw
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def header_block(raw: bytes) -> bytes:
    """The header of ``raw`` as stored (LF or CRLF), with the empty line that ends it; all of ``raw`` when
    there is no empty line (RFC 5322 §2.1: the header ends at the first empty line)."""
    if raw.startswith(b"\n"):
        return raw[:1]
    if raw.startswith(b"\r\n"):
        return raw[:2]
    lf = raw.find(b"\n\n")
    # Look for a CRLF empty line only before the first LF one: an LF file holds none, and must not be
    # scanned to its end (a 4 MB attachment) to learn that.
    crlf = raw.find(b"\n\r\n", 0, len(raw) if lf < 0 else lf + 1)
    if crlf >= 0:
        return raw[: crlf + 3]
    return raw if lf < 0 else raw[: lf + 2]


_FIELD = re.compile(rb"^([^ \t:\r\n]+)[ \t]*:([^\r\n]*(?:\r\n[ \t][^\r\n]*)*(?:\r\n)?)", re.MULTILINE)
"""One field in a header without bare CRs: a name (no blanks, no colon) at a line start, optional blanks,
the colon, then the rest of the line and every continuation line (one starting with a blank)."""


FieldSpan = tuple[bytes, bytes, bytes, bytes]
"""A header field before it becomes a ``HeaderField``: (name, raw, value, key)."""

_NAME_BLOCKERS = frozenset(b" \t:\r\n")
"""Octets no field name holds: a key with one of them names no field."""


@functools.lru_cache(maxsize=256)
def _named_field(key: bytes, lf: bool = False) -> re.Pattern[bytes]:
    """``_FIELD`` for the one name ``key`` (ASCII case-insensitive, as ``bytes.upper`` compares), to be
    matched at a line start; with ``lf``, for a header whose lines end in a bare LF."""
    if lf:
        return re.compile(rb"(" + re.escape(key) + rb")[ \t]*:([^\n]*(?:\n[ \t][^\n]*)*\n?)", re.IGNORECASE)
    return re.compile(
        rb"(" + re.escape(key) + rb")[ \t]*:([^\r\n]*(?:\r\n[ \t][^\r\n]*)*(?:\r\n)?)", re.IGNORECASE
    )


def stored_field_values(block: bytes, low: bytes, name: str) -> list[bytes] | None:
    """The unfolded values of every ``name`` field of a header block as stored (``header_block``; ``low``
    is it lower-cased) when no CR is in it: the values ``ParsedMessage.parse_header(block)`` gives for
    ``Part.fields_named(name)``, found without converting or parsing (its CRLF form differs only by a CR
    before each LF). None when the block holds a CR."""
    if b"\r" in block:
        return None
    key = name.upper().encode("ascii", "replace")
    spans = _named_fields(block, 0, len(block), low, key, first=False, lf=True)
    return [span[2].replace(b"\n", b"").strip(b" \t") for span in spans]


def _named_fields(
    buf: bytes, start: int, end: int, low: bytes, key: bytes, *, first: bool, lf: bool = False
) -> list[FieldSpan]:
    """The fields called ``key`` in the clean header ``buf[start:end]`` (``low`` is it lower-cased): the
    lines that start with the name, found with ``bytes.find`` and confirmed by ``_named_field``; the
    same spans ``_scan_fields`` gives for that name. With ``first``, only the first."""
    if not key or not _NAME_BLOCKERS.isdisjoint(key):
        return []
    pattern = _named_field(key, lf)
    name = key.lower()
    out: list[FieldSpan] = []
    line = 0 if low.startswith(name) else -1
    nl_name = b"\n" + name
    while True:
        if line >= 0:
            m = pattern.match(buf, start + line, end)
            if m is not None:
                out.append((m[1], m[0], m[2], m[1].upper()))
                if first:
                    return out
        found = low.find(nl_name, line + 1 if line >= 0 else 0)
        if found < 0:
            return out
        line = found + 1


def _scan_fields(buf: bytes, start: int, end: int) -> list[FieldSpan]:
    """Header fields in ``buf[start:end]`` (whole CRLF-terminated lines) as ``FieldSpan``. Lines that are
    neither a field nor a continuation (an mbox ``From `` line, garbage) are skipped; they stay in the raw
    header.

    A header whose every CR and LF belong to a CRLF (all but broken mail) is read with one regular
    expression (``_FIELD``); ``_scan_fields_slow`` walks the lines one by one and gives the same fields
    for it (tests/message/test_search_fast.py holds them together)."""
    region = buf[start:end]
    crlf = region.count(b"\r\n")
    if region.count(b"\r") != crlf or region.count(b"\n") != crlf:
        return _scan_fields_slow(buf, start, end)
    return [(m[1], m[0], m[2], m[1].upper()) for m in _FIELD.finditer(region)]


def _scan_fields_slow(buf: bytes, start: int, end: int) -> list[FieldSpan]:
    """``_scan_fields`` line by line (any input, bare CRs included)."""
    fields: list[FieldSpan] = []
    name = b""
    field_start = -1
    value_start = 0
    pos = start
    while pos < end:
        nl = buf.find(_CRLF, pos, end)
        line_end = end if nl < 0 else nl + 2
        first = buf[pos : pos + 1]
        if first in (b" ", b"\t"):
            pos = line_end  # continuation of the current field (or of nothing)
            continue
        if field_start >= 0:
            fields.append((name, buf[field_start:pos], buf[value_start:pos], name.upper()))
            field_start = -1
        colon = buf.find(b":", pos, line_end)
        if colon > pos:
            candidate = buf[pos:colon].rstrip(b" \t")
            if candidate and b" " not in candidate and b"\t" not in candidate:
                name, field_start, value_start = candidate, pos, colon + 1
        pos = line_end
    if field_start >= 0:
        fields.append((name, buf[field_start:end], buf[value_start:end], name.upper()))
    return fields


def _parse_fields(buf: bytes, start: int, end: int) -> tuple[HeaderField, ...]:
    """Header fields in ``buf[start:end]`` as ``HeaderField`` values (``_scan_fields``)."""
    return tuple(HeaderField(*span) for span in _scan_fields(buf, start, end))
