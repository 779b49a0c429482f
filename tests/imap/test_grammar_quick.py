"""The grammar's quick reading of the usual commands (``grammar._quick``: argument-less commands and a
one-range FETCH whose item list was read before) gives the same value as the token readers
(``grammar.parse_full``), or steps aside; anything it does not take is read the full way, errors
included (RFC 9051 §9)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maildird.imap import commands as c
from maildird.imap import grammar
from maildird.imap.grammar_tokens import ParseError
from maildird.imap.raw import RawCommand

ITEMS = [
    "(UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (From Subject Date)])",
    "(FLAGS)",
    "FAST",
    "(UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID)])",
    "(FLAGS) (CHANGEDSINCE 5)",
    "(UID FLAGS) (CHANGEDSINCE 5 VANISHED)",
    "ENVELOPE",
    '(BODY.PEEK[HEADER.FIELDS ("Subject" x-odd)]<0.100>)',
]

LINES = [
    "a1 NOOP",
    "a1 noop",
    "a1 NoOp",
    "A.b-7 CHECK",
    "x CAPABILITY",
    "x LOGOUT",
    "x IDLE",
    "x CLOSE",
    "x UNSELECT",
    "x EXPUNGE",
    "x NAMESPACE",
    "x STARTTLS",
    "a1 NOOP ",
    "a1 NOOP extra",
    "a1  NOOP",
    "a+1 NOOP",
    "a(1 NOOP",
    "* NOOP",
    " NOOP",
    "NOOP",
    "a1 NOOPX",
    "a1 UID EXPUNGE 1:3",
    "t7 FETCH 1 (FLAGS)",
    "t7 FETCH 12:21 (FLAGS)",
    "t7 fetch 21:12 (FLAGS)",
    "t7 UID FETCH 5:* (FLAGS)",
    "t7 uid Fetch 5 (FLAGS)",
    "t7 FETCH 0:5 (FLAGS)",
    "t7 FETCH 1:0 (FLAGS)",
    "t7 FETCH 4294967295 (FLAGS)",
    "t7 FETCH 4294967296 (FLAGS)",
    "t7 FETCH 9999999999:1 (FLAGS)",
    "t7 FETCH 012:021 (FLAGS)",
    "t7 FETCH *:5 (FLAGS)",
    "t7 FETCH 1,3 (FLAGS)",
    "t7 FETCH 1:3,5 (FLAGS)",
    "t7 FETCH $ (FLAGS)",
    "t7 FETCH 1:3  (FLAGS)",
    "t7 FETCH 1:3 (FLAGS) ",
    "t7 FETCH 1:3 (FLAGS) extra",
    "t7 FETCHX 1:3 (FLAGS)",
    "t7 UIDFETCH 1:3 (FLAGS)",
    "t7 UID FETCH 1:3 (FLAGS) (VANISHED)",
    "t+7 FETCH 1:3 (FLAGS)",
]


def _learn(utf8: bool) -> None:
    """Let the item memo know every list (the quick FETCH takes only known ones)."""
    for items in ITEMS:
        grammar.parse_full(RawCommand((f"m UID FETCH 1 {items}".encode(),)), utf8=utf8)


def _full(line: str, utf8: bool) -> c.Command | ParseError:
    try:
        return grammar.parse_full(RawCommand((line.encode("utf-8"),)), utf8=utf8)
    except ParseError as exc:
        return exc


def _parsed(line: str, utf8: bool) -> c.Command | ParseError:
    try:
        return grammar.parse_command(RawCommand((line.encode("utf-8"),)), utf8=utf8)
    except ParseError as exc:
        return exc


def _same(a: c.Command | ParseError, b: c.Command | ParseError) -> bool:
    if isinstance(a, ParseError) or isinstance(b, ParseError):
        return (
            isinstance(a, ParseError)
            and isinstance(b, ParseError)
            and (a.message, a.tag, a.code) == (b.message, b.tag, b.code)
        )
    return a == b and type(a) is type(b)


@pytest.mark.parametrize("utf8", [False, True])
@pytest.mark.parametrize("line", LINES + [f"f{n} FETCH 3:9 {items}" for n, items in enumerate(ITEMS)])
def test_same_value_as_the_token_readers(line: str, utf8: bool) -> None:
    _learn(utf8)
    assert _same(_parsed(line, utf8), _full(line, utf8)), line


def test_quick_paths_are_taken() -> None:
    grammar.parse_full(RawCommand((b"m FETCH 1 (FLAGS)",)))
    assert grammar._quick(b"a1 noop", False) == c.Noop("a1")
    fetch = grammar._quick(b"a2 UID FETCH 7:* (FLAGS)", False)
    assert isinstance(fetch, c.Fetch)
    assert (fetch.tag, fetch.set.ranges, fetch.uid) == ("a2", ((7, None),), True)
    assert fetch.items == (c.FetchAtt("FLAGS"),)
    # Left to the token readers: modifiers after the items, an unknown item list, a bad tag, literals.
    assert grammar._quick(b"a3 FETCH 1 (FLAGS) (CHANGEDSINCE 5)", False) is None
    assert grammar._quick(b"a3 FETCH 1 (FLAGS RFC822.SIZE INTERNALDATE)", True) is None
    assert grammar._quick(b"a+ NOOP", False) is None


_TAG = st.text(alphabet="ab+*(){%1.-", min_size=0, max_size=4)
_NAME = st.sampled_from(["NOOP", "noop", "FETCH", "UID FETCH", "fetch", "CHECK", "LOGOUT", "NOOPS"])
_SEQ = st.text(alphabet="0123456789:*,$", min_size=0, max_size=12)
_REST = st.sampled_from(["", " ", " x", *[" " + i for i in ITEMS], " (FLAGS", " (FLAGS)) "])


@given(_TAG, _NAME, _SEQ, _REST, st.booleans())
def test_any_line_reads_the_same(tag: str, name: str, seq: str, rest: str, utf8: bool) -> None:
    _learn(utf8)
    line = f"{tag} {name}" + (f" {seq}{rest}" if seq or rest else "")
    assert _same(_parsed(line, utf8), _full(line, utf8)), line
