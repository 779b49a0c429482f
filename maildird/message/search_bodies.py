"""SEARCH TEXT and BODY from a per-message row of what their fast path needs (RFC 9051 §6.4.4).

Theory of operation
-------------------
Deciding TEXT for a message costs, without help, reading its file, classifying its octets
(``search_octets.Octets``: may its raw octets stand for its text?) and, for a tenth of a typical
folder (messages with base64 attachments), parsing it and decoding its text parts: most of a SEARCH
TEXT's time, and nearly all of its reading (attachments are most of a folder's octets). A *row*
(``derive``) keeps, per message, the answer of that classification for each region of the message,
and the decoded text of the regions whose octets cannot stand for their text:

* the header region: ``RAW`` when it is its own text (``decode.plain``), else ``TEXT``: the top-level
  header decoded, case-folded and normalised (``SearchContext.whole_header_text``, what the exact
  path compares against);
* the body region: ``RAW`` when its octets are its text (``Octets.body_plain``, no quoted-printable),
  ``RAW_QP`` when they are but for quoted-printable that case-folds plainly (``Octets.body_misses``'s
  rule), else ``TEXT``: every text part and attached message header decoded and normalised
  (``SearchContext.body_text(with_headers=True)``), or ``EXACT`` when that text is too big to keep;
* a message whose body is kept as text keeps its header as text too, so it is decided without its
  file at all: the attachments are never read again.

``verdict`` then decides a TEXT or BODY key for a message from its row and, when a region is raw,
its octets: a needle found in a kept text is a hit, a needle one of whose ASCII words is absent from
a raw region's lower-cased octets is absent from its text (the fast path's rule, ``search_octets``),
and what neither settles (``None``) goes to the exact path (``search.matches``). Kept texts are the
exact path's own texts, normalised: a needle without blanks is found in the normalised text exactly
when it is found in the case-folded one (normalising only rewrites runs of whitespace), and one with
blanks is compared against the normalised text by the exact path too. BODY uses a kept body text
only when the message has no attached message (whose header TEXT searches and BODY does not).

A row is stored as octets (``encode``/``decode``): a fixed head (version, kinds, the file's length,
where its header ends), the kept header text as UTF-8, and the kept body text zlib-compressed (body
texts are kept for messages with attachments: a tenth of the messages, a few hundred KB compressed
for 10,000; header texts are a quarter of the rows, and decompressing them would cost each SEARCH
as much as the rest of its work on them). The file's length is compared with the
octets whenever they are read, so a row is never applied to other octets. tests/message/
test_search_bodies.py holds ``verdict`` to ``search.matches`` over generated messages.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from maildird.imap.commands import SearchText
from maildird.message.decode import needle_tokens, normalize
from maildird.message.search import SearchContext
from maildird.message.search_octets import Octets, folds_plainly, qp_words

RAW = 0
"""The region's octets are its text (ASCII-case-insensitively): an absent ASCII word proves a miss."""
RAW_QP = 1
"""The body region's octets, or its octets decoded as quoted-printable as a whole, hold every ASCII
word of its text (``Octets.body_misses``)."""
TEXT = 2
"""The region's decoded, normalised text is kept in the row."""
EXACT = 3
"""Nothing kept: the exact path decides (a text longer than ``MAX_TEXT_OCTETS``)."""

MAX_TEXT_OCTETS = 1 << 20
"""Kept texts (header and body, UTF-8) longer than this are not kept: the body is ``EXACT``."""

COMPRESS_LEVEL = 1
"""zlib level of kept body texts: decompression costs about the same at every level, and level 1
compresses the texts of typical mail about 3.5x at several times the speed of the default."""

ROW_VERSION = 1
"""The first octet of every row; rows of another version are not rows (``decode`` gives None)."""

_HEAD = struct.Struct("<BBBBQQI")
"""version, header kind, body kind, flags, file length, header region length, header text length."""

NO_ATTACHED = 1
"""Flag: the body text holds no attached message header, so BODY may use it as TEXT does."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Row:
    """What SEARCH TEXT/BODY needs of one message (module docstring)."""

    length: int
    """The file's length in octets (``len`` of the octets it was derived from)."""
    split: int
    """Where the header region ends (``Octets.split``)."""
    header_kind: int
    body_kind: int
    flags: int = 0
    header: str | None = None
    """The normalised header text (``header_kind`` ``TEXT``)."""
    body: str | None = None
    """The normalised body text with attached headers (``body_kind`` ``TEXT``)."""

    @property
    def needs_octets(self) -> bool:
        """True when some region is decided from the message's octets."""
        return self.header_kind != TEXT or self.body_kind != TEXT


def _context(octets: Octets) -> SearchContext:
    """An exact-path context of the octets alone (the texts do not depend on the snapshot)."""
    return SearchContext(
        seq=1,
        uid=1,
        flags=frozenset(),
        size=0,
        internaldate=_EPOCH,
        largest_seq=1,
        largest_uid=1,
        octets=octets,
    )


def _has_attached(ctx: SearchContext) -> bool:
    """True when the message holds an attached message (whose header TEXT searches, BODY not)."""
    stack = [ctx.message().root]
    while stack:
        part = stack.pop()
        if part.is_multipart:
            stack.extend(part.children)
        elif part.is_message:
            return True
    return False


