"""One message as IMAP sees it: CRLF octets, header fields and the MIME tree (RFC 9051 §6.4.5, RFC 2046).

Theory of operation
-------------------
``ParsedMessage.parse`` converts the file's bytes to the CRLF form once (files on disk may be LF-only; IMAP
counts and sends CRLF, RFC 9051 §2.2 and §6.4.5 RFC822.SIZE). Everything afterwards is offsets into that one
``bytes`` object: a ``Part`` is ``start`` (first header octet), ``header_end`` (after the last field's CRLF),
``body_start`` (after the blank line) and ``end``. No part's bytes are copied until a section is asked for.

The MIME tree is built lazily (``Part.children`` / ``Part.message``) with our own splitter over bytes rather
than the ``email`` package: it is an order of magnitude faster for BODYSTRUCTURE over a whole mailbox, and
it keeps exact octet offsets, which ``email`` does not. The splitter follows RFC 2046 §5.1.1: a delimiter is
``--boundary`` at the start of a line, followed by optional transport padding (or ``--`` for the closing
one); the CRLF before a delimiter belongs to the delimiter, not to the part. A part missing its closing
delimiter ends at its parent's end.

Malformed input never raises. A multipart with no boundary parameter or no delimiter in its body, and any
part nested deeper than ``MAX_MIME_DEPTH`` (or past ``MAX_MIME_PARTS`` in one message), is treated as a
single ``text/plain`` leaf (``Part.degraded``), so FETCH BODYSTRUCTURE always has an answer.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from maildird.message.fields import ContentType, parse_content_type

MAX_MIME_DEPTH = 100
"""Nesting depth (multiparts and message/rfc822 together) beyond which parts are not split further.
Dovecot's message parser uses the same limit (``max_nested_mime_parts``)."""

MAX_MIME_PARTS = 10000
"""Parts per message beyond which no more parts are split off (Dovecot: ``max_total_mime_parts``)."""

MESSAGE_SUBTYPES = frozenset({"rfc822"})
"""``message/*`` subtypes described with envelope, body and lines. Not ``message/global`` (RFC 6532 §3.5):
RFC 3501's grammar allows only RFC822 there, so an IMAP4rev1 client would misparse it (Dovecot 2.3 also
treats message/global as a basic part)."""

_CRLF = b"\r\n"
_DEFAULT_TYPE = ContentType("text", "plain", (("charset", b"us-ascii"),), defaulted=True)
"""RFC 2045 §5.2: a part without (usable) Content-Type is text/plain; charset=us-ascii."""
_DIGEST_DEFAULT = ContentType("message", "rfc822", (), defaulted=True)


CONTENT_TYPE_CACHE = 1024
"""Distinct Content-Type values whose parse is kept: most parts of a mailbox say one of a few dozen
things (``text/plain; charset=utf-8``), and tokenizing the value was a tenth of a SEARCH TEXT."""

_WS = rb"[ \t\r\n]*"
_TOKEN = rb"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+"
_NAME = rb"[!#$%&'+\-.0-9A-Z^_`a-z{|}~]+"  # a token without "*": no RFC 2231 sections to join
_PARAM = (
    rb";"
    + _WS
    + rb"(?:("
    + _NAME
    + rb")"
    + _WS
    + rb"="
    + _WS
    + rb'(?:"([^"\\]*)"|('
    + _TOKEN
    + rb"))"
    + _WS
    + rb")?"
)
_SIMPLE_TYPE = re.compile(
    _WS
    + rb"("
    + _TOKEN
    + rb")"
    + _WS
    + rb"/"
    + _WS
    + rb"("
    + _TOKEN
    + rb")"
    + _WS
    + rb"((?:"
    + _PARAM
    + rb")*)"
)
_SIMPLE_PARAM = re.compile(_PARAM)


