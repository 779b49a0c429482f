"""Structured header fields: Content-Type/Content-Disposition parameters (RFC 2045 §5.1, RFC 2183, RFC 2231)
and address lists with groups (RFC 5322 §3.4), as ENVELOPE and BODYSTRUCTURE need them.

Theory of operation
-------------------
One tokenizer over the raw (unfolded) bytes yields atoms, quoted strings (unescaped), domain literals and
special characters, and drops comments (remembering the last one, because an address like
``jx@example.com (John X)`` gets its display name from the comment, as Dovecot does). Parsers on top are
forgiving: they never raise, they take what they can and skip the rest. Case is kept as written; callers
compare lower-cased copies.
"""

from __future__ import annotations

from dataclasses import dataclass

MISSING_MAILBOX = b"MISSING_MAILBOX"
MISSING_DOMAIN = b"MISSING_DOMAIN"
"""Placeholders for an address without local part / domain. A NIL host would make the address read as a
group marker (RFC 9051 §7.5.2), so, like Dovecot, we fill in a visible placeholder."""

_WSP = b" \t\r\n"
_ADDRESS_SPECIALS = b'()<>@,;:\\".[]'
_MIME_SPECIALS = b'()<>@,;:\\"/[]?='

# Token kinds
ATOM = 0
QUOTED = 1
SPECIAL = 2
LITERAL = 3


@dataclass(frozen=True, slots=True)
class Token:
    kind: int
    value: bytes
    space_before: bool
    comment: bytes | None = None  # the comment that followed this token, if any


def tokenize(data: bytes, specials: bytes) -> list[Token]:
    """Split ``data`` into tokens; comments are attached to the preceding token (``Token.comment``)."""
    out: list[Token] = []
    i, n = 0, len(data)
    space = False
    while i < n:
        c = data[i]
        if c in _WSP:
            space = True
            i += 1
        elif c == 0x28:  # "(" comment, nested, with quoted-pairs
            depth, j, buf = 1, i + 1, bytearray()
            while j < n and depth:
                d = data[j]
                if d == 0x5C and j + 1 < n:
                    buf.append(data[j + 1])
                    j += 2
                    continue
                if d == 0x28:
                    depth += 1
                elif d == 0x29:
                    depth -= 1
                    if not depth:
                        break
                buf.append(d)
                j += 1
            if out:
                last = out[-1]
                out[-1] = Token(last.kind, last.value, last.space_before, bytes(buf).strip())
            i = j + 1
            space = True
        elif c == 0x22:  # quoted string
            j, buf = i + 1, bytearray()
            while j < n and data[j] != 0x22:
                if data[j] == 0x5C and j + 1 < n:
                    j += 1
                buf.append(data[j])
                j += 1
            out.append(Token(QUOTED, bytes(buf), space))
            i, space = j + 1, False
        elif c == 0x5B and specials is _ADDRESS_SPECIALS:  # domain literal
            j = data.find(b"]", i)
            j = n - 1 if j < 0 else j
            out.append(Token(LITERAL, data[i : j + 1], space))
            i, space = j + 1, False
        elif c in specials:
            out.append(Token(SPECIAL, data[i : i + 1], space))
            i, space = i + 1, False
        else:
            j = i
            while j < n and data[j] not in specials and data[j] not in _WSP:
                j += 1
            out.append(Token(ATOM, data[i:j], space))
            i, space = j, False
    return out


# --------------------------------------------------------------------------------------------------
# Content-Type and Content-Disposition (RFC 2045 §5.1, RFC 2183 §2, RFC 2231 §3)


@dataclass(frozen=True, slots=True)
class ContentType:
    """A media type as written (``type``/``sub`` keep their case) with its parameters in message order.

    ``defaulted`` marks a type we supplied (no or unusable Content-Type header)."""

    type: str
    sub: str
    params: tuple[tuple[str, bytes], ...]
    defaulted: bool = False

    @property
    def maintype(self) -> str:
        return self.type.lower()

    @property
    def subtype(self) -> str:
        return self.sub.lower()

    def param(self, name: str) -> bytes | None:
        """The first parameter called ``name`` (case-insensitive), or None."""
        name = name.lower()
        for k, v in self.params:
            if k.lower() == name:
                return v
        return None


