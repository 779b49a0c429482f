"""Content-Type values parsed fast and remembered (RFC 2045 §5.1), for ``parse.Part.content_type``.

Most Content-Type values have one simple shape (``type/subtype`` and token or plain quoted-string
parameters); ``quick_content_type`` reads that shape with two regular expressions, and
``cached_content_type`` keeps the parse of each distinct value, falling back to the full tokenizer
(``fields.parse_content_type``) for every other shape.
"""

from __future__ import annotations

import functools
import re

from maildird.message.fields import ContentType, parse_content_type

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
def cached_content_type(value: bytes) -> ContentType | None:
    """``fields.parse_content_type`` remembered by value (its result is frozen, so sharing it is safe)."""
    quick = quick_content_type(value)
    return quick if quick is not None else parse_content_type(value)