def quick_content_type(value: bytes) -> ContentType | None:
    """``fields.parse_content_type`` for the shape nearly every Content-Type has (RFC 2045 §5.1:
    ``type/subtype`` and ``; name=value`` parameters made of tokens and quoted strings without
    escapes, no comments, no RFC 2231 sections), by two regular expressions instead of the octet by
    octet tokenizer; None when ``value`` has another shape. The same result where it answers
    (tests/message/test_search_fast.py)."""
    m = _SIMPLE_TYPE.fullmatch(value)
    if m is None:
        return None
    params = tuple(
        (p[1].decode("ascii"), p[2] if p[2] is not None else p[3])
        for p in _SIMPLE_PARAM.finditer(m[3])
        if p[1] is not None
    )
    return ContentType(m[1].decode("ascii"), m[2].decode("ascii"), params)


@functools.lru_cache(maxsize=CONTENT_TYPE_CACHE)
def _content_type(value: bytes) -> ContentType | None:
    """``fields.parse_content_type`` remembered by value (its result is frozen, so sharing it is safe)."""
    quick = quick_content_type(value)
    return quick if quick is not None else parse_content_type(value)


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


TARGETED_LOOKUPS = 4
"""Lookups by name served by a targeted search before the header is scanned whole (``Part.header``)."""

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


