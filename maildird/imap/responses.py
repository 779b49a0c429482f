"""Server responses as values, and their wire form (RFC 9051 §7, formal syntax §9).

Handlers build ``Tagged``, ``Untagged``, ``Status`` and ``Continuation`` values from plain Python
data; ``serialize`` turns them into bytes. The rules for data values (``Value``):

- ``None`` is ``NIL``; ``int`` a number; ``tuple``/``list`` a parenthesised list.
- ``str`` and ``bytes`` are *strings*, never atoms: quoted when safe (7-bit, no CR, LF or NUL, at most
  ``MAX_QUOTED`` octets; ``"`` and ``\\`` escaped), otherwise a literal ``{n}``. A broken quoted
  string cannot be produced (the seed's bug, peers.md §1.7 item 2). With UTF8=ACCEPT enabled
  (RFC 6855 §3) a non-ASCII ``str`` may be quoted as UTF-8.
- ``Atom`` is sent verbatim (keywords, ``EXISTS``, ``\\Seen``); ``Raw`` is verbatim bytes
  (``BODY[1.2]<0>``); ``Literal`` forces ``{n}`` (or ``~{n}`` literal8, RFC 3516 §4.2).
- ``MailboxName`` follows ``mailbox`` (RFC 9051 §9): ``INBOX`` as is, otherwise modified UTF-7
  (RFC 3501 §5.1.3) or raw UTF-8 under UTF8=ACCEPT, then a bare atom when every character is an
  ATOM-CHAR, otherwise the string rules above.

Speed matters: a FETCH of 100,000 messages goes through here. The writer dispatches on the exact
type with one dict lookup, checks strings with C-level bytes methods, and caches atom bytes.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeAlias
from typing import Literal as TypingLiteral

from . import modutf7

__all__ = [
    "MAX_QUOTED",
    "Atom",
    "Code",
    "Continuation",
    "Literal",
    "MailboxName",
    "Raw",
    "Response",
    "Status",
    "Tagged",
    "Untagged",
    "Value",
    "serialize",
    "serialize_many",
    "serialize_value",
]

MAX_QUOTED = 1024
"""Longest string sent quoted; longer ones go as literals (Dovecot's limit for quoted output is
similar; many client parsers handle long quoted strings badly)."""

_ATOM_CACHE_SIZE = 4096
"""Atom spellings cached as bytes; bounded so arbitrary keywords cannot grow memory."""

CRLF = b"\r\n"


@dataclass(frozen=True, slots=True)
class Atom:
    """Sent verbatim: ``EXISTS``, ``\\Seen``, ``$Forwarded``. Must not hold CR, LF or NUL."""

    value: str


@dataclass(frozen=True, slots=True)
class Raw:
    """Verbatim bytes, e.g. ``b"BODY[1.2]<0>"``. The caller answers for their syntax."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Literal:
    """Always a literal: ``{n}`` CRLF data, or ``~{n}`` for binary data (RFC 3516 §4.2)."""

    data: bytes
    binary: bool = False


@dataclass(frozen=True, slots=True)
class MailboxName:
    """A mailbox name as Unicode; encoded on the wire (see the module docstring)."""

    name: str


Value: TypeAlias = (
    "int | str | bytes | Atom | Raw | Literal | MailboxName | tuple[Value, ...] | list[Value] | None"
)


@dataclass(frozen=True, slots=True)
class Code:
    """A response code (RFC 9051 §7.1, RFC 5530): ``[NAME d1 d2]``."""

    name: str
    data: tuple[Value, ...] = ()


@dataclass(frozen=True, slots=True)
class Tagged:
    """``tag OK|NO|BAD [code] text`` (RFC 9051 §7.1)."""

    tag: str
    status: TypingLiteral["OK", "NO", "BAD"]
    text: str
    code: Code | None = None


@dataclass(frozen=True, slots=True)
class Untagged:
    """``* d1 d2 ...``: the values joined by SP (``* 3 EXISTS``, ``* 1 FETCH (...)``)."""

    data: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class Status:
    """An untagged status response: ``* OK|NO|BAD|BYE|PREAUTH [code] text`` (RFC 9051 §7.1)."""

    status: TypingLiteral["OK", "NO", "BAD", "BYE", "PREAUTH"]
    text: str
    code: Code | None = None


@dataclass(frozen=True, slots=True)
class Continuation:
    """``+ text``, or ``+ base64`` when ``data`` is set (RFC 9051 §7.5, SASL challenges)."""

    text: str = ""
    data: bytes | None = None


Response: TypeAlias = Tagged | Untagged | Status | Continuation


# --------------------------------------------------------------------------------------------------
# Values


