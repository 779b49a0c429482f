"""FETCH items, FETCH modifiers and STORE arguments.

RFC 9051 §6.4.5 / §9 (``fetch-att``, ``section``, ``partial``), RFC 3501 §6.4.5 (RFC822.* items and
the ALL/FAST/FULL macros), RFC 3516 §4.2 (BINARY), RFC 7162 §3.1.3-§3.1.4 and §3.2.6 (MODSEQ,
CHANGEDSINCE, UNCHANGEDSINCE, VANISHED), RFC 9051 §6.4.6 (STORE).
"""

from __future__ import annotations

import re
from typing import Literal

from maildird.imap.commands import FetchAtt, FetchBinary, FetchBody, FetchItem, Section
from maildird.imap.grammar_tokens import NUMBER64_MAX, Reader, show
from maildird.imap.grammar_values import flag, flag_list

__all__ = ["fetch_items", "fetch_modifiers", "store_action", "store_flags"]

SIMPLE_ATTS = frozenset(
    {
        "ENVELOPE", "FLAGS", "INTERNALDATE", "RFC822", "RFC822.HEADER", "RFC822.SIZE", "RFC822.TEXT",
        "BODY", "BODYSTRUCTURE", "UID", "MODSEQ", "SAVEDATE", "EMAILID", "THREADID",
    }
)  # fmt: skip
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_FAST = (FetchAtt("FLAGS"), FetchAtt("INTERNALDATE"), FetchAtt("RFC822.SIZE"))
MACROS: dict[str, tuple[FetchItem, ...]] = {
    "FAST": _FAST,
    "ALL": (*_FAST, FetchAtt("ENVELOPE")),
    "FULL": (*_FAST, FetchAtt("ENVELOPE"), FetchAtt("BODY")),
}
"""RFC 9051 §6.4.5: the macros, valid only on their own (not inside a parenthesised list)."""

_NAME_RE = re.compile(rb"[A-Za-z0-9.]+")
_SECTION_TEXT_RE = re.compile(rb"HEADER\.FIELDS\.NOT|HEADER\.FIELDS|HEADER|TEXT|MIME", re.IGNORECASE)
_STORE_RE = re.compile(rb"([+-]?)FLAGS(\.SILENT)?(?= )", re.IGNORECASE)
_STORE_MODES: dict[bytes, Literal["replace", "add", "remove"]] = {b"": "replace", b"+": "add", b"-": "remove"}
SectionText = Literal["HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME"]


def _part(r: Reader) -> tuple[tuple[int, ...], bool]:
    """``section-part = nz-number *("." nz-number)``; returns the part and whether a "." that
    introduces a section-text follows."""
    part: list[int] = []
    while 0x30 <= r.peek() <= 0x39:
        part.append(r.number("a part number", low=1))
        if not r.try_char(0x2E):
            return tuple(part), False
    return tuple(part), bool(part)


def _section(r: Reader) -> Section:
    """``section = "[" [section-spec] "]"``; the cursor is on the "["."""
    r.pos += 1
    part, dotted = _part(r)
    text: SectionText | None = None
    fields: tuple[str, ...] = ()
    if dotted or (not part and r.peek() != 0x5D):
        m = _SECTION_TEXT_RE.match(r.line, r.pos)
        if m is None:
            raise r.fail(f"Invalid section text {r.token_text()}")
        r.pos = m.end()
        text = m.group().upper().decode("ascii")  # type: ignore[assignment]
        if text == "MIME" and not part:
            raise r.fail("MIME needs a part number, as in BODY[1.MIME]")
        if text in ("HEADER.FIELDS", "HEADER.FIELDS.NOT"):
            r.sp()
            fields = _header_list(r)
    r.expect(0x5D, "']' to close the section")
    return Section(part, text, fields)


def _header_list(r: Reader) -> tuple[str, ...]:
    """``header-list = "(" header-fld-name *(SP header-fld-name) ")"``; names upper-cased."""
    r.expect(0x28, "'(' to open the header field list")
    names: list[str] = []
    while True:
        raw = r.astring("a header field name")
        try:
            name = raw.decode("ascii")
        except UnicodeDecodeError:
            raise r.fail(f"Header field name '{show(raw)}' is not ASCII")
        if _CONTROL_RE.search(name):
            # No field name holds one (RFC 5322 §2.2: printable US-ASCII), and the name is echoed in
            # the response's section spec: a CR LF there would end the response line mid-string.
            raise r.fail(f"Header field name '{show(raw)}' contains control characters")
        names.append(name.upper())
        if r.try_char(0x29):
            return tuple(names)
        r.sp()


def _partial(r: Reader) -> tuple[int, int] | None:
    """``partial = "<" number64 "." nz-number64 ">"`` (RFC 9051 §9)."""
    if not r.try_char(0x3C):
        return None
    origin = r.number("a partial origin", high=NUMBER64_MAX)
    r.expect(0x2E, "'.' in the partial range")
    count = r.number("a partial length", low=1, high=NUMBER64_MAX)
    r.expect(0x3E, "'>' to close the partial range")
    return origin, count


def _binary_part(r: Reader) -> tuple[int, ...]:
    """``section-binary = "[" [section-part] "]"`` (RFC 3516 §4.2)."""
    r.pos += 1
    part, dotted = _part(r)
    if dotted:
        raise r.fail("BINARY takes only a part number, as in BINARY[1.2]")
    r.expect(0x5D, "']' to close the BINARY section")
    return part