class Part:
    """A MIME entity: a header and a body, by offsets into the message's CRLF bytes.

    The top-level message is a ``Part`` too. ``content_type`` is the effective type (defaults applied:
    ``text/plain; charset=us-ascii``, or ``message/rfc822`` inside ``multipart/digest``, RFC 2046 §5.1.5).
    """

    __slots__ = (
        "_children",
        "_degraded",
        "_fields",
        "_index",
        "_lowered",
        "_made",
        "_message",
        "_named",
        "_spans",
        "_type",
        "body_start",
        "buf",
        "depth",
        "end",
        "header_end",
        "in_digest",
        "owner",
        "start",
    )

    def __init__(self, owner: ParsedMessage, start: int, end: int, depth: int, in_digest: bool) -> None:
        buf = owner.data
        self.owner = owner
        self.buf = buf
        self.start = start
        self.end = end
        self.depth = depth
        self.in_digest = in_digest
        if buf.startswith(_CRLF, start) and start + 2 <= end:
            self.header_end, self.body_start = start, start + 2
        else:
            blank = buf.find(b"\r\n\r\n", start, end)
            if blank < 0:
                self.header_end = self.body_start = end
            else:
                self.header_end, self.body_start = blank + 2, blank + 4
        self._spans: list[FieldSpan] | None = None
        self._made: dict[int, HeaderField] | None = None
        self._fields: tuple[HeaderField, ...] | None = None
        self._index: dict[bytes, int] | None = None
        self._named: dict[bytes, HeaderField | None] | None = None
        self._lowered: bytes | None = None
        self._children: tuple[Part, ...] | None = None
        self._message: Part | None = None
        self._degraded = False
        # The effective Content-Type is worked out on first use: a header fetch never needs it.
        self._type: ContentType | None = None

    # -- header ------------------------------------------------------------------------------------

    # Fields are scanned into spans once; a ``HeaderField`` is made only for a field somebody asks for
    # (making one per line cost more than finding them), and made once, so repeated lookups and
    # ``fields`` hand out the same objects. The first few lookups by name in a clean header (every CR
    # and LF in a CRLF) do not scan at all: one regular expression finds the field (``_named_field``);
    # SEARCH and the MIME tree ask for two or three fields of a header of twenty.

    def _field_spans(self) -> list[FieldSpan]:
        if self._spans is None:
            self._spans = _scan_fields(self.buf, self.start, self.header_end)
        return self._spans

    def _field_at(self, i: int) -> HeaderField:
        made = self._made
        if made is None:
            made = self._made = {}
        field = made.get(i)
        if field is None:
            field = made[i] = HeaderField(*self._field_spans()[i])
        return field

    @property
    def fields(self) -> tuple[HeaderField, ...]:
        if self._fields is None:
            self._fields = tuple(self._field_at(i) for i in range(len(self._field_spans())))
        return self._fields

    def _clean(self) -> bool:
        """True when every CR and LF of the header belongs to a CRLF (``_scan_fields``)."""
        if self._lowered is None:
            buf, start, end = self.buf, self.start, self.header_end
            crlf = buf.count(_CRLF, start, end)
            clean = buf.count(b"\r", start, end) == crlf and buf.count(b"\n", start, end) == crlf
            self._lowered = buf[start:end].lower() if clean else b""
        return self._lowered != b"" or self.start == self.header_end

    def _low(self) -> bytes:
        """The header lower-cased (after ``_clean`` said yes)."""
        assert self._lowered is not None
        return self._lowered

    def header(self, name: str) -> HeaderField | None:
        """The first field called ``name`` (case-insensitive), or None."""
        key = name.upper().encode("ascii", "replace")
        named = self._named
        if named is None:
            named = self._named = {}
        elif key in named:
            return named[key]
        field: HeaderField | None
        if self._index is None and len(named) < TARGETED_LOOKUPS and self._spans is None and self._clean():
            spans = _named_fields(self.buf, self.start, self.header_end, self._low(), key, first=True)
            field = HeaderField(*spans[0]) if spans else None
        else:
            index = self._index
            if index is None:
                index = {}
                for n, span in enumerate(self._field_spans()):
                    index.setdefault(span[3], n)
                self._index = index
            i = index.get(key)
            field = None if i is None else self._field_at(i)
        named[key] = field
        return field

    def fields_named(self, name: str) -> list[HeaderField]:
        """Every field called ``name`` (case-insensitive), in order."""
        key = name.upper().encode("ascii", "replace")
        if self._spans is None and self._clean():
            spans = _named_fields(self.buf, self.start, self.header_end, self._low(), key, first=False)
            return [HeaderField(*span) for span in spans]
        return [self._field_at(i) for i, span in enumerate(self._field_spans()) if span[3] == key]

    def header_value(self, name: str) -> bytes | None:
        """The first ``name`` field's unfolded value, or None when the field is absent."""
        f = self.header(name)
        return None if f is None else f.unfolded()

    @property
    def header_bytes(self) -> bytes:
        """The header including the blank line that ends it (when there is one)."""
        return self.buf[self.start : self.body_start]

    @property
    def body(self) -> bytes:
        return self.buf[self.body_start : self.end]

    @property
    def body_size(self) -> int:
        return self.end - self.body_start

    @property
    def body_lines(self) -> int:
        """Text lines in the body (RFC 9051 §7.5.2 body-fld-lines): the number of CRLFs. A last line
        without a line break is not counted, as Dovecot does."""
        return self.buf.count(_CRLF, self.body_start, self.end)

    # -- type --------------------------------------------------------------------------------------

    def _effective_type(self) -> ContentType:
        value = self.header_value("Content-Type")
        ct = _content_type(value) if value is not None else None
        if ct is None:
            if self.in_digest:
                return _DIGEST_DEFAULT
            return _DEFAULT_TYPE
        if ct.maintype == "multipart" and (ct.param("boundary") is None or self.depth >= MAX_MIME_DEPTH):
            self._degraded = True
            return _DEFAULT_TYPE
        if ct.maintype == "message" and ct.subtype in MESSAGE_SUBTYPES and self.depth >= MAX_MIME_DEPTH:
            self._degraded = True
            return _DEFAULT_TYPE
        return ct

    @property
    def _declared_type(self) -> ContentType:
        """The effective type before splitting (computed once, on first use)."""
        if self._type is None:
            self._type = self._effective_type()
        return self._type

    @property
    def degraded(self) -> bool:
        """True when the part is served as text/plain although it claims a structure (module docstring)."""
        _ = self.content_type
        return self._degraded

    @property
    def content_type(self) -> ContentType:
        declared = self._declared_type
        if declared.maintype == "multipart" and self._children is None:
            _ = self.children  # splitting may degrade the part to text/plain
            return self._declared_type
        return declared

    @property
    def is_multipart(self) -> bool:
        return self.content_type.maintype == "multipart" and bool(self.children)

    @property
    def is_message(self) -> bool:
        """True for message/rfc822 (and message/global): the body is a message of its own."""
        return self.content_type.maintype == "message" and self.content_type.subtype in MESSAGE_SUBTYPES

    @property
    def is_text(self) -> bool:
        return self.content_type.maintype == "text"

    # -- structure ---------------------------------------------------------------------------------

    @property
    def children(self) -> tuple[Part, ...]:
        """The parts of a multipart body (empty for anything else)."""
        if self._children is None:
            multipart = self._declared_type.maintype == "multipart"
            self._children = self._split() if multipart else ()
            if multipart and not self._children:
                # No delimiter at all: degrade to a text leaf rather than an empty multipart.
                self._degraded = True
                self._type = _DEFAULT_TYPE
        return self._children

    @property
    def message(self) -> Part | None:
        """For message/rfc822: the encapsulated message (its header is the body's first part)."""
        if self._message is None and self.is_message:
            if not self.owner.take_part():
                return None
            self._message = Part(self.owner, self.body_start, self.end, self.depth + 1, False)
        return self._message

    def _split(self) -> tuple[Part, ...]:
        declared = self._declared_type
        boundary = declared.param("boundary")
        if not boundary:
            return ()
        delim = b"--" + boundary
        buf, lo, hi = self.buf, self.body_start, self.end
        digest = declared.subtype == "digest"
        starts: list[int] = []  # content start of each part
        ends: list[int] = []  # content end of each part (before the CRLF of the next delimiter)
        pos = lo
        closed = False
        while pos < hi:
            if pos == lo and buf.startswith(delim, lo, hi):
                at, line_start = lo, lo
            else:
                # pos - 2: the CRLF ending one delimiter line may also start the next one ("--b\n--b\n"
                # is an empty part, as Dovecot reads it).
                found = buf.find(b"\r\n" + delim, max(lo, pos - 2), hi)
                if found < 0:
                    break
                at, line_start = found, found + 2
            after = line_start + len(delim)
            nl = buf.find(_CRLF, after, hi)
            line_end = hi if nl < 0 else nl + 2
            rest = buf[after : hi if nl < 0 else nl]
            if rest.startswith(b"--"):
                if starts:
                    ends.append(at)
                closed = True
                break
            if rest.strip(b" \t"):
                pos = after  # "--boundaryX": a longer boundary, not ours
                continue
            if starts:
                ends.append(at)
            starts.append(line_end)
            pos = line_end if nl >= 0 else hi
            if len(starts) >= MAX_MIME_PARTS:
                break
        if not closed and len(ends) < len(starts):
            ends.append(hi)
        parts: list[Part] = []
        for s, e in zip(starts, ends, strict=False):
            if not self.owner.take_part():
                break
            parts.append(Part(self.owner, s, max(s, e), self.depth + 1, digest))
        return tuple(parts)


