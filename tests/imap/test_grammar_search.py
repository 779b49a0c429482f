"""SEARCH grammar (RFC 9051 §6.4.4, RFC 3501 §6.4.4, RFC 4731 ESEARCH, RFC 5182 SEARCHRES, RFC 7162
MODSEQ, RFC 5032 OLDER/YOUNGER): every key, mapped onto the Search* classes."""

from __future__ import annotations

from datetime import date

import pytest

from maildird.imap import commands as c
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
    SequenceSet,
)
from maildird.imap.grammar import MAX_NESTING
from maildird.imap.grammar_values import charset_known
from tests.imap.grammar_util import error, parse

FEB1 = date(1994, 2, 1)

# One key after "t SEARCH ", and the key it must become.
KEYS: list[tuple[bytes, SearchKey]] = [
    (b"ALL", SearchAll()),
    (b"ANSWERED", SearchFlag("\\Answered")),
    (b"BCC joe", SearchHeader("BCC", "joe")),
    (b"BEFORE 1-Feb-1994", SearchDate("before", FEB1)),
    (b'BODY "a b"', SearchText("a b", body_only=True)),
    (b"CC {3}\r\nx y", SearchHeader("CC", "x y")),
    (b"DELETED", SearchFlag("\\Deleted")),
    (b"DRAFT", SearchFlag("\\Draft")),
    (b"FLAGGED", SearchFlag("\\Flagged")),
    (b"FROM Smith", SearchHeader("FROM", "Smith")),
    (b"HEADER Message-ID <a@b>", SearchHeader("MESSAGE-ID", "<a@b>")),
    (b'HEADER X-Spam ""', SearchHeader("X-SPAM", "")),
    (b"KEYWORD $Junk", SearchFlag("$Junk")),
    (b"LARGER 4096", SearchSize(True, 4096)),
    (b"NEW", SearchAnd((SearchFlag("\\Recent"), SearchFlag("\\Seen", False)))),
    (b"NOT SEEN", SearchNot(SearchFlag("\\Seen"))),
    (b"OLD", SearchFlag("\\Recent", False)),
    (b'ON "01-Feb-1994"', SearchDate("on", FEB1)),
    (b"OR SEEN FLAGGED", SearchOr(SearchFlag("\\Seen"), SearchFlag("\\Flagged"))),
    (b"RECENT", SearchFlag("\\Recent")),
    (b"SEEN", SearchFlag("\\Seen")),
    (b"SENTBEFORE 1-Feb-1994", SearchDate("before", FEB1, sent=True)),
    (b"SENTON 1-feb-1994", SearchDate("on", FEB1, sent=True)),
    (b"SENTSINCE 01-FEB-1994", SearchDate("since", FEB1, sent=True)),
    (b"SINCE 1-Feb-1994", SearchDate("since", FEB1)),
    (b"SMALLER 10", SearchSize(False, 10)),
    (b'SUBJECT "hello \\"world\\""', SearchHeader("SUBJECT", 'hello "world"')),
    (b"TEXT foo", SearchText("foo")),
    (b"TO bob", SearchHeader("TO", "bob")),
    (b"UID 1:5,7", SearchSet(SequenceSet(((1, 5), (7, 7))), uid=True)),
    (b"UNANSWERED", SearchFlag("\\Answered", False)),
    (b"UNDELETED", SearchFlag("\\Deleted", False)),
    (b"UNDRAFT", SearchFlag("\\Draft", False)),
    (b"UNFLAGGED", SearchFlag("\\Flagged", False)),
    (b"UNKEYWORD $Forwarded", SearchFlag("$Forwarded", False)),
    (b"UNSEEN", SearchFlag("\\Seen", False)),
    (b"1:*", SearchSet(SequenceSet(((1, None),)))),
    (b"2,4:6,*", SearchSet(SequenceSet(((2, 2), (4, 6), (None, None))))),
    (b"$", SearchSet(SequenceSet((), saved=True))),
    (b"UID $", SearchSet(SequenceSet((), saved=True), uid=True)),
    (b"MODSEQ 0", SearchModSeq(0)),
    (b"MODSEQ 9223372036854775807", SearchModSeq(9223372036854775807)),
    (b'MODSEQ "/flags/\\\\draft" all 620162338', SearchModSeq(620162338, ("/flags/\\draft", "all"))),
    (b"OLDER 3600", SearchWithin(True, 3600)),
    (b"YOUNGER 259200", SearchWithin(False, 259200)),
    (b"(SEEN)", SearchFlag("\\Seen")),
    (b"(SEEN FLAGGED)", SearchAnd((SearchFlag("\\Seen"), SearchFlag("\\Flagged")))),
    (b"((((ALL))))", SearchAll()),
    (b"seen", SearchFlag("\\Seen")),
]