def _quoted_or_literal(data: bytes, allow_8bit: bool) -> bytes:
    """A string: quoted when safe, else a literal; never a broken quote."""
    if (
        len(data) <= MAX_QUOTED
        and (allow_8bit or data.isascii())
        and b"\r" not in data
        and b"\n" not in data
        and b"\0" not in data
    ):
        if b"\\" in data or b'"' in data:
            data = data.replace(b"\\", b"\\\\").replace(b'"', b'\\"')
        return b'"' + data + b'"'
    if b"\0" in data:
        # No string may carry NUL, literals included (RFC 9051 §9 CHAR8); send 0x80 as Dovecot does
        # and as body sections do. Only ``Literal`` values (BINARY's literal8) keep their NULs.
        data = data.replace(b"\0", b"\x80")
    return b"{%d}\r\n" % len(data) + data


# Octets that stop a 7-bit string from being sent quoted as it is (fast-path check).
_NOT_PLAIN = re.compile(rb'[\x00\r\n"\\]')


def _str(value: str, utf8: bool) -> bytes:
    if value.isascii():
        data = value.encode("ascii")
        if len(data) <= MAX_QUOTED and _NOT_PLAIN.search(data) is None:
            return b'"' + data + b'"'
        return _quoted_or_literal(data, False)
    # Without UTF8=ACCEPT, 8-bit text may only travel in a literal; lone surrogates (from
    # surrogateescape decoding) go back to the octets they stood for.
    return _quoted_or_literal(value.encode("utf-8", "surrogateescape"), utf8 and value.isprintable())


_ATOM_CACHE: dict[str, bytes] = {}


def _atom_bytes(value: str) -> bytes:
    data = value.encode("utf-8")
    if not data or b"\r" in data or b"\n" in data or b"\0" in data:
        raise ValueError(f"not an atom: {value!r}")
    return data


def _atom(value: str) -> bytes:
    cached = _ATOM_CACHE.get(value)
    if cached is not None:
        return cached
    data = _atom_bytes(value)
    if len(_ATOM_CACHE) < _ATOM_CACHE_SIZE:
        _ATOM_CACHE[value] = data
    return data


# ATOM-CHAR (RFC 9051 §9): any CHAR except atom-specials "(" ")" "{" SP CTL "%" "*" DQUOTE "\" "]".
_ATOM_CHARS = re.compile(rb"[!#$&'+-\[^-z|}~]+")


def _mailbox(name: str, utf8: bool) -> bytes:
    if name == "INBOX":
        return b"INBOX"
    data = name.encode("utf-8", "surrogateescape") if utf8 else modutf7.encode(name).encode("ascii")
    # A bare atom when safe; "NIL" and all-digit names are quoted so no client reads nil or a number.
    if _ATOM_CHARS.fullmatch(data) is not None and data.upper() != b"NIL" and not data.isdigit():
        return data
    return _quoted_or_literal(data, utf8)


def _enc_atom(value: Atom, utf8: bool) -> bytes:
    return _ATOM_CACHE.get(value.value) or _atom(value.value)


def _enc_int(value: int, utf8: bool) -> bytes:
    return b"%d" % value


def _enc_seq(value: tuple[Value, ...] | list[Value], utf8: bool) -> bytes:
    enc = _ENCODERS
    try:
        return b"(" + b" ".join([enc[type(item)](item, utf8) for item in value]) + b")"
    except KeyError:
        for item in value:
            _encode(item, utf8)  # raises the TypeError naming the culprit
        raise  # pragma: no cover


def _enc_none(value: None, utf8: bool) -> bytes:
    return b"NIL"


def _enc_bytes(value: bytes, utf8: bool) -> bytes:
    return _quoted_or_literal(value, False)


def _enc_raw(value: Raw, utf8: bool) -> bytes:
    return value.data


def _enc_literal(value: Literal, utf8: bool) -> bytes:
    return b"%s{%d}\r\n%s" % (b"~" if value.binary else b"", len(value.data), value.data)


def _enc_mailbox(value: MailboxName, utf8: bool) -> bytes:
    return _mailbox(value.name, utf8)


_ENCODERS: dict[type, Callable[[Any, bool], bytes]] = {
    Atom: _enc_atom,
    int: _enc_int,
    str: _str,
    tuple: _enc_seq,
    list: _enc_seq,
    type(None): _enc_none,
    bytes: _enc_bytes,
    Raw: _enc_raw,
    Literal: _enc_literal,
    MailboxName: _enc_mailbox,
}
"""Encoder per exact type: one dict lookup per value (``bool`` is deliberately absent)."""


def _encode(value: Value, utf8: bool) -> bytes:
    encoder = _ENCODERS.get(type(value))
    if encoder is None:
        raise TypeError(f"cannot serialize {type(value).__name__} as an IMAP value")
    return encoder(value, utf8)


