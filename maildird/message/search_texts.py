"""The texts SEARCH compares against (RFC 9051 §6.4.4): a header field's, the top-level header's, and
the body's, decoded (RFC 2047 words, transfer encodings, charsets) by ``decode``. Both the exact path
(``search.SearchContext``) and the octet fast path (``search_octets.Octets``) build them here, so the
fast path's answers are about the very texts the exact path compares.
"""

from __future__ import annotations

from maildird.message.decode import (
    UnknownTransferEncoding,
    decode_charset,
    decode_header,
    decode_transfer,
    normalize,
    plain,
)
from maildird.message.parse import Part


def contains(haystack: str | None, needle: str) -> bool:
    """RFC 9051 §6.4.4 substring match of ``needle`` in a normalised text (None: no such text)."""
    return haystack is not None and normalize(needle) in haystack


def field_text(root: Part, name: str) -> str | None:
    """All ``name`` fields of the header, decoded and normalised, joined by line breaks; None when
    there is none (what HEADER, FROM, TO, SUBJECT... compare against)."""
    values = [header_value(f.unfolded()) for f in root.fields_named(name)]
    return normalize("\n".join(values)) if values else None


def header_value(value: bytes) -> str:
    """``decode_header``, skipped for a value that is its own text (``decode.plain``)."""
    return value.decode("ascii") if plain(value) else decode_header(value)


def folded_header(root: Part) -> str:
    """The top-level header decoded and case-folded, as TEXT compares against it (``normalize`` of this
    is the collapsed form; a needle without blanks is found in either or in neither)."""
    return decode_header(root.buf[root.start : root.header_end].replace(b"\r\n", b"\n")).casefold()


def collect_text(part: Part, out: list[str], with_headers: bool) -> None:
    """Decoded text of the text parts under ``part``; with ``with_headers``, attached messages' headers too
    (Dovecot's TEXT searches them, its BODY does not; we do the same)."""
    if part.is_multipart:
        for child in part.children:
            collect_text(child, out, with_headers)
        return
    if part.is_message:
        inner = part.message
        if inner is not None:
            if with_headers:
                out.append(decode_header(inner.buf[inner.start : inner.header_end]))
            collect_text(inner, out, with_headers)
        return
    if not part.is_text:
        return
    try:
        data = decode_transfer(part.body, part.header_value("Content-Transfer-Encoding"))
    except UnknownTransferEncoding:
        data = part.body
    out.append(decode_charset(data, part.content_type.param("charset")))