@pytest.mark.parametrize(("key", "expected"), KEYS, ids=[k.decode() for k, _ in KEYS])
def test_each_key(key: bytes, expected: SearchKey) -> None:
    assert parse(b"t SEARCH " + key) == c.Search("t", expected)
    assert parse(b"t UID SEARCH " + key) == c.Search("t", expected, uid=True)


SEARCHES: list[tuple[bytes, c.Search]] = [
    # RFC 3501 §6.4.4 / RFC 9051 §6.4.4 examples.
    (
        b'A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"',
        c.Search(
            "A282",
            SearchAnd(
                (SearchFlag("\\Flagged"), SearchDate("since", FEB1), SearchNot(SearchHeader("FROM", "Smith")))
            ),
        ),
    ),
    (
        b'A283 SEARCH TEXT "string not in mailbox"',
        c.Search("A283", SearchText("string not in mailbox")),
    ),
    (
        b"A284 SEARCH CHARSET UTF-8 TEXT {12}\r\n\xd0\x9b\xd0\xb5\xd0\xbd\xd0\xb8\xd0\xbd\xd0\xb0",
        c.Search("A284", SearchText("\u041b\u0435\u043d\u0438\u043d\u0430"), charset="UTF-8"),
    ),
    (
        b"A285 SEARCH CHARSET UTF-8 TEXT {12+}\r\n\xd0\x9b\xd0\xb5\xd0\xbd\xd0\xb8\xd0\xbd\xd0\xb0",
        c.Search("A285", SearchText("\u041b\u0435\u043d\u0438\u043d\u0430"), charset="UTF-8"),
    ),
    (
        b'A282 SEARCH RETURN (MIN COUNT) FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"',
        c.Search(
            "A282",
            SearchAnd(
                (SearchFlag("\\Flagged"), SearchDate("since", FEB1), SearchNot(SearchHeader("FROM", "Smith")))
            ),
            return_options=("MIN", "COUNT"),
        ),
    ),
    (
        b"A283 SEARCH RETURN () FLAGGED",
        c.Search("A283", SearchFlag("\\Flagged"), return_options=()),
    ),
    (
        b"A301 UID SEARCH RETURN (SAVE) SINCE 1-Feb-1994",
        c.Search("A301", SearchDate("since", FEB1), uid=True, return_options=("SAVE",)),
    ),
    (
        b"A302 SEARCH $ SMALLER 4096",
        c.Search("A302", SearchAnd((SearchSet(SequenceSet((), saved=True)), SearchSize(False, 4096)))),
    ),
    (
        b"a1 SEARCH UNSEEN YOUNGER 259200",
        c.Search("a1", SearchAnd((SearchFlag("\\Seen", False), SearchWithin(False, 259200)))),
    ),
    # RETURN comes before CHARSET (RFC 4731 §3.1); both case-insensitive; CHARSET may be quoted.
    (
        b't search return (min max all count save) charset "us-ascii" all',
        c.Search("t", SearchAll(), charset="US-ASCII", return_options=("MIN", "MAX", "ALL", "COUNT", "SAVE")),
    ),
    # ISO-8859-1 strings are decoded with that charset.
    (
        b"t SEARCH CHARSET ISO-8859-1 SUBJECT {1}\r\n\xe9",
        c.Search("t", SearchHeader("SUBJECT", "\u00e9"), charset="ISO-8859-1"),
    ),
    # Nesting: OR of ORs (Thunderbird's "any of" filters) and parenthesised groups.
    (
        b"t SEARCH OR OR FROM a TO b (CC c NOT BCC d)",
        c.Search(
            "t",
            SearchOr(
                SearchOr(SearchHeader("FROM", "a"), SearchHeader("TO", "b")),
                SearchAnd((SearchHeader("CC", "c"), SearchNot(SearchHeader("BCC", "d")))),
            ),
        ),
    ),
    (
        b"t SEARCH NOT NOT (OR 1 2) 3",
        c.Search(
            "t",
            SearchAnd(
                (
                    SearchNot(
                        SearchNot(
                            SearchOr(
                                SearchSet(SequenceSet(((1, 1),))),
                                SearchSet(SequenceSet(((2, 2),))),
                            )
                        )
                    ),
                    SearchSet(SequenceSet(((3, 3),))),
                )
            ),
        ),
    ),
    (
        b"t UID SEARCH UNDELETED UID 100:* MODSEQ 5",
        c.Search(
            "t",
            SearchAnd(
                (
                    SearchFlag("\\Deleted", False),
                    SearchSet(SequenceSet(((100, None),)), uid=True),
                    SearchModSeq(5),
                )
            ),
            uid=True,
        ),
    ),
]


