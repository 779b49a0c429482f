"""SEARCH keys (RFC 9051 §6.4.4, RFC 3501 §6.4.4, RFC 7162 §3.1.5 MODSEQ, RFC 5032 OLDER/YOUNGER).

Theory of operation: search keys are prefix notation with parentheses (``OR a b``, ``NOT a``,
``(a b c)``). A recursive descent parser would let ``NOT NOT NOT ...`` or ``((((...`` exhaust the
Python stack, so this one is a loop over an explicit stack of open operators. Each leaf key read is
"reduced" into the innermost open operator: a ``NOT`` closes after one operand, an ``OR`` after two,
a parenthesis at ``)``. The stack depth is capped at ``MAX_NESTING``.
"""

from __future__ import annotations

from collections.abc import Callable

from maildird.imap.commands import (
    SearchAll,
    SearchAnd,
    SearchDate,
    SearchFlag,
    SearchHeader,
    SearchKey,
    SearchModSeq,
    SearchNot,
    SearchOr,
    SearchSet,
    SearchSize,
    SearchText,
    SearchWithin,
)
from maildird.imap.grammar_tokens import NUMBER64_MAX, UINT32_MAX, Reader, show
from maildird.imap.grammar_values import date_value, keyword, sequence_set

__all__ = ["MAX_NESTING", "search_keys"]

MAX_NESTING = 100
"""Deepest nesting of parentheses, NOT and OR accepted in one SEARCH (and of parenthesised lists)."""

_SEEN = "\\Seen"
_RECENT = "\\Recent"

_SIMPLE: dict[str, SearchKey] = {
    "ALL": SearchAll(),
    "ANSWERED": SearchFlag("\\Answered"),
    "DELETED": SearchFlag("\\Deleted"),
    "DRAFT": SearchFlag("\\Draft"),
    "FLAGGED": SearchFlag("\\Flagged"),
    "SEEN": SearchFlag(_SEEN),
    "RECENT": SearchFlag(_RECENT),
    "UNANSWERED": SearchFlag("\\Answered", False),
    "UNDELETED": SearchFlag("\\Deleted", False),
    "UNDRAFT": SearchFlag("\\Draft", False),
    "UNFLAGGED": SearchFlag("\\Flagged", False),
    "UNSEEN": SearchFlag(_SEEN, False),
    "NEW": SearchAnd((SearchFlag(_RECENT), SearchFlag(_SEEN, False))),
    "OLD": SearchFlag(_RECENT, False),
}
"""Keys without arguments (RFC 3501 §6.4.4; RECENT/NEW/OLD are gone from RFC 9051 but kept)."""

_HEADER_KEYS = frozenset({"BCC", "CC", "FROM", "SUBJECT", "TO"})
_DATE_KEYS: dict[str, tuple[str, bool]] = {
    "BEFORE": ("before", False),
    "ON": ("on", False),
    "SINCE": ("since", False),
    "SENTBEFORE": ("before", True),
    "SENTON": ("on", True),
    "SENTSINCE": ("since", True),
}
_ENTRY_TYPES = frozenset({"PRIV", "SHARED", "ALL"})
_SEQ_START = frozenset(b"0123456789*$")

Decoder = Callable[[bytes], str]


def _modseq(r: Reader) -> SearchKey:
    # "MODSEQ" [SP entry-name SP entry-type-req] SP mod-sequence-valzer (RFC 7162 §3.1.5).
    entry: tuple[str, str] | None = None
    if r.peek() == 0x22:
        name = r.quoted().decode("ascii", "replace")
        r.sp()
        kind = r.word("an entry type (priv, shared or all)")
        if kind not in _ENTRY_TYPES:
            raise r.fail(f"Unknown MODSEQ entry type {kind}")
        entry = (name, kind.lower())
        r.sp()
    return SearchModSeq(r.number("a mod-sequence", high=NUMBER64_MAX), entry)


