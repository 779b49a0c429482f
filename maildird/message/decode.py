"""Decoding for BINARY and SEARCH: transfer encodings (RFC 2045 §6), charsets, RFC 2047 encoded words, and
the text normalisation used for case-insensitive substring search (RFC 9051 §6.4.4).
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re

IDENTITY_ENCODINGS = frozenset({"7bit", "8bit", "binary"})
"""RFC 2045 §6.1: encodings that leave the octets as they are."""

FALLBACK_CHARSET = "utf-8"
"""Charset assumed for unlabelled 8-bit header text and for labels Python does not know."""

CHARSET_ALIASES = {"unknown-8bit": "latin-1", "x-unknown": "latin-1", "default": "us-ascii"}
"""Labels seen in the wild that Python's codec registry does not know."""


class UnknownTransferEncoding(ValueError):
    """The part's Content-Transfer-Encoding is not one we can undo (RFC 3516 §4.3: NO [UNKNOWN-CTE])."""

    def __init__(self, encoding: str) -> None:
        super().__init__(f"unknown Content-Transfer-Encoding {encoding!r}")
        self.encoding = encoding


def _b64(data: bytes) -> bytes:
    """Lenient base64: characters outside the alphabet are ignored and missing padding is supplied, as
    mail readers do."""
    clean = re.sub(rb"[^A-Za-z0-9+/]", b"", data)
    clean = clean[: len(clean) - len(clean) % 4 if len(clean) % 4 == 1 else len(clean)]
    clean += b"=" * (-len(clean) % 4)
    try:
        return base64.b64decode(clean)
    except binascii.Error:
        return b""


_QP_TRAILING_SPACE = re.compile(rb"[ \t]+(?=\r?\n|$)")
_BLANKS = (b" ", b"\t")


def _qp(data: bytes) -> bytes:
    """Quoted-printable (RFC 2045 §6.7): soft line breaks removed, ``=XX`` decoded, transport padding
    (blanks at line ends, rule 3) dropped, malformed ``=`` sequences kept literally."""
    if b" \n" in data or b"\t\n" in data or b" \r\n" in data or b"\t\r\n" in data or data.endswith(_BLANKS):
        data = _QP_TRAILING_SPACE.sub(b"", data)  # only when some line ends in blanks: the scan is slow
    return binascii.a2b_qp(data)


def decode_transfer(body: bytes, encoding: bytes | str | None) -> bytes:
    """Undo a Content-Transfer-Encoding; ``None`` means 7bit. Raises ``UnknownTransferEncoding``."""
    if encoding is None:
        return body
    name = (encoding.decode("ascii", "replace") if isinstance(encoding, bytes) else encoding).strip().lower()
    if name in IDENTITY_ENCODINGS or name == "":
        return body
    if name == "base64":
        return _b64(body)
    if name == "quoted-printable":
        return _qp(body)
    raise UnknownTransferEncoding(name)


def lookup_charset(label: str | bytes | None) -> str | None:
    """The Python codec name for a MIME charset label, or None when unknown."""
    if label is None:
        return None
    text = label.decode("ascii", "replace") if isinstance(label, bytes) else label
    text = text.strip().strip('"').lower()
    text = CHARSET_ALIASES.get(text, text)
    try:
        return codecs.lookup(text).name
    except (LookupError, ValueError):
        return None


def decode_charset(data: bytes, label: str | bytes | None) -> str:
    """Text from ``data`` in charset ``label``; unknown labels fall back to UTF-8, errors are replaced."""
    codec = lookup_charset(label) or FALLBACK_CHARSET
    if codec == "ascii":
        codec = FALLBACK_CHARSET  # mislabelled 8-bit text is common; UTF-8 is a superset of ASCII
    try:
        return data.decode(codec, "replace")
    except (LookupError, ValueError):  # a codec that refuses "replace" (none in the stdlib, but be safe)
        return data.decode(FALLBACK_CHARSET, "replace")


# RFC 2047 §2: =?charset?encoding?encoded-text?= ; charset may carry an RFC 2231 *language suffix.
_ENCODED_WORD = re.compile(rb"=\?([^?\s*]+)(?:\*[^?\s]*)?\?([bBqQ])\?([^?\s]*)\?=")
_BETWEEN_WORDS = re.compile(rb"[ \t\r\n]*")


def _decode_word(charset: bytes, kind: bytes, text: bytes) -> str | None:
    codec = lookup_charset(charset)
    if codec is None:
        return None  # unknown charset: keep the raw encoded word (RFC 2047 §6.2)
    raw = _b64(text) if kind in (b"b", b"B") else binascii.a2b_qp(text, header=True)
    return raw.decode(codec, "replace")


def decode_header(value: bytes) -> str:
    """A header value with RFC 2047 encoded words decoded (any charset Python knows; unknown ones kept
    raw) and other 8-bit octets read as UTF-8. Whitespace between adjacent encoded words is dropped
    (RFC 2047 §6.2)."""
    out: list[str] = []
    pos = 0
    last_was_word = False
    for m in _ENCODED_WORD.finditer(value):
        gap = value[pos : m.start()]
        decoded = _decode_word(m.group(1), m.group(2), m.group(3))
        if decoded is None:
            out.append(decode_charset(value[pos : m.end()], None))
            last_was_word = False
        else:
            if not (last_was_word and _BETWEEN_WORDS.fullmatch(gap)):
                out.append(decode_charset(gap, None))
            out.append(decoded)
            last_was_word = True
        pos = m.end()
    out.append(decode_charset(value[pos:], None))
    return "".join(out)


