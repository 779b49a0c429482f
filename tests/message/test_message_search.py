"""SEARCH keys (RFC 9051 §6.4.4): each with a matching and a non-matching message."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

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
from maildird.message.parse import ParsedMessage
from maildird.message.search import SearchContext, matches, needs_message, prefilter
from tests.message.samples import ALTERNATIVE, MIXED, PLAIN

NOW = datetime(2024, 5, 10, 12, 0, tzinfo=UTC)
PST = timezone(timedelta(hours=-8))

ENCODED = (
    b"From: =?iso-8859-1?q?J=F6rg_M=FCller?= <joerg@example.de>\n"
    b"To: team@example.com\nCc: Boss <boss@example.com>\nBcc: secret@example.com\n"
    b"Subject: =?utf-8?b?w5xiZXJ3ZWlzdW5n?= received\n"
    b"X-Tracker: Ticket 42\n"
    b"Date: Fri, 10 May 2024 23:30:00 -0700\n"
    b"Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: base64\n\n"
    + b"R3L832UgYXVzIEvWbG4K\n"  # "Grüße aus KÖln\n" in latin-1, base64
)


def ctx_for(
    raw: bytes,
    *,
    seq: int = 3,
    uid: int = 30,
    flags: frozenset[str] = frozenset(),
    recent: bool = False,
    internaldate: datetime = NOW,
    modseq: int = 7,
    saved: frozenset[int] = frozenset(),
) -> SearchContext:
    lf = raw
    return SearchContext(
        seq=seq,
        uid=uid,
        flags=flags,
        size=ParsedMessage.parse(lf).size,
        internaldate=internaldate,
        modseq=modseq,
        recent=recent,
        largest_seq=5,
        largest_uid=50,
        load=lambda: lf,
        saved=saved,
        now=NOW,
    )


def crlf_size(raw: bytes) -> int:
    return len(raw.replace(b"\n", b"\r\n"))


# (id, key, message, context options, expected)
CASES: list[tuple[str, SearchKey, bytes, dict[str, object], bool]] = [
    ("all", SearchAll(), PLAIN, {}, True),
    ("seen+", SearchFlag("\\Seen"), PLAIN, {"flags": frozenset({"\\Seen"})}, True),
    ("seen-", SearchFlag("\\Seen"), PLAIN, {}, False),
    ("unseen+", SearchFlag("\\Seen", False), PLAIN, {}, True),
    ("unseen-", SearchFlag("\\Seen", False), PLAIN, {"flags": frozenset({"\\Seen"})}, False),
    ("keyword+", SearchFlag("$Junk"), PLAIN, {"flags": frozenset({"$junk"})}, True),
    ("keyword-", SearchFlag("$Junk"), PLAIN, {"flags": frozenset({"$NotJunk"})}, False),
    ("recent+", SearchFlag("\\Recent"), PLAIN, {"recent": True}, True),
    ("recent-", SearchFlag("\\Recent"), PLAIN, {}, False),
    # Seed bug 11: NEW is RECENT and UNSEEN.
    ("new+", SearchAnd((SearchFlag("\\Recent"), SearchFlag("\\Seen", False))), PLAIN, {"recent": True}, True),
    (
        "new-",
        SearchAnd((SearchFlag("\\Recent"), SearchFlag("\\Seen", False))),
        PLAIN,
        {"recent": True, "flags": frozenset({"\\Seen"})},
        False,
    ),
    # Seed bug 1: FROM/TO/CC/BCC/HEADER matched every message that had the field.
    ("from+", SearchHeader("FROM", "john@EXAMPLE"), PLAIN, {}, True),
    ("from-", SearchHeader("FROM", "bob"), PLAIN, {}, False),
    ("from name+", SearchHeader("FROM", "doe, john"), PLAIN, {}, True),
    ("from decoded+", SearchHeader("FROM", "jörg müller"), ENCODED, {}, True),
    ("from decoded-", SearchHeader("FROM", "jorg"), ENCODED, {}, False),
    ("to+", SearchHeader("TO", "mary smith"), PLAIN, {}, True),
    ("to-", SearchHeader("TO", "john"), PLAIN, {}, False),
    ("cc+", SearchHeader("CC", "boss@"), ENCODED, {}, True),
    ("cc-", SearchHeader("CC", "mary"), PLAIN, {}, False),
    ("bcc+", SearchHeader("BCC", "secret"), ENCODED, {}, True),
    ("bcc-", SearchHeader("BCC", "boss"), ENCODED, {}, False),
    ("subject+", SearchHeader("SUBJECT", "überweisung REC"), ENCODED, {}, True),
    ("subject-", SearchHeader("SUBJECT", "hello"), ENCODED, {}, False),
    ("subject folded+", SearchHeader("X-FOLDED", "part second"), PLAIN, {}, True),
    ("header+", SearchHeader("X-TRACKER", "ticket 42"), ENCODED, {}, True),
    ("header-", SearchHeader("X-TRACKER", "ticket 43"), ENCODED, {}, False),
    ("header empty+", SearchHeader("X-TRACKER", ""), ENCODED, {}, True),
    ("header empty-", SearchHeader("X-TRACKER", ""), PLAIN, {}, False),
    # BODY: decoded text of text parts (seed bug 11: only the raw top-level body was searched).
    ("body base64 latin-1+", SearchText("grüße aus köln", body_only=True), ENCODED, {}, True),
    ("body-", SearchText("Ticket", body_only=True), ENCODED, {}, False),
    ("body qp+", SearchText("CAFÉ OLÉ", body_only=True), ALTERNATIVE, {}, True),
    ("body nested message+", SearchText("plain inner", body_only=True), MIXED, {}, True),
    ("body not in attachment-", SearchText("PDF-1.4", body_only=True), MIXED, {}, False),
    ("body not in preamble-", SearchText("preamble", body_only=True), ALTERNATIVE, {}, False),
    ("text header+", SearchText("ticket 42"), ENCODED, {}, True),
    ("text body+", SearchText("this is the BODY"), PLAIN, {}, True),
    ("text-", SearchText("nowhere to be found"), PLAIN, {}, False),
    # Internal date: its own calendar date, time and zone disregarded.
    ("on+", SearchDate("on", date(2024, 5, 10)), PLAIN, {}, True),
    (
        "on own zone+",
        SearchDate("on", date(2024, 5, 9)),
        PLAIN,
        {"internaldate": datetime(2024, 5, 9, 23, tzinfo=PST)},
        True,
    ),
    ("on-", SearchDate("on", date(2024, 5, 11)), PLAIN, {}, False),
    ("before+", SearchDate("before", date(2024, 5, 11)), PLAIN, {}, True),
    ("before-", SearchDate("before", date(2024, 5, 10)), PLAIN, {}, False),
    ("since+", SearchDate("since", date(2024, 5, 10)), PLAIN, {}, True),
    ("since-", SearchDate("since", date(2024, 5, 11)), PLAIN, {}, False),
    # Sent date: the Date header's own date (ENCODED is 10 May at -0700, 11 May in UTC).
    ("senton+", SearchDate("on", date(2024, 5, 10), sent=True), ENCODED, {}, True),
    ("senton-", SearchDate("on", date(2024, 5, 11), sent=True), ENCODED, {}, False),
    ("sentbefore+", SearchDate("before", date(1994, 2, 8), sent=True), PLAIN, {}, True),
    ("sentbefore-", SearchDate("before", date(1994, 2, 7), sent=True), PLAIN, {}, False),
    ("sentsince+", SearchDate("since", date(1994, 2, 7), sent=True), PLAIN, {}, True),
    ("sentsince-", SearchDate("since", date(1994, 2, 8), sent=True), PLAIN, {}, False),
    ("sentsince no date-", SearchDate("since", date(1970, 1, 1), sent=True), ALTERNATIVE, {}, False),
    ("sentbefore no date-", SearchDate("before", date(2100, 1, 1), sent=True), ALTERNATIVE, {}, False),
    # Sizes are RFC822.SIZE, the CRLF form (seed bug 11/12); PLAIN is LF on disk.
    ("larger+", SearchSize(True, crlf_size(PLAIN) - 1), PLAIN, {}, True),
    ("larger-", SearchSize(True, crlf_size(PLAIN)), PLAIN, {}, False),
    ("smaller+", SearchSize(False, crlf_size(PLAIN) + 1), PLAIN, {}, True),
    ("smaller-", SearchSize(False, crlf_size(PLAIN)), PLAIN, {}, False),
    ("seqset+", SearchSet(SequenceSet(((2, 4),))), PLAIN, {}, True),
    ("seqset-", SearchSet(SequenceSet(((4, None),))), PLAIN, {}, False),
    ("seqset star+", SearchSet(SequenceSet(((None, None),))), PLAIN, {"seq": 5}, True),
    ("uidset+", SearchSet(SequenceSet(((30, 30),)), uid=True), PLAIN, {}, True),
    ("uidset-", SearchSet(SequenceSet(((31, None),)), uid=True), PLAIN, {}, False),
    ("uidset star beyond+", SearchSet(SequenceSet(((90, None),)), uid=True), PLAIN, {"uid": 50}, True),
    ("saved+", SearchSet(SequenceSet((), saved=True)), PLAIN, {"saved": frozenset({30})}, True),
    ("saved-", SearchSet(SequenceSet((), saved=True)), PLAIN, {"saved": frozenset({31})}, False),
    ("modseq+", SearchModSeq(7), PLAIN, {}, True),
    ("modseq-", SearchModSeq(8), PLAIN, {}, False),
    ("older+", SearchWithin(True, 3600), PLAIN, {"internaldate": NOW - timedelta(hours=2)}, True),
    ("older-", SearchWithin(True, 3600), PLAIN, {}, False),
    ("younger+", SearchWithin(False, 3600), PLAIN, {}, True),
    ("younger-", SearchWithin(False, 3600), PLAIN, {"internaldate": NOW - timedelta(hours=2)}, False),
    ("not+", SearchNot(SearchHeader("FROM", "bob")), PLAIN, {}, True),
    ("not-", SearchNot(SearchHeader("FROM", "john")), PLAIN, {}, False),
    ("or+", SearchOr(SearchHeader("FROM", "bob"), SearchFlag("\\Seen", False)), PLAIN, {}, True),
    ("or-", SearchOr(SearchHeader("FROM", "bob"), SearchFlag("\\Seen")), PLAIN, {}, False),
    ("and+", SearchAnd((SearchHeader("SUBJECT", "hello"), SearchText("mary"))), PLAIN, {}, True),
    ("and-", SearchAnd((SearchHeader("SUBJECT", "hello"), SearchText("bob"))), PLAIN, {}, False),
]


@pytest.mark.parametrize(
    ("key", "raw", "options", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_search_key(key: SearchKey, raw: bytes, options: dict[str, object], expected: bool) -> None:
    for variant in (raw, raw.replace(b"\n", b"\r\n")):
        assert matches(key, ctx_for(variant, **options)) is expected  # type: ignore[arg-type]


def test_cheap_keys_decide_without_loading_the_message() -> None:
    loads: list[int] = []

    def load() -> bytes:
        loads.append(1)
        return PLAIN

    ctx = SearchContext(
        seq=1,
        uid=1,
        flags=frozenset({"\\Seen"}),
        size=10,
        internaldate=NOW,
        largest_seq=1,
        largest_uid=1,
        load=load,
    )
    key = SearchAnd((SearchText("body"), SearchFlag("\\Seen", False)))
    assert prefilter(key, ctx) is False
    assert matches(key, ctx) is False
    assert loads == []
    unseen = SearchContext(
        seq=1, uid=1, flags=frozenset(), size=10, internaldate=NOW, largest_seq=1, largest_uid=1, load=load
    )
    assert prefilter(key, unseen) is None
    both = SearchAnd(
        (SearchText("body"), SearchHeader("FROM", "john"), SearchDate("on", date(1994, 2, 7), True))
    )
    assert matches(both, unseen) is True
    assert loads == [1]  # parsed once for three content keys


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (SearchFlag("\\Seen"), False),
        (SearchAnd((SearchFlag("\\Seen"), SearchSize(True, 3))), False),
        (SearchDate("on", date(2024, 1, 1)), False),
        (SearchDate("on", date(2024, 1, 1), sent=True), True),
        (SearchNot(SearchOr(SearchAll(), SearchHeader("TO", "x"))), True),
        (SearchText("x", body_only=True), True),
    ],
)
def test_needs_message(key: SearchKey, expected: bool) -> None:
    assert needs_message(key) is expected


def test_flag_only_search_without_loader() -> None:
    ctx = SearchContext(
        seq=1, uid=1, flags=frozenset(), size=1, internaldate=NOW, largest_seq=1, largest_uid=1
    )
    assert matches(SearchFlag("\\Deleted", False), ctx) is True
