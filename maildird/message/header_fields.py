"""BODY[HEADER], BODY[HEADER.FIELDS (...)] and BODY[HEADER.FIELDS.NOT (...)] straight from a header block
(RFC 9051 §6.4.5), without building ``HeaderField`` objects.

Theory of operation
-------------------
A message list (Thunderbird's first look at a folder) asks for a dozen header fields of every message.
Splitting each header into ``HeaderField`` values (``parse._parse_fields``) and filtering them costs more
than everything else such a FETCH does, so the fields are picked out by one compiled regular expression
per field list, and the selected octets are returned exactly as the field parser would give them:

- The input is a header in CRLF form (``parse.to_crlf``): every LF ends a line and follows a CR.
- A field starts a line with a name (at least one octet, none of them SP, HTAB or ":"), optional blanks
  and the line's first colon; its raw form runs through its continuation lines (lines that start with SP
  or HTAB) and their CRLF. Any other line (an mbox ``From`` line, garbage) and continuation lines that
  follow it belong to no field and are never selected (``parse._parse_fields`` skips them the same way).
- Names match case-insensitively (RFC 5322 §1.2.2; ASCII case folding, as ``bytes.upper`` does); the
  requested names are upper-cased the way ``Part.header`` does it. The fields come in the message's order,
  then the blank line (RFC 9051 §6.4.5: "the subset of the header ... including the blank line"); a last
  field without a line break (a file that ends in its header) gets a CRLF first.

``tests/rfc/test_rfc9051_6_4_5_header_fields.py`` holds the selector to the field parser's answer over
tables and generated headers (folding, garbage lines, blanks before the colon, NUL and 8-bit octets).
"""

from __future__ import annotations

import functools
import re

from maildird.message.parse import header_block, to_crlf

CRLF = b"\r\n"
NUL_REPLACEMENT = b"\x80"
"""What a NUL octet is sent as outside BINARY (RFC 9051 §9 CHAR8; Dovecot does the same)."""

SELECTOR_CACHE_SIZE = 256
"""Compiled field selectors kept (one per distinct field list a client asks for)."""

# The rest of a field: its first line (CR included) and every continuation line, without the LF that
# ends the last one.
_FIELD_LINES = rb"[^\n]*(?:\n[ \t][^\n]*)*"
_ANY_NAME = rb"[^ \t:\n]+[ \t]*:"
_UNMATCHABLE = frozenset(b" \t:\n")


def wanted_keys(names: tuple[str, ...]) -> frozenset[bytes]:
    """The requested field names as ``HeaderField.key`` values: upper-cased as ``str``, then ASCII with
    ``?`` for anything else (what ``Part.header`` compares with)."""
    return frozenset(n.upper().encode("ascii", "replace") for n in names)


class FieldSelector:
    """Selects HEADER.FIELDS (``exclude`` False) or HEADER.FIELDS.NOT (``exclude`` True) for one field
    list. Build it with ``selector``, which caches them.

    Two compiled forms of one pattern: the usual one anchors each field on the LF before it (a literal
    first octet lets the regex engine skip from line to line instead of trying every position, about
    twice as fast as ``^``); the other, with ``^``, serves a header that does not end with a line break
    (a file that is all header), whose last field has no LF after it."""

    __slots__ = ("_by_line", "_findall", "_names", "_narrows", "exclude", "key")

    def __init__(self, names: tuple[str, ...], exclude: bool) -> None:
        self.exclude = exclude
        # A name holding SP, HTAB, ":" or LF can never be a field's name: it selects (or excludes) nothing.
        keys = sorted(k for k in wanted_keys(names) if k and not _UNMATCHABLE.intersection(k))
        kind = "HEADER.FIELDS.NOT" if exclude else "HEADER.FIELDS"
        self._names = frozenset(k.decode("ascii") for k in keys)
        self._narrows: dict[str, bool] = {}  # derivable_from's answers, by the other selection's key
        self.key: str = f"{kind} ({' '.join(k.decode('ascii') for k in keys)})"
        """What the selection depends on, canonically: the kind and the sorted field keys (a cached
        section is stored under it, ``store.maildir.sectioncache``); equal keys select the same octets
        (the fields come in the message's order, whatever the order of the request). Sections are kept
        on disk across versions: a change to what ``select`` or ``header_section_of`` returns must bump
        ``store.maildir.sectionfile.SCHEMA_VERSION``."""
        alternatives = b"|".join(re.escape(k) for k in keys)
        head: bytes | None
        if exclude:
            head = (rb"(?!(?:" + alternatives + rb")[ \t]*:)" if keys else b"") + _ANY_NAME
        elif keys:
            head = rb"(?:" + alternatives + rb")[ \t]*:"
        else:
            head = None
        self._findall = self._by_line = None
        if head is not None:
            body = head + _FIELD_LINES
            self._findall = re.compile(rb"\n(" + body + rb")", re.IGNORECASE).findall
            self._by_line = re.compile(rb"^" + body + rb"\n?", re.MULTILINE | re.IGNORECASE).findall

    def select(self, header: bytes) -> bytes:
        """The selected fields of ``header`` (CRLF form, fields only: no blank line) and the blank line;
        NUL octets are left as they are (``header_section`` replaces them)."""
        if self._findall is None or self._by_line is None:
            return CRLF
        if not header or header.endswith(b"\n"):
            # Each match is a field without the LF that ends its last line (the next match's anchor).
            found: list[bytes] = self._findall(b"\n" + header)
            return b"\n".join(found) + b"\n" + CRLF if found else CRLF
        out = b"".join(self._by_line(header))
        if out and not out.endswith(CRLF):
            out += CRLF  # the last field of a file that ends without a line break
        return out + CRLF

    def section(self, raw: bytes) -> tuple[bytes, int]:
        """``header_section_of(raw, self)``."""
        return header_section_of(raw, self)

    def derivable_from(self, key: str) -> bool:
        """Whether ``section_from`` may narrow a section selected by the selector whose ``key`` is
        ``key``: both HEADER.FIELDS, and every field this one selects is one that one selects."""
        known = self._narrows.get(key)
        if known is None:
            # Split on SP only: a key's names hold no SP, but may hold other white space.
            known = (
                not self.exclude
                and key.startswith(_FIELDS_KEY_PREFIX)
                and key.endswith(")")
                and self._names.issubset(key[len(_FIELDS_KEY_PREFIX) : -1].split(" "))
            )
            if len(self._narrows) < SELECTOR_CACHE_SIZE:
                self._narrows[key] = known
        return known

    def section_from(self, wider: tuple[bytes, int]) -> tuple[bytes, int]:
        """This selection of a message, from ``wider``, the message's section of a selection it is
        ``derivable_from``: the same octets as ``section(raw)``. ``wider`` holds, in the message's
        order and each with its continuation lines and CRLF, every field whose name this selection
        names, then the blank line; selecting from its fields finds the same fields in the same order
        (field boundaries are the same: each field there starts a line and ends before the next
        field's name). Its NULs were already sent as 0x80, which no field name in a key can hold."""
        data, header_length = wider
        return self.select(data[: -len(CRLF)]), header_length