def _params(tokens: list[Token], start: int) -> tuple[tuple[str, bytes], ...]:
    """``; name=value`` pairs from ``tokens[start:]``, with RFC 2231 continuations joined."""
    raw: list[tuple[str, bytes]] = []
    i, n = start, len(tokens)
    while i < n:
        t = tokens[i]
        if t.kind == SPECIAL and t.value == b";":
            i += 1
            continue
        if t.kind != ATOM or i + 1 >= n or tokens[i + 1].value != b"=" or tokens[i + 1].kind != SPECIAL:
            i += 1
            continue
        name = t.value.decode("ascii", "replace")
        j = i + 2
        value = bytearray()
        # A value is a token or quoted-string; be lenient and take everything up to the next ";".
        while j < n and not (tokens[j].kind == SPECIAL and tokens[j].value == b";"):
            if value and tokens[j].space_before:
                value += b" "
            value += tokens[j].value
            j += 1
        raw.append((name, bytes(value)))
        i = j
    return _join_continuations(raw)


def _join_continuations(raw: list[tuple[str, bytes]]) -> tuple[tuple[str, bytes], ...]:
    """RFC 2231 §3: ``name*0``, ``name*1``... become one ``name`` (or ``name*`` when the first segment is
    extended, keeping the charset'lang' prefix so clients can decode it)."""
    if not any("*" in k for k, _ in raw):
        return tuple(raw)
    out: list[tuple[str, bytes]] = []
    segments: dict[str, dict[int, tuple[bool, bytes]]] = {}
    order: list[str] = []
    for key, value in raw:
        base, star, rest = key.partition("*")
        num_text, _, ext = rest.partition("*")
        if star and num_text.isdigit():
            low = base.lower()
            if low not in segments:
                segments[low] = {}
                order.append(low)
                out.append((base, b""))  # placeholder keeps the message order
            segments[low].setdefault(int(num_text), (ext == "" and rest.endswith("*"), value))
        else:
            out.append((key, value))
    result: list[tuple[str, bytes]] = []
    for key, value in out:
        low = key.lower()
        if value == b"" and low in segments and low in order:
            parts = segments[low]
            extended = 0 in parts and parts[0][0]
            joined = b"".join(parts[k][1] for k in sorted(parts))
            result.append((key + "*" if extended else key, joined))
            order.remove(low)
        else:
            result.append((key, value))
    return tuple(result)


def parse_content_type(value: bytes) -> ContentType | None:
    """``type/subtype; params`` (RFC 2045 §5.1); None when there is no usable ``type/subtype``."""
    tokens = tokenize(value, _MIME_SPECIALS)
    if (
        len(tokens) < 3
        or tokens[0].kind != ATOM
        or tokens[1].value != b"/"
        or tokens[1].kind != SPECIAL
        or tokens[2].kind != ATOM
    ):
        return None
    try:
        main, sub = tokens[0].value.decode("ascii"), tokens[2].value.decode("ascii")
    except UnicodeDecodeError:
        return None
    return ContentType(main, sub, _params(tokens, 3))


def parse_disposition(value: bytes) -> tuple[bytes, tuple[tuple[str, bytes], ...]] | None:
    """Content-Disposition (RFC 2183 §2): the type as written and its parameters; None when unusable."""
    tokens = tokenize(value, _MIME_SPECIALS)
    if not tokens or tokens[0].kind != ATOM:
        return None
    return tokens[0].value, _params(tokens, 1)


def parse_language(value: bytes) -> tuple[bytes, ...]:
    """Content-Language (RFC 3282 §2): the language tags in order."""
    return tuple(t.value for t in tokenize(value, _MIME_SPECIALS) if t.kind == ATOM)


# --------------------------------------------------------------------------------------------------
# Addresses (RFC 5322 §3.4), shaped for ENVELOPE (RFC 9051 §7.5.2)


