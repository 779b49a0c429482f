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

from maildird.message.content_type_quick import cached_content_type, quick_content_type
from maildird.message.fields import ContentType
from maildird.message.header_scan import (
    FieldSpan,
    HeaderField,
    _named_fields,
    _scan_fields,
    header_block,
    stored_field_values,
    to_crlf,
)

__all__ = [
    "MAX_MIME_DEPTH",
    "MAX_MIME_PARTS",
    "MESSAGE_SUBTYPES",
    "TARGETED_LOOKUPS",
    "FieldSpan",
    "HeaderField",
    "ParsedMessage",
    "Part",
    "header_block",
    "quick_content_type",
    "stored_field_values",
    "to_crlf",
]

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


TARGETED_LOOKUPS = 4
"""Lookups by name served by a targeted search before the header is scanned whole (``Part.header``)."""


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
    # and LF in a CRLF) do not scan at all: one regular expression finds the field (``header_scan``);
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
        ct = cached_content_type(value) if value is not None else None
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