def derive(raw: bytes) -> Row:
    """The row of a message whose stored octets are ``raw`` (module docstring)."""
    octets = Octets(raw)
    split = octets.split
    body_kind = TEXT
    if octets.body_plain:
        if b"quoted-printable" not in octets.low:
            body_kind = RAW
        else:
            # Quoted-printable bodies are searched raw too: keeping their texts would double the
            # rows (10.6 MB instead of 5.8 for the 10k preset) for a tenth less CPU per search.
            decoded = qp_words(raw[split:])
            if decoded.isascii() or folds_plainly(decoded, octets.low):
                body_kind = RAW_QP
    body: str | None = None
    flags = 0
    if body_kind == TEXT:
        ctx = _context(octets)
        body = ctx.body_text(with_headers=True)
        if len(body) > MAX_TEXT_OCTETS:
            body, body_kind = None, EXACT
        elif not _has_attached(ctx):
            flags |= NO_ATTACHED
    header: str | None = None
    header_kind = RAW
    if body_kind == TEXT or not octets.header_plain:
        # The header alone parsed (what the fast path decodes too), not the whole message.
        header = normalize(octets.header_text())
        header_kind = TEXT
        if len(header) > MAX_TEXT_OCTETS:
            header, header_kind = None, EXACT
    return Row(len(raw), split, header_kind, body_kind, flags, header, body)


def derive_rows(raws: Mapping[int, bytes]) -> dict[int, bytes]:
    """uid -> octets to uid -> encoded row (the store's background fill, ``searchfill``)."""
    return {uid: encode(derive(raw)) for uid, raw in raws.items()}


def encode(row: Row) -> bytes:
    """The row as octets (module docstring)."""
    head = (row.header or "").encode("utf-8", "surrogatepass")
    packed = _HEAD.pack(
        ROW_VERSION, row.header_kind, row.body_kind, row.flags, row.length, row.split, len(head)
    )
    if row.body is None:
        return packed + head
    return packed + head + zlib.compress(row.body.encode("utf-8", "surrogatepass"), COMPRESS_LEVEL)


def decode(data: bytes) -> Row | None:
    """The row ``encode`` made, or None for octets that are not one (another version, damaged)."""
    if len(data) < _HEAD.size or data[0] != ROW_VERSION:
        return None
    try:
        _v, hk, bk, flags, length, split, hlen = _HEAD.unpack_from(data)
        if hk not in (RAW, TEXT, EXACT) or bk not in (RAW, RAW_QP, TEXT, EXACT):
            return None
        end = _HEAD.size + hlen
        header = data[_HEAD.size : end].decode("utf-8", "surrogatepass") if hk == TEXT else None
        body = zlib.decompress(data[end:]).decode("utf-8", "surrogatepass") if bk == TEXT else None
    except (zlib.error, UnicodeDecodeError, struct.error):
        return None
    if len(data) < end or (bk != TEXT and len(data) != end) or split > length:
        return None
    return Row(length, split, hk, bk, flags, header, body)


@dataclass(frozen=True, slots=True)
class Needle:
    """A TEXT or BODY key prepared for ``verdict``."""

    text: str
    """``normalize`` of the key's value."""
    tokens: tuple[bytes, ...] | None
    """Its ASCII words (``decode.needle_tokens``), or None."""
    ascii: bool
    body_only: bool

    @classmethod
    def of(cls, key: SearchText) -> Needle:
        text = normalize(key.value)
        return cls(text, needle_tokens(text), text.isascii(), key.body_only)


def _raw_misses(needle: Needle, low: bytes, start: int, end: int) -> bool:
    """True when the raw region ``low[start:end]`` (ASCII, its own text lower-cased) proves a miss."""
    if not needle.ascii:
        return True  # an ASCII-only text holds no non-ASCII character
    tokens = needle.tokens
    return tokens is not None and any(low.find(t, start, end) < 0 for t in tokens)


def verdict(needle: Needle, row: Row, raw: bytes | None = None) -> bool | None:
    """True when the message matches, False when it does not, None when only the exact path can say.
    ``raw`` is the message's octets, needed when ``row.needs_octets`` (without them a raw region
    decides nothing); octets of another length than the row's decide nothing either."""
    if raw is not None and len(raw) != row.length:
        return None
    low: bytes | None = None
    header: bool | None = None
    if not needle.body_only:
        if row.header_kind == TEXT:
            assert row.header is not None
            if needle.text in row.header:
                return True
            header = False
        elif row.header_kind == RAW and raw is not None:
            low = raw.lower()
            header = False if _raw_misses(needle, low, 0, row.split) else None
    body: bool | None = None
    kind = row.body_kind
    if kind == TEXT:
        if not needle.body_only or row.flags & NO_ATTACHED:
            assert row.body is not None
            if needle.text in row.body:
                return True
            body = False
    elif kind in (RAW, RAW_QP) and raw is not None:
        if low is None:
            low = raw.lower()
        body = False if _body_misses(needle, raw, low, row.split, kind) else None
    if body is False and (needle.body_only or header is False):
        return False
    return None


def _body_misses(needle: Needle, raw: bytes, low: bytes, split: int, kind: int) -> bool:
    """``Octets.body_misses`` for a body region the row says is ``RAW`` or ``RAW_QP``."""
    if kind == RAW:
        return _raw_misses(needle, low, split, len(low))
    tokens = needle.tokens
    if tokens is None:
        return False
    misses = [t for t in tokens if low.find(t, split) < 0]
    if not misses:
        return False
    qp_low = qp_words(raw[split:]).lower()
    return any(t not in qp_low for t in misses)


__all__ = [
    "EXACT",
    "MAX_TEXT_OCTETS",
    "NO_ATTACHED",
    "RAW",
    "RAW_QP",
    "TEXT",
    "Needle",
    "Row",
    "decode",
    "derive",
    "derive_rows",
    "encode",
    "verdict",
]
