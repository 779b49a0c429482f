"""SEARCH's fast path: proving a miss from a message's stored octets (RFC 9051 §6.4.4 text keys).

Theory of operation
-------------------
Most messages do not match a text key, and deciding that exactly means parsing the MIME tree and
decoding every text part. When the loader gives the stored octets (``Octets``), ``misses`` first tries to
prove the miss without that: an ASCII word of the needle (its blank-free runs, ``decode.needle_tokens``)
absent from the lower-cased octets of the region the key compares against cannot be in its text if
nothing in that region decodes to other characters (``decode`` explains when: no encoded words, no
base64 or quoted-printable declared anywhere, only charsets whose ASCII octets stand for themselves,
ASCII only, so case folding cannot turn a long s into an "s"). Header keys look at the header block, and
then at the asked field alone (decoded, read off the stored block); TEXT and BODY at the body region,
and TEXT at the decoded header. ``False`` means "maybe": the exact evaluation (``search.matches``)
decides. Needles without blanks are compared against case-folded texts without collapsing their
whitespace (the same answer). ``header_block_rejecter`` is the same rule for header keys, with less work
per message. tests/message/test_search_fast.py and tests/rfc/test_rfc9051_6_4_4_search_fast.py hold the
fast answers to the exact ones over generated messages.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable
from functools import lru_cache

from maildird.imap.commands import SearchAnd, SearchHeader, SearchKey, SearchOr, SearchText
from maildird.message.decode import (
    declarations_safe,
    may_have_base64,
    needle_tokens,
    normalize,
    plain,
    qp_text,
)
from maildird.message.parse import ParsedMessage, header_block, stored_field_values
from maildird.message.search_texts import contains, folded_header, header_value

BIG_OCTETS = 64 * 1024
"""Octets from which ``Octets`` looks for a base64 label before lower-casing the message: such a
message is mostly an attachment, which lower-casing would copy for nothing (the exact path skips it
without decoding). Smaller ones are lower-cased at once, which answers that question too."""


class Octets:
    """A message's octets as stored (the whole file, or for a search of header keys only its header
    block), with what the fast path asks of them computed once. The *header* region is the top-level
    header block (RFC 5322 §2.1, ``parse.header_block``): every header key compares against text from
    it. The *body* region is the rest: BODY, and TEXT besides the top-level header, compare against
    text from it, decoded as declared in headers that may be in either region."""

    __slots__ = (
        "_body_ok",
        "_field_texts",
        "_field_values",
        "_header_low",
        "_header_message",
        "_header_plain",
        "_header_text",
        "_low",
        "_split",
        "raw",
    )

    def __init__(self, raw: bytes, *, header_only: bool = False) -> None:
        self.raw = raw
        # A header block is its own header region (``header_block`` of it is all of it).
        self._split = len(raw) if header_only else -1
        self._low: bytes | None = None
        self._header_low: bytes | None = None
        self._header_plain: bool | None = None
        self._body_ok: bool | None = None
        self._header_text: str | None = None
        self._header_message: ParsedMessage | None = None
        self._field_texts: dict[bytes, str | None] | None = None
        self._field_values: dict[bytes, list[bytes]] | None = None

    @property
    def split(self) -> int:
        """Where the header region ends."""
        if self._split < 0:
            self._split = len(header_block(self.raw))
        return self._split

    @property
    def low(self) -> bytes:
        """All the octets with ASCII letters lower-cased."""
        if self._low is None:
            self._low = self.raw.lower()
        return self._low

    def header_lacks(self, tokens: tuple[bytes, ...]) -> bool:
        """True when some token is absent from the header region (ASCII case-insensitively)."""
        if self._low is not None:
            low, end = self._low, self.split
        else:
            low = self._header_region()[1]
            end = len(low)
        return any(low.find(t, 0, end) < 0 for t in tokens)

    @property
    def header_plain(self) -> bool:
        """``decode.plain`` for the header region: its header text is its own octets."""
        if self._header_plain is None:
            self._header_plain = plain(self.raw[: self.split])
        return self._header_plain

    def body_lacks(self, tokens: tuple[bytes, ...]) -> bool:
        """True when some token is absent from the body region (ASCII case-insensitively)."""
        low, start = self.low, self.split
        return any(low.find(t, start) < 0 for t in tokens)

    @property
    def body_plain(self) -> bool:
        """True when nothing but quoted-printable can make text from the body region differ from its
        octets: no base64 or unsafe charset declared anywhere (``decode.declarations_safe``), and the
        region is ASCII without encoded words (attached messages' headers)."""
        if self._body_ok is None:
            raw, start = self.raw, self.split
            self._body_ok = (
                not (len(raw) >= BIG_OCTETS and may_have_base64(raw))
                and (raw.find(b"?", start) < 0 or raw.find(b"=?", start) < 0)
                and (raw.isascii() or raw[start:].isascii())
                and declarations_safe(self.low)
            )
        return self._body_ok

    def body_misses(self, tokens: tuple[bytes, ...]) -> bool:
        """True when some token is certainly absent from every text of the body region: absent from
        its octets, which are the text itself (``body_plain`` and no quoted-printable declared), or,
        with quoted-printable, absent from the region decoded as a whole too (``decode.qp_text``) when
        case folding cannot make ASCII letters there out of other characters (``folds_plainly``)."""
        if not (self.body_plain and self.body_lacks(tokens)):
            return False
        if b"quoted-printable" not in self.low:
            return True
        decoded = qp_words(self.raw[self.split :])
        if not (decoded.isascii() or folds_plainly(decoded, self.low)):
            return False
        # One word must be in neither: a phrase's words may come from different parts.
        low, start, qp_low = self.low, self.split, decoded.lower()
        return any(low.find(t, start) < 0 and t not in qp_low for t in tokens)

    def header_message(self) -> ParsedMessage:
        """The header region parsed (``ParsedMessage.parse_header``), once."""
        if self._header_message is None:
            self._header_message = ParsedMessage.parse_header(self.raw)
        return self._header_message

    def field_values(self, name: str) -> list[bytes]:
        """The unfolded values of every ``name`` field of the header region (``Part.fields_named``),
        read off the stored block when it is LF-only (``parse.stored_field_values``), else parsed."""
        key = name.upper().encode("ascii", "replace")
        cache = self._field_values
        if cache is None:
            cache = self._field_values = {}
        elif key in cache:
            return cache[key]
        block, low = self._header_region()
        values = stored_field_values(block, low, name)
        if values is None:  # CRs in the header: parse it
            values = [f.unfolded() for f in self.header_message().root.fields_named(name)]
        cache[key] = values
        return values

    def field_text(self, name: str) -> str | None:
        """``SearchContext.header_text`` from the header region alone."""
        key = name.upper().encode("ascii", "replace")
        texts = self._field_texts
        if texts is None:
            texts = self._field_texts = {}
        elif key in texts:
            return texts[key]
        values = self.field_values(name)
        text = texts[key] = normalize("\n".join(header_value(v) for v in values)) if values else None
        return text

    def _header_region(self) -> tuple[bytes, bytes]:
        """The header region and its lower-cased copy."""
        block = self.raw if self.split == len(self.raw) else self.raw[: self.split]
        if self._header_low is None:
            self._header_low = self._low[: self.split] if self._low is not None else block.lower()
        return block, self._header_low

    def header_text(self) -> str:
        """``SearchContext.folded_header_text`` from the header region alone."""
        if self._header_text is None:
            self._header_text = folded_header(self.header_message().root)
        return self._header_text


_SOFT_BREAK_PADDED = re.compile(rb"=[ \t]")
"""An ``=`` followed by a blank: the start of a soft line break with transport padding (RFC 2045 §6.7
rule 3), which only ``decode.qp_text`` (trailing blanks dropped first) reads as one."""


def qp_words(region: bytes) -> bytes:
    """``decode.qp_text`` as far as blank-free words are concerned, cheaper: the blanks it drops before
    line ends (its slowest part to look for) cannot be inside a word, and only join lines where an
    ``=`` precedes them, so without such an ``=`` the region is decoded as it is. Every word of
    ``qp_text(region)`` is a word of this."""
    if _SOFT_BREAK_PADDED.search(region) is not None:
        return qp_text(region)
    return binascii.a2b_qp(region)


FOLDS_TO_ASCII = (
    "\xdf\u0130\u0149\u017f\u01f0\u1e96\u1e97\u1e98\u1e99\u1e9a\u1e9e\u212a"
    "\ufb00\ufb01\ufb02\ufb03\ufb04\ufb05\ufb06"
)
"""Every non-ASCII character whose case folding (``str.casefold``) holds an ASCII one (sharp s to "ss",
the long s to "s", the Kelvin sign to "k", ligatures...); tests/message/test_search_octets_qp.py
derives the list from the Unicode tables of the running Python."""

_FOLDS_TO_ASCII_UTF8 = re.compile(b"|".join(re.escape(c.encode("utf-8")) for c in FOLDS_TO_ASCII))
"""Those characters in UTF-8 (the decoder refuses other spellings, and an ASCII octet is never part of
a replaced sequence)."""

_FOLDS_TO_ASCII_8BIT = re.compile(rb"[\xa9\xdd\xdf]")
"""Octets that stand for one of them in some ``decode`` safe single-octet charset (ISO-8859-n,
windows-125n: sharp s, dotted capital I); the test derives this set too."""

_SINGLE_OCTET_CHARSET = re.compile(rb'charset="?(?:iso|windows)-')


def folds_plainly(decoded: bytes, low: bytes) -> bool:
    """True when no text decoded from ``decoded`` holds a character that case-folds to ASCII ones, so
    an ASCII word found in such a text (case-folded) is found in ``decoded.lower()``: ASCII octets
    decode to themselves and other octets to non-ASCII characters in every charset
    ``decode.declarations_safe`` allows in ``low`` (the message lower-cased)."""
    if _FOLDS_TO_ASCII_UTF8.search(decoded) is not None:
        return False
    return _FOLDS_TO_ASCII_8BIT.search(decoded) is None or _SINGLE_OCTET_CHARSET.search(low) is None


@lru_cache(maxsize=256)
def _tokens(value: str) -> tuple[bytes, ...] | None:
    return needle_tokens(normalize(value))


def _misses(key: SearchHeader | SearchText, octets: Octets) -> bool:
    """True when the octets alone prove that ``key`` does not match: an ASCII word of the needle is
    absent from the region the key compares against, and nothing decodes that region to other
    characters (``Octets``). TEXT whose body region settles it but whose header has encoded words
    decodes that header alone (no full parse)."""
    if isinstance(key, SearchHeader) and key.value == "":
        return False
    tokens = _tokens(key.value)
    if tokens is None:
        return False
    if isinstance(key, SearchHeader):
        if octets.header_lacks(tokens):
            if octets.header_plain:
                return True
        elif octets.header_plain:
            return False  # every word is there, and the header is its own text: likely a hit
        # Encoded words or 8-bit octets somewhere in the header: decode the asked field alone, which
        # settles it (the same text ``SearchContext.header_text`` compares against).
        return not contains(octets.field_text(key.field), key.value)
    if not octets.body_misses(tokens):
        return False
    if key.body_only or (octets.header_lacks(tokens) and octets.header_plain):
        return True
    needle = normalize(key.value)
    header = octets.header_text()
    return needle not in (header if " " not in needle else normalize(header))


def misses(key: SearchKey, octets: Octets) -> bool:
    """True when the message whose octets (as stored: the whole file, or its header block when ``key``
    needs no body) are ``octets`` certainly does not match ``key``: a cheap test before parsing. False
    means "maybe" (evaluate with ``matches``)."""
    if isinstance(key, SearchHeader | SearchText):
        return _misses(key, octets)
    if isinstance(key, SearchAnd):
        return any(misses(k, octets) for k in key.keys)
    if isinstance(key, SearchOr):
        return misses(key.left, octets) and misses(key.right, octets)
    return False


def header_block_rejecter(key: SearchKey) -> Callable[[Octets], bool] | None:
    """For a key of header fields only (a FROM, SUBJECT or HEADER, or an AND holding one), a test of a
    message's octets that is True when its header certainly does not match, by ``_misses``'s rules
    with less work per message (a header search runs it for every candidate): the needle's word is not
    in the header and the header is plain, or not in the asked field and the field is plain. None when
    the key has no such part."""
    if isinstance(key, SearchAnd):
        for sub in key.keys:
            test = header_block_rejecter(sub)
            if test is not None:
                return test
        return None
    if not isinstance(key, SearchHeader) or key.value == "":
        return None
    tokens = _tokens(key.value)
    if tokens is None:
        return None
    name = key.field

    def reject(octets: Octets) -> bool:
        block, low = octets._header_region()
        if all(t in low for t in tokens):
            return False
        if plain(block):
            return True
        values = octets.field_values(name)
        if not all(plain(v) for v in values):
            return False
        lowered = [v.lower() for v in values]
        return any(all(t not in v for v in lowered) for t in tokens)

    return reject