class ParsedMessage:
    """A message parsed once for FETCH and SEARCH (contracts.md §2).

    ``data`` is the CRLF form; ``size`` its length (RFC822.SIZE); ``root`` the top-level entity.
    """

    __slots__ = ("_parts_left", "data", "root", "size")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.size = len(data)
        self._parts_left = MAX_MIME_PARTS
        self.root = Part(self, 0, len(data), 0, False)

    @classmethod
    def parse(cls, raw: bytes) -> ParsedMessage:
        """Parse ``raw`` as stored on disk (LF or CRLF line ends)."""
        return cls(to_crlf(raw))

    @classmethod
    def parse_header(cls, raw: bytes) -> ParsedMessage:
        """Parse only the top-level header of ``raw`` (up to and including the blank line that ends it).

        Enough for ``BODY[HEADER]``, ``BODY[HEADER.FIELDS (...)]`` and ``RFC822.HEADER``, which is what a
        client's message list asks for; the body, possibly megabytes of attachment, is neither converted
        to CRLF nor scanned. ``size`` is the header's, not RFC822.SIZE: take that from the store.
        """
        return cls(to_crlf(header_block(raw)))

    def take_part(self) -> bool:
        """Account for one more part; False once ``MAX_MIME_PARTS`` is reached."""
        if self._parts_left <= 0:
            return False
        self._parts_left -= 1
        return True