_SPACE_RUN = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Search normalisation (RFC 9051 §6.4.4 "case-insensitive"): Unicode case folding, and every run of
    whitespace (including unfolded line breaks) as one space, so a phrase matches across a folded line."""
    folded = text.casefold()
    words = folded.split()  # splits on exactly the characters ``\s`` matches (str.isspace)
    if not words:
        return " " if folded else ""
    joined = " ".join(words)
    if folded[0].isspace():
        joined = " " + joined
    if folded[-1].isspace():
        joined += " "
    return joined


# --------------------------------------------------------------------------------------------------
# Proving a miss from the raw octets (the SEARCH fast path)
#
# Every text SEARCH compares against (header values, text parts, attached messages' headers) is decoded
# from a region of the message's octets. Three things can make decoded text hold characters that are not
# the region's own octets: an RFC 2047 encoded word (``=?``), a base64 or quoted-printable transfer
# encoding, and a charset whose ASCII octets do not stand for themselves (UTF-7, UTF-16, EBCDIC,
# ISO-2022). A fourth, case folding, maps a few non-ASCII characters to ASCII ones (long s to "s", the
# Kelvin sign to "k"), so it only matters when there are non-ASCII octets. An octet string with none of
# the four is *transparent*: each decoded, case-folded text is the lower-cased ASCII of its region, so an
# ASCII word absent from ``raw.lower()`` is absent from all of them.

_SAFE_LABELS = (
    "us-ascii",
    "utf-8",
    *(f"iso-8859-{n}" for n in range(1, 17)),
    *(f"windows-{n}" for n in range(1250, 1259)),
)
"""Charset labels whose ASCII octets decode to themselves (checked at import, below)."""


def _ascii_stands_for_itself(label: str) -> bool:
    codec = lookup_charset(label)
    if codec is None:
        return False
    ascii_octets = bytes(range(128))
    return decode_charset(ascii_octets, label) == ascii_octets.decode("ascii")


_SAFE_CHARSET = re.compile(
    rb'charset=("?)(?:'
    + b"|".join(re.escape(label.encode()) for label in _SAFE_LABELS if _ascii_stands_for_itself(label))
    + rb")\1(?=;|\r?\n(?![ \t])|\Z)"
)
"""A ``charset=`` parameter (lower-cased octets) whose value the MIME parser reads as exactly one safe
label: nothing but ``;`` or the end of the field (a line end not followed by a continuation) after it."""


def _charsets_safe(low: bytes) -> bool:
    """True when every ``charset`` in ``low`` (lower-cased octets) is a safe ``charset=label``. A text
    part's charset parameter is an atom spelled ``charset`` (RFC 2045 §5.1; RFC 2231 forms add ``*``), so
    any charset the parser can find is one of these occurrences; the odd spellings count as unsafe."""
    pos = low.find(b"charset")
    while pos >= 0:
        if _SAFE_CHARSET.match(low, pos) is None:
            return False
        pos = low.find(b"charset", pos + 7)
    return True


def needle_tokens(needle: str) -> tuple[bytes, ...] | None:
    """The blank-free runs of an already normalised ASCII needle, as octets; None for a non-ASCII or an
    all-blank needle. A needle found in a whitespace-collapsed text has each of its runs in the text
    before collapsing, so one absent run proves a miss."""
    if not needle.isascii():
        return None
    tokens = needle.split()
    return tuple(t.encode("ascii") for t in tokens) if tokens else None


def plain(raw: bytes) -> bool:
    """True when header text decoded from ``raw`` is ``raw``'s own octets: ASCII, no encoded word."""
    # One octet is found with memchr; the two-octet search costs more than lower-casing the header.
    return raw.isascii() and (b"?" not in raw or b"=?" not in raw)


def may_have_base64(raw: bytes) -> bool:
    """True when ``raw`` may say ``base64`` in any case (False is certain), found without lower-casing
    all of it: every spelling holds the octets ``64``, rare outside base64 data, and the label comes
    before the data it labels, so a big attachment answers at its own header."""
    pos = raw.find(b"64", 4)
    while pos >= 0:
        if raw[pos - 4 : pos].lower() == b"base":
            return True
        pos = raw.find(b"64", pos + 2)
    return False


def declarations_safe(low: bytes) -> bool:
    """True when no part of the message whose lower-cased octets are ``low`` can declare base64 (the
    name is compared lower-cased, RFC 2045 §6.1) or a charset whose ASCII octets do not stand for
    themselves. Such declarations sit in headers, but a part's header may be anywhere in the message,
    so all of it is looked at. (Quoted-printable is the caller's to look for: see ``qp_text``.)"""
    return b"base64" not in low and _charsets_safe(low)


def qp_text(region: bytes) -> bytes:
    """``region`` decoded as quoted-printable as a whole. Every quoted-printable part inside it decodes
    to a substring of this (the decoding is local to a line and an escape; a part starts after a blank
    line, and at its end a soft line break only joins it to the delimiter line), so a word absent from
    this and from the region's own octets is absent from every text part in it."""
    return _qp(region)