@pytest.mark.parametrize(("data", "expected"), SEARCHES, ids=[d[:50].decode("latin-1") for d, _ in SEARCHES])
def test_searches(data: bytes, expected: c.Search) -> None:
    assert parse(data) == expected


def test_or_chain_of_fifty_terms() -> None:
    # Thunderbird writes an "any of N" filter as N-1 nested ORs.
    terms = [b"FROM u%d" % i for i in range(50)]
    data = b"t SEARCH " + b"OR " * 49 + b" ".join(terms)
    key = parse(data).key  # type: ignore[attr-defined]
    depth = 0
    while isinstance(key, SearchOr):
        assert key.right == SearchHeader("FROM", f"u{49 - depth}")
        key = key.left
        depth += 1
    assert depth == 49
    assert key == SearchHeader("FROM", "u0")


def test_nesting_limit() -> None:
    ok = b"t SEARCH " + b"(" * MAX_NESTING + b"ALL" + b")" * MAX_NESTING
    assert parse(ok) == c.Search("t", SearchAll())
    too_deep = b"t SEARCH " + b"(" * (MAX_NESTING + 1) + b"ALL" + b")" * (MAX_NESTING + 1)
    assert "nested deeper" in error(too_deep).message
    assert "nested deeper" in error(b"t SEARCH " + b"NOT " * 10_000 + b"ALL").message
    assert "nested deeper" in error(b"t SEARCH " + b"(" * 10_000).message
    assert "nested deeper" in error(b"t SEARCH " + b"OR " * 10_000 + b"ALL").message


SEARCH_ERRORS: list[tuple[bytes, str]] = [
    (b"t SEARCH", "Expected a space"),
    (b"t SEARCH ", "search key"),
    (b"t SEARCH FOO", "Unknown search key 'FOO'"),
    (b"t SEARCH SEEN  FLAGGED", "search key"),
    (b"t SEARCH ()", "search key"),
    (b"t SEARCH (SEEN", "Missing ')'"),
    (b"t SEARCH SEEN)", "got ')'"),
    (b"t SEARCH NOT", "Expected a space"),
    (b"t SEARCH OR SEEN", "Expected a space"),
    (b"t SEARCH BEFORE 31-Feb-1994", "Invalid date '31-Feb-1994'"),
    (b"t SEARCH BEFORE 1-Fob-1994", "Invalid date '1-Fob-1994'"),
    (b"t SEARCH BEFORE 1994-02-01", "date like 1-Feb-1994, got '1994-02-01'"),
    (b't SEARCH SINCE "1-Feb-1994', "date"),
    (b"t SEARCH LARGER x", "Expected a size"),
    (b"t SEARCH LARGER 99999999999999999999999", "99999999999999999999999"),
    (b"t SEARCH UID 0:5", "Invalid sequence set '0:5'"),
    (b"t SEARCH 1:2:3", "Invalid sequence set '1:2:3'"),
    (b"t SEARCH 4294967296", "Invalid sequence set '4294967296'"),
    (b"t SEARCH KEYWORD \\Seen", "keyword"),
    (b"t SEARCH OLDER 0", "seconds"),
    (b"t SEARCH MODSEQ -1", "mod-sequence"),
    (b't SEARCH MODSEQ "/flags/x" bogus 5', "entry type"),
    (b"t SEARCH RETURN (BOGUS) ALL", "Unknown SEARCH return option BOGUS"),
    (b"t SEARCH CHARSET UTF-8 RETURN (MIN) ALL", "Unknown search key 'RETURN'"),
    (b"t SEARCH CHARSET {5}\r\nUTF-8 ALL", "charset"),
    (b"t SEARCH HEADER", "Expected a space"),
    (b't SEARCH FROM "a\\nb"', "Bad escape"),
]


@pytest.mark.parametrize(("data", "message"), SEARCH_ERRORS, ids=[d.decode() for d, _ in SEARCH_ERRORS])
def test_search_errors(data: bytes, message: str) -> None:
    exc = error(data)
    assert message in exc.message
    assert exc.tag == "t"
    assert exc.code == "PARSE"


def test_charset_known() -> None:
    assert charset_known("UTF-8")
    assert charset_known("ISO-8859-1")
    assert not charset_known("X-NO-SUCH-CHARSET")
    # An unknown charset still parses; the handler answers NO [BADCHARSET] (RFC 9051 §6.4.4).
    command = parse(b"t SEARCH CHARSET X-NO-SUCH-CHARSET TEXT abc")
    assert command == c.Search("t", SearchText("abc"), charset="X-NO-SUCH-CHARSET")