@dataclass(frozen=True, slots=True)
class Address:
    """One ENVELOPE address. A group start has ``host is None`` and the group name in ``mailbox``; a group
    end has everything None (RFC 9051 §7.5.2)."""

    name: bytes | None
    adl: bytes | None
    mailbox: bytes | None
    host: bytes | None


GROUP_END = Address(None, None, None, None)


def _phrase(tokens: list[Token]) -> bytes | None:
    """A display name: words joined as written (a single space where there was white space). Dots and
    at-signs are kept, so a broken unquoted ``john@example.com <john@example.com>`` keeps its name.
    An empty name is NIL (as Dovecot)."""
    words = [t for t in tokens if t.kind in (ATOM, QUOTED) or t.value in (b".", b"@")]
    if not words:
        return None
    out = bytearray(words[0].value)
    for t in words[1:]:
        if t.space_before:
            out += b" "
        out += t.value
    return bytes(out) or None


def _addr_spec(tokens: list[Token]) -> tuple[bytes | None, bytes | None, bytes | None]:
    """(adl, mailbox, host) from the inside of ``<...>`` or a bare addr-spec."""
    adl: bytes | None = None
    colon = next((k for k, t in enumerate(tokens) if t.kind == SPECIAL and t.value == b":"), -1)
    if colon >= 0 and tokens and tokens[0].value == b"@":
        adl = b"".join(t.value for t in tokens[:colon])
        tokens = tokens[colon + 1 :]
    at = max((k for k, t in enumerate(tokens) if t.kind == SPECIAL and t.value == b"@"), default=-1)
    local_tokens = tokens if at < 0 else tokens[:at]
    host_tokens = [] if at < 0 else tokens[at + 1 :]
    local = b"".join(t.value for t in local_tokens if t.kind != SPECIAL or t.value == b".")
    host = b"".join(t.value for t in host_tokens if t.kind != SPECIAL or t.value == b".")
    return adl, local or None, host or None


def _mailbox(tokens: list[Token]) -> Address | None:
    """A name-addr or addr-spec (RFC 5322 §3.4)."""
    if not tokens:
        return None
    lt = next((k for k, t in enumerate(tokens) if t.kind == SPECIAL and t.value == b"<"), -1)
    if lt >= 0:
        gt = next((k for k in range(lt + 1, len(tokens)) if tokens[k].value == b">"), len(tokens))
        name = _phrase(tokens[:lt])
        adl, local, host = _addr_spec(tokens[lt + 1 : gt])  # "<>" (a null sender) gives placeholders
    else:
        adl, local, host = _addr_spec(tokens)
        comment = tokens[-1].comment
        name = comment if comment else None
    return Address(name, adl, local or MISSING_MAILBOX, host or MISSING_DOMAIN)


def parse_addresses(value: bytes) -> list[Address]:
    """An address list with groups, in order (RFC 5322 §3.4 address-list, obs-addr-list tolerated)."""
    tokens = tokenize(value, _ADDRESS_SPECIALS)
    out: list[Address] = []
    current: list[Token] = []
    in_group = False
    angle = 0
    for t in tokens:
        if t.kind == SPECIAL:
            if t.value == b"<":
                angle += 1
            elif t.value == b">":
                angle = max(0, angle - 1)
            elif angle == 0 and t.value == b":" and not in_group:
                out.append(Address(None, None, _phrase(current) or b"", None))
                current, in_group = [], True
                continue
            elif angle == 0 and t.value == b";" and in_group:
                m = _mailbox(current)
                if m is not None:
                    out.append(m)
                out.append(GROUP_END)
                current, in_group = [], False
                continue
            elif angle == 0 and t.value in (b",", b";"):  # a stray ";" outside a group separates too
                m = _mailbox(current)
                if m is not None:
                    out.append(m)
                current = []
                continue
        current.append(t)
    m = _mailbox(current)
    if m is not None:
        out.append(m)
    if in_group:
        out.append(GROUP_END)
    return out
