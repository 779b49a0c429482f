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


def _qp(data: bytes) -> bytes:
    """Quoted-printable (RFC 2045 §6.7): soft line breaks removed, ``=XX`` decoded, transport padding
    (blanks at line ends, rule 3) dropped, malformed ``=`` sequences kept literally."""
    return binascii.a2b_qp(_QP_TRAILING_SPACE.sub(b"", data))


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
    return _SPACE_RUN.sub(" ", text.casefold())