def fetch_att(r: Reader) -> FetchItem:
    start = r.pos
    raw = r.match(_NAME_RE)
    if raw is None:
        raise r.fail(f"Expected a FETCH item, got {r.token_text()}")
    name = raw.decode("ascii").upper()
    if r.peek() == 0x5B:
        if name in ("BODY", "BODY.PEEK"):
            section = _section(r)
            return FetchBody(section, name == "BODY.PEEK", _partial(r))
        if name in ("BINARY", "BINARY.PEEK"):
            part = _binary_part(r)
            return FetchBinary(part, name == "BINARY.PEEK", _partial(r))
        if name == "BINARY.SIZE":
            return FetchBinary(_binary_part(r), size=True)
    elif name in SIMPLE_ATTS:
        return FetchAtt(name)
    r.pos = start
    suffix = "[...]" if r.line[start + len(raw) : start + len(raw) + 1] == b"[" else ""
    raise r.fail(f"Unknown FETCH item '{show(raw)}{suffix}'")


ITEMS_MEMO_SIZE = 256
"""FETCH item lists remembered by their text (clients repeat the same list with every FETCH)."""

_ITEMS_MEMO: dict[tuple[bytes, bool], tuple[tuple[FetchItem, ...], int]] = {}


def fetch_items(r: Reader) -> tuple[FetchItem, ...]:
    """``"ALL" / "FULL" / "FAST" / fetch-att / "(" fetch-att *(SP fetch-att) ")"``.

    A message list sends the same items with every FETCH, so a list parsed once is remembered by the
    rest of the command line (items and modifiers, when no literal follows: the result then depends
    on those octets alone) and the octets it took."""
    if not r.on_last_line():
        return _fetch_items(r)
    key = (r.line[r.pos :], r.utf8)
    hit = _ITEMS_MEMO.get(key)
    if hit is not None:
        r.pos += hit[1]
        return hit[0]
    start = r.pos
    items = _fetch_items(r)
    if len(_ITEMS_MEMO) >= ITEMS_MEMO_SIZE:
        _ITEMS_MEMO.clear()
    _ITEMS_MEMO[key] = (items, r.pos - start)
    return items


def cached_items(rest: bytes, utf8: bool) -> tuple[FetchItem, ...] | None:
    """The items of a FETCH whose command line goes on with ``rest`` after its sequence set and
    space, when ``fetch_items`` has read that text before and it held the items alone (no modifier
    follows them); else None."""
    hit = _ITEMS_MEMO.get((rest, utf8))
    if hit is None or hit[1] != len(rest):
        return None
    return hit[0]


def _fetch_items(r: Reader) -> tuple[FetchItem, ...]:
    if r.try_char(0x28):
        items = [fetch_att(r)]
        while not r.try_char(0x29):
            if r.peek() == -1:
                raise r.fail("Missing ')' after FETCH items")
            r.sp()
            items.append(fetch_att(r))
        return tuple(items)
    m = _NAME_RE.match(r.line, r.pos)
    if m is not None:
        macro = MACROS.get(m.group().decode("ascii").upper())
        if macro is not None and r.line[m.end() : m.end() + 1] != b"[":
            r.pos = m.end()
            return macro
    return (fetch_att(r),)


def fetch_modifiers(r: Reader, *, uid: bool) -> tuple[int | None, bool]:
    """``[SP "(" fetch-modifier *(SP fetch-modifier) ")"]``: ``(changedsince, vanished)``.

    VANISHED needs UID FETCH and CHANGEDSINCE (RFC 7162 §3.2.6: otherwise tagged BAD).
    """
    changedsince: int | None = None
    vanished = False
    if r.at_end():
        return None, False
    r.sp()
    r.expect(0x28, "'(' to open the FETCH modifiers")
    while True:
        word = r.word("a FETCH modifier")
        if word == "CHANGEDSINCE" and changedsince is None:
            r.sp()
            changedsince = r.number("a mod-sequence", low=1, high=NUMBER64_MAX)
        elif word == "VANISHED" and not vanished:
            vanished = True
        else:
            raise r.fail(f"Unknown or repeated FETCH modifier {word}")
        if r.try_char(0x29):
            break
        r.sp()
    if vanished and not uid:
        raise r.fail("VANISHED is only allowed with UID FETCH", "CLIENTBUG")
    if vanished and changedsince is None:
        raise r.fail("VANISHED needs CHANGEDSINCE", "CLIENTBUG")
    return changedsince, vanished


def store_modifiers(r: Reader) -> int | None:
    """``[SP "(" "UNCHANGEDSINCE" SP mod-sequence-valzer ")"]`` (RFC 7162 §3.1.3); the cursor is
    after the sequence set."""
    if r.line[r.pos : r.pos + 2] != b" (":
        return None
    r.pos += 2
    word = r.word("a STORE modifier")
    if word != "UNCHANGEDSINCE":
        raise r.fail(f"Unknown STORE modifier {word}")
    r.sp()
    value = r.number("a mod-sequence", high=NUMBER64_MAX)
    r.expect(0x29, "')' after the STORE modifier")
    return value


def store_action(r: Reader) -> tuple[Literal["replace", "add", "remove"], bool]:
    """``["+" / "-"] "FLAGS" [".SILENT"]``: ``(mode, silent)``."""
    m = _STORE_RE.match(r.line, r.pos)
    if m is None:
        raise r.fail(f"Expected FLAGS, +FLAGS or -FLAGS (optionally .SILENT), got {r.token_text()}")
    r.pos = m.end()
    return _STORE_MODES[m.group(1)], m.group(2) is not None


def store_flags(r: Reader) -> tuple[str, ...]:
    """``flag-list / (flag *(SP flag))``; the cursor is on the first flag or "("."""
    if r.peek() == 0x28:
        return flag_list(r)
    flags = [flag(r)]
    while r.try_sp():
        flags.append(flag(r))
    return tuple(flags)