def _leaf(r: Reader, word: str, text: Decoder) -> SearchKey:
    """A key with arguments; the cursor is just after ``word``."""
    r.sp()
    if word in _HEADER_KEYS:
        return SearchHeader(word, text(r.astring()))
    dated = _DATE_KEYS.get(word)
    if dated is not None:
        op, sent = dated
        return SearchDate(op, date_value(r), sent)  # type: ignore[arg-type]
    if word == "BODY":
        return SearchText(text(r.astring()), body_only=True)
    if word == "TEXT":
        return SearchText(text(r.astring()))
    if word == "HEADER":
        name = r.astring("a header field name").decode("ascii", "replace").upper()
        r.sp()
        return SearchHeader(name, text(r.astring()))
    if word in ("KEYWORD", "UNKEYWORD"):
        return SearchFlag(keyword(r), word == "KEYWORD")
    if word in ("LARGER", "SMALLER"):
        return SearchSize(word == "LARGER", r.number("a size", high=NUMBER64_MAX))
    if word == "UID":
        return SearchSet(sequence_set(r), uid=True)
    if word == "MODSEQ":
        return _modseq(r)
    if word in ("OLDER", "YOUNGER"):
        return SearchWithin(word == "OLDER", r.number("a number of seconds", low=1, high=UINT32_MAX))
    raise AssertionError(word)


_LEAF_WORDS = _HEADER_KEYS | frozenset(_DATE_KEYS) | {
    "BODY", "TEXT", "HEADER", "KEYWORD", "UNKEYWORD", "LARGER", "SMALLER", "UID", "MODSEQ",
    "OLDER", "YOUNGER",
}  # fmt: skip


def _group(keys: list[SearchKey]) -> SearchKey:
    return keys[0] if len(keys) == 1 else SearchAnd(tuple(keys))


def search_keys(r: Reader, text: Decoder) -> SearchKey:
    """``1*(SP search-key)`` up to the end of the command; one key is returned as itself, several
    as ``SearchAnd``. ``text`` decodes string arguments (per CHARSET)."""
    # Each frame: [operator, operands]; operator is "", "(", "NOT" or "OR" ("" is the top level).
    stack: list[tuple[str, list[SearchKey]]] = [("", [])]
    while True:
        op, operands = stack[-1]
        if op == "":
            if operands and r.at_end():
                return _group(operands)
            r.sp()
        elif op == "(":
            if operands:
                if r.try_char(0x29):
                    stack.pop()
                    _reduce(stack, _group(operands))
                    continue
                if r.peek() == -1:
                    raise r.fail("Missing ')' in search keys")
                r.sp()
        else:
            r.sp()
        c = r.peek()
        if c == 0x28:
            r.pos += 1
            _push(r, stack, "(")
            continue
        if c in _SEQ_START:
            key: SearchKey = SearchSet(sequence_set(r))
        else:
            start = r.pos
            word = r.word("a search key")
            simple = _SIMPLE.get(word)
            if simple is not None:
                key = simple
            elif word in ("NOT", "OR"):
                _push(r, stack, word)
                continue
            elif word in _LEAF_WORDS:
                key = _leaf(r, word, text)
            else:
                raise r.fail(f"Unknown search key '{show(r.line[start : r.pos])}'")
        _reduce(stack, key)


def _push(r: Reader, stack: list[tuple[str, list[SearchKey]]], op: str) -> None:
    if len(stack) > MAX_NESTING:
        raise r.fail(f"Search keys nested deeper than {MAX_NESTING}")
    stack.append((op, []))


def _reduce(stack: list[tuple[str, list[SearchKey]]], key: SearchKey) -> None:
    """Hand ``key`` to the innermost open operator, closing NOT/OR operators that are complete."""
    while True:
        op, operands = stack[-1]
        operands.append(key)
        if op == "NOT":
            stack.pop()
            key = SearchNot(operands[0])
        elif op == "OR" and len(operands) == 2:
            stack.pop()
            key = SearchOr(operands[0], operands[1])
        else:
            return