def serialize_value(value: Value, *, utf8: bool = False) -> bytes:
    """One data value's wire form (no CRLF)."""
    return _encode(value, utf8)


# --------------------------------------------------------------------------------------------------
# Responses


def _text(text: str, utf8: bool) -> bytes:
    """resp-text's ``text``: one line; CR, LF and NUL become spaces so no response can be forged."""
    if text.isascii():
        data = text.encode("ascii")
    else:
        # RFC 9051 §9 allows UTF-8 in text; RFC 3501 text is 7-bit, so '?' stands in without it.
        data = text.encode("utf-8", "replace") if utf8 else text.encode("ascii", "replace")
    if b"\r" in data or b"\n" in data or b"\0" in data:
        data = data.replace(b"\r", b" ").replace(b"\n", b" ").replace(b"\0", b" ")
    return data


def _resp_text(out: list[bytes], code: Code | None, text: str, utf8: bool) -> None:
    if code is not None:
        out.append(b"[")
        out.append(_atom(code.name))
        for item in code.data:
            out.append(b" ")
            out.append(_encode(item, utf8))
        out.append(b"]")
        if text:
            out.append(b" ")
    out.append(_text(text, utf8))


_TAGGED_STATUS = {"OK": b" OK ", "NO": b" NO ", "BAD": b" BAD "}


def _tagged(r: Tagged, out: list[bytes], utf8: bool) -> None:
    status = _TAGGED_STATUS.get(r.status) or b" " + r.status.encode("ascii") + b" "
    if r.code is None:  # the usual completion: one piece (the tag is not cached: every command has a new one)
        out.append(_atom_bytes(r.tag) + status + _text(r.text, utf8))
        return
    out.append(_atom_bytes(r.tag) + status)
    _resp_text(out, r.code, r.text, utf8)


def _untagged(r: Untagged, out: list[bytes], utf8: bool) -> None:
    out.append(b"* " + b" ".join([_encode(item, utf8) for item in r.data]))


def _status(r: Status, out: list[bytes], utf8: bool) -> None:
    out.append(b"* " + r.status.encode("ascii") + b" ")
    _resp_text(out, r.code, r.text, utf8)


def _continuation(r: Continuation, out: list[bytes], utf8: bool) -> None:
    out.append(b"+ ")
    if r.data is not None:
        out.append(base64.b64encode(r.data))
    else:
        out.append(_text(r.text, utf8))


_WRITERS: dict[type, Callable[[object, list[bytes], bool], None]] = {
    Untagged: _untagged,  # type: ignore[dict-item]
    Tagged: _tagged,  # type: ignore[dict-item]
    Status: _status,  # type: ignore[dict-item]
    Continuation: _continuation,  # type: ignore[dict-item]
}


def _write_response(response: Response, out: list[bytes], utf8: bool) -> None:
    writer = _WRITERS.get(type(response))
    if writer is None:
        raise TypeError(f"not a response: {type(response).__name__}")
    writer(response, out, utf8)
    out.append(CRLF)


_COMPLETION_CACHE_SIZE = 512
"""Distinct ``status text`` ends of tagged replies kept in wire form (``serialize``): the usual
ones are a few dozen fixed texts ("NOOP completed.", "UID FETCH completed.")."""

_COMPLETIONS: tuple[dict[tuple[str, str], bytes], dict[tuple[str, str], bytes]] = ({}, {})
"""``b" OK text\r\n"`` by (status, text), without and with UTF-8 text (``_text``)."""


def _completion(status: str, text: str, utf8: bool) -> bytes:
    """A code-less tagged reply after its tag: `` status text`` and CRLF (``_tagged``'s bytes)."""
    table = _COMPLETIONS[utf8]
    data = table.get((status, text))
    if data is None:
        head = _TAGGED_STATUS.get(status) or b" " + status.encode("ascii") + b" "
        data = head + _text(text, utf8) + CRLF
        if len(table) >= _COMPLETION_CACHE_SIZE:
            table.clear()
        table[status, text] = data
    return data


def serialize(response: Response, *, utf8: bool = False) -> bytes:
    """The wire form of one response, CRLF included."""
    if type(response) is Tagged and response.code is None:  # every command's usual completion
        return _atom_bytes(response.tag) + _completion(response.status, response.text, utf8)
    out: list[bytes] = []
    _write_response(response, out, utf8)
    return b"".join(out)


def serialize_many(responses: Iterable[Response], utf8: bool = False) -> bytes:
    """Many responses in one buffer (a FETCH burst): one join instead of one per response."""
    out: list[bytes] = []
    for response in responses:
        _write_response(response, out, utf8)
    return b"".join(out)