_FIELDS_KEY_PREFIX = "HEADER.FIELDS ("


class WholeHeader:
    """``BODY[HEADER]`` / ``RFC822.HEADER`` in the shape of a ``FieldSelector``: ``key`` None (cheap to
    build again from the header block, and as large as it, so never kept as a section of its own)."""

    __slots__ = ()

    key: str | None = None

    def section(self, raw: bytes) -> tuple[bytes, int]:
        return header_section_of(raw, None)

    def derivable_from(self, key: str) -> bool:
        return False

    def section_from(self, wider: tuple[bytes, int]) -> tuple[bytes, int]:
        raise ValueError("the whole header is never derived from a selection")


WHOLE_HEADER = WholeHeader()

HeaderSpec = FieldSelector | WholeHeader
"""What one header section item of a FETCH selects (``section(raw)`` renders it)."""


@functools.lru_cache(maxsize=SELECTOR_CACHE_SIZE)
def selector(names: tuple[str, ...], exclude: bool) -> FieldSelector:
    """The (cached) selector for one field list."""
    return FieldSelector(names, exclude)


def header_end(header: bytes) -> tuple[int, int]:
    """``(fields_end, header_end)`` of a CRLF message: where its last field's CRLF ends, and where the
    blank line after it ends (``Part`` computes the same offsets; both are ``len`` without a blank line)."""
    if header.startswith(CRLF):
        return 0, 2
    blank = header.find(b"\r\n\r\n")
    if blank < 0:
        return len(header), len(header)
    return blank + 2, blank + 4


def crlf_header(raw: bytes) -> tuple[bytes, int, int]:
    """The header block of ``raw`` (a message or its header, as stored: LF or CRLF) in CRLF form, with
    its ``header_end`` offsets: ``(to_crlf(header_block(raw)), *header_end(...))`` in one pass over an
    LF-only header (most Maildirs), which is what a header-only FETCH needs of every message."""
    lf = raw.find(b"\n\n")
    limit = len(raw) if lf < 0 else lf + 2
    if raw.startswith(b"\n") or raw.find(b"\r", 0, limit) >= 0:
        header = to_crlf(header_block(raw))
        return (header, *header_end(header))
    # No CR before the first empty line: the block is raw[:limit], and its first "\r\n\r\n" after the
    # conversion is that empty line.
    header = raw[:limit].replace(b"\n", b"\r\n")
    if lf < 0:
        return header, len(header), len(header)
    return header, len(header) - 2, len(header)


def header_section_of(raw: bytes, fields: FieldSelector | None) -> tuple[bytes, int]:
    """``BODY[HEADER]`` (``fields`` None) or the selected fields of the message whose header block
    (as stored, LF or CRLF) is ``raw``, NUL sent as 0x80 like ``body_section``; and the length of the
    CRLF header, which bounds the section data one FETCH may send of the message. That length is 0
    exactly when ``raw`` is empty (a nonempty block has a nonempty header: ``header_block``)."""
    header, end, blank_end = crlf_header(raw)
    data = header[:blank_end] if fields is None else fields.select(header[:end])
    if b"\0" in data:
        data = data.replace(b"\0", NUL_REPLACEMENT)
    return data, len(header)


def header_section(header: bytes, text: str, fields: tuple[str, ...] = ()) -> bytes:
    """``BODY[HEADER]`` / ``BODY[HEADER.FIELDS (fields)]`` / ``BODY[HEADER.FIELDS.NOT (fields)]`` of a
    message given in CRLF form (its header block is enough), with NUL sent as 0x80 like ``body_section``.
    Any other ``text`` gives ``b""``."""
    end, blank_end = header_end(header)
    if text == "HEADER":
        data = header[:blank_end]
    elif text == "HEADER.FIELDS" or text == "HEADER.FIELDS.NOT":
        data = selector(fields, text == "HEADER.FIELDS.NOT").select(header[:end])
    else:
        return b""
    if b"\0" in data:
        data = data.replace(b"\0", NUL_REPLACEMENT)
    return data
