"""FETCH grammar (RFC 9051 §6.4.5, RFC 3501 §6.4.5, RFC 3516 BINARY, RFC 7162 MODSEQ/CHANGEDSINCE/
VANISHED) and STORE arguments (RFC 9051 §6.4.6)."""

from __future__ import annotations

import pytest

from maildird.imap import commands as c
from maildird.imap.commands import FetchAtt, FetchBinary, FetchBody, FetchItem, Section, SequenceSet
from tests.imap.grammar_util import error, parse

ALL = SequenceSet(((1, None),))
ONE = SequenceSet(((1, 1),))
THUNDERBIRD_FIELDS = tuple(
    [
        "FROM",
        "TO",
        "CC",
        "BCC",
        "SUBJECT",
        "DATE",
        "MESSAGE-ID",
        "PRIORITY",
        "X-PRIORITY",
        "REFERENCES",
        "NEWSGROUPS",
        "IN-REPLY-TO",
        "CONTENT-TYPE",
        "REPLY-TO",
    ]
)

ITEMS: list[tuple[bytes, tuple[FetchItem, ...]]] = [
    (b"ALL", (FetchAtt("FLAGS"), FetchAtt("INTERNALDATE"), FetchAtt("RFC822.SIZE"), FetchAtt("ENVELOPE"))),
    (b"fast", (FetchAtt("FLAGS"), FetchAtt("INTERNALDATE"), FetchAtt("RFC822.SIZE"))),
    (
        b"Full",
        (
            FetchAtt("FLAGS"),
            FetchAtt("INTERNALDATE"),
            FetchAtt("RFC822.SIZE"),
            FetchAtt("ENVELOPE"),
            FetchAtt("BODY"),
        ),
    ),
    *[
        (name.encode(), (FetchAtt(name),))
        for name in (
            "ENVELOPE",
            "FLAGS",
            "INTERNALDATE",
            "RFC822",
            "RFC822.HEADER",
            "RFC822.SIZE",
            "RFC822.TEXT",
            "BODY",
            "BODYSTRUCTURE",
            "UID",
            "MODSEQ",
            "SAVEDATE",
            "EMAILID",
            "THREADID",
        )
    ],
    (b"rfc822.size", (FetchAtt("RFC822.SIZE"),)),
    (b"BODY[]", (FetchBody(Section()),)),
    (b"body.peek[]", (FetchBody(Section(), peek=True),)),
    (b"BODY[HEADER]", (FetchBody(Section((), "HEADER")),)),
    (b"BODY[TEXT]<0.2048>", (FetchBody(Section((), "TEXT"), partial=(0, 2048)),)),
    (b"BODY[]<100.1>", (FetchBody(Section(), partial=(100, 1)),)),
    (b"BODY[1]", (FetchBody(Section((1,))),)),
    (b"BODY[1.2.3]", (FetchBody(Section((1, 2, 3))),)),
    (b"BODY[1.2.3.HEADER]", (FetchBody(Section((1, 2, 3), "HEADER")),)),
    (b"BODY[2.MIME]", (FetchBody(Section((2,), "MIME")),)),
    (b"BODY[4.2.TEXT]", (FetchBody(Section((4, 2), "TEXT")),)),
    (b"BODY[header.fields (date from)]", (FetchBody(Section((), "HEADER.FIELDS", ("DATE", "FROM"))),)),
    (
        b'BODY.PEEK[1.HEADER.FIELDS.NOT (Received "X-Spam" {4}\r\nX-Yz)]<5.10>',
        (FetchBody(Section((1,), "HEADER.FIELDS.NOT", ("RECEIVED", "X-SPAM", "X-YZ")), True, (5, 10)),),
    ),
    (b"BINARY[]", (FetchBinary(()),)),
    (b"BINARY[1.2]<0.100>", (FetchBinary((1, 2), partial=(0, 100)),)),
    (b"binary.peek[3]", (FetchBinary((3,), peek=True),)),
    (b"BINARY.SIZE[1]", (FetchBinary((1,), size=True),)),
    (b"(FLAGS)", (FetchAtt("FLAGS"),)),
    (
        b"(FLAGS MODSEQ BODY[] BINARY.SIZE[2] ENVELOPE)",
        (
            FetchAtt("FLAGS"),
            FetchAtt("MODSEQ"),
            FetchBody(Section()),
            FetchBinary((2,), size=True),
            FetchAtt("ENVELOPE"),
        ),
    ),
]


@pytest.mark.parametrize(("items", "expected"), ITEMS, ids=[i.decode() for i, _ in ITEMS])
def test_fetch_items(items: bytes, expected: tuple[FetchItem, ...]) -> None:
    assert parse(b"t FETCH 1 " + items) == c.Fetch("t", ONE, expected)
    assert parse(b"t UID FETCH 1:* " + items) == c.Fetch("t", ALL, expected, uid=True)


FETCHES: list[tuple[bytes, c.Fetch]] = [
    (
        b"A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])",
        c.Fetch(
            "A654",
            SequenceSet(((2, 4),)),
            (FetchAtt("FLAGS"), FetchBody(Section((), "HEADER.FIELDS", ("DATE", "FROM")))),
        ),
    ),
    # Thunderbird's header fetch.
    (
        b"11 UID fetch 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date "
        b"Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])",
        c.Fetch(
            "11",
            ALL,
            (
                FetchAtt("UID"),
                FetchAtt("RFC822.SIZE"),
                FetchAtt("FLAGS"),
                FetchBody(
                    Section(
                        (),
                        "HEADER.FIELDS",
                        THUNDERBIRD_FIELDS,
                    ),
                    peek=True,
                ),
            ),
            uid=True,
        ),
    ),
    # RFC 7162 §3.1.4.1 and §3.2.6 examples.
    (
        b"s100 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)",
        c.Fetch("s100", ALL, (FetchAtt("FLAGS"),), uid=True, changedsince=12345),
    ),
    (
        b"s100 FETCH 1:* FLAGS (changedsince 12345)",
        c.Fetch("s100", ALL, (FetchAtt("FLAGS"),), changedsince=12345),
    ),
    (
        b"A02 UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)",
        c.Fetch(
            "A02",
            SequenceSet(((300, 500),)),
            (FetchAtt("FLAGS"),),
            uid=True,
            changedsince=12345,
            vanished=True,
        ),
    ),
    (
        b"A02 UID FETCH 1 FLAGS (VANISHED CHANGEDSINCE 9223372036854775807)",
        c.Fetch("A02", ONE, (FetchAtt("FLAGS"),), uid=True, changedsince=9223372036854775807, vanished=True),
    ),
    (b"a FETCH $ UID", c.Fetch("a", SequenceSet((), saved=True), (FetchAtt("UID"),))),
    (
        b"a FETCH 4294967295,*:1 FLAGS",
        c.Fetch("a", SequenceSet(((4294967295, 4294967295), (None, 1))), (FetchAtt("FLAGS"),)),
    ),
]


@pytest.mark.parametrize(("data", "expected"), FETCHES, ids=[d[:40].decode() for d, _ in FETCHES])
def test_fetches(data: bytes, expected: c.Fetch) -> None:
    assert parse(data) == expected


FETCH_ERRORS: list[tuple[bytes, str, str]] = [
    (b"t FETCH 1", "Expected a space", "PARSE"),
    (b"t FETCH 1 BOGUS", "Unknown FETCH item 'BOGUS'", "PARSE"),
    (b"t FETCH 1 (FLAGS BOGUS)", "Unknown FETCH item 'BOGUS'", "PARSE"),
    (b"t FETCH 1 (ALL)", "Unknown FETCH item 'ALL'", "PARSE"),
    (b"t FETCH 1 ()", "Expected a FETCH item", "PARSE"),
    (b"t FETCH 1 (FLAGS", "Missing ')'", "PARSE"),
    (b"t FETCH 1 (FLAGS  UID)", "Expected a FETCH item", "PARSE"),
    (b"t FETCH 1 FLAGS UID", "Expected '('", "PARSE"),
    (b"t FETCH 0 FLAGS", "Invalid sequence set '0'", "PARSE"),
    (b"t FETCH 1:0 FLAGS", "Invalid sequence set '1:0'", "PARSE"),
    (b"t FETCH 1,,2 FLAGS", "Invalid sequence set '1,,2'", "PARSE"),
    (b"t FETCH 1,$ FLAGS", "Invalid sequence set '1,$'", "PARSE"),
    (b"t FETCH 99999999999999999999999999 FLAGS", "Invalid sequence set", "PARSE"),
    (b"t FETCH x FLAGS", "Expected a sequence set, got 'x FLAGS'", "PARSE"),
    (b"t FETCH 1 BODY[", "section text", "PARSE"),
    (b"t FETCH 1 BODY[0]", "part number", "PARSE"),
    (b"t FETCH 1 BODY[1.]", "section text", "PARSE"),
    (b"t FETCH 1 BODY[MIME]", "MIME needs a part number", "PARSE"),
    (b"t FETCH 1 BODY[HEADERS]", "']'", "PARSE"),
    (b"t FETCH 1 BODY[HEADER.FIELDS]", "Expected a space", "PARSE"),
    (b"t FETCH 1 BODY[HEADER.FIELDS ()]", "header field name", "PARSE"),
    (b"t FETCH 1 BODY[]<0>", "'.'", "PARSE"),
    (b"t FETCH 1 BODY[]<0.0>", "partial length", "PARSE"),
    (b"t FETCH 1 BODY[]<1.2", "'>'", "PARSE"),
    (b"t FETCH 1 BODY.PEEK", "Unknown FETCH item 'BODY.PEEK'", "PARSE"),
    (b"t FETCH 1 BINARY[1.TEXT]", "only a part number", "PARSE"),
    (b"t FETCH 1 BINARY.SIZE[1]<0.5>", "got '<0.5>'", "PARSE"),
    (b"t FETCH 1 FLAGS[1]", "Unknown FETCH item 'FLAGS[...]'", "PARSE"),
    (b"t FETCH 1 FLAGS (CHANGEDSINCE 0)", "mod-sequence", "PARSE"),
    (b"t FETCH 1 FLAGS (CHANGEDSINCE 9223372036854775808)", "mod-sequence", "PARSE"),
    (b"t FETCH 1 FLAGS (CHANGEDSINCE 1 CHANGEDSINCE 2)", "repeated FETCH modifier CHANGEDSINCE", "PARSE"),
    (b"t FETCH 1 FLAGS (BOGUS)", "FETCH modifier BOGUS", "PARSE"),
    (b"t FETCH 1 FLAGS (CHANGEDSINCE 5 VANISHED)", "VANISHED is only allowed with UID FETCH", "CLIENTBUG"),
    (b"t UID FETCH 1 FLAGS (VANISHED)", "VANISHED needs CHANGEDSINCE", "CLIENTBUG"),
]


@pytest.mark.parametrize(
    ("data", "message", "code"), FETCH_ERRORS, ids=[d.decode() for d, _, _ in FETCH_ERRORS]
)
def test_fetch_errors(data: bytes, message: str, code: str) -> None:
    exc = error(data)
    assert message in exc.message
    assert (exc.tag, exc.code) == ("t", code)


STORE_ERRORS: list[tuple[bytes, str]] = [
    (b"t STORE 1 FLAGS", "Expected FLAGS, +FLAGS or -FLAGS"),
    (b"t STORE 1 FLAGS ", "Expected a flag"),
    (b"t STORE 1 *FLAGS (\\Seen)", "got '*FLAGS'"),
    (b"t STORE 1 FLAGS.LOUD (\\Seen)", "got 'FLAGS.LOUD'"),
    (b"t STORE 1 +FLAGS (\\Recent)", "Flag \\Recent cannot be set"),
    (b"t STORE 1 +FLAGS \\*", "Flag \\* cannot be set"),
    (b"t STORE 1 +FLAGS (\\Bogus)", "Flag \\Bogus cannot be set"),
    (b"t STORE 1 +FLAGS (\\Seen", "Expected a space"),
    (b"t STORE 1 +FLAGS (\\Seen) extra", "Unexpected extra arguments: ' extra'"),
    (b"t STORE 1 +FLAGS (a\xffb)", "Expected a space, got '\\xffb)'"),
    (b"t STORE 1 (UNCHANGEDSINCE) +FLAGS x", "Expected a space"),
    (b"t STORE 1 (CHANGEDSINCE 5) +FLAGS x", "Unknown STORE modifier CHANGEDSINCE"),
    (b"t STORE 1 (UNCHANGEDSINCE 5 +FLAGS x", "')'"),
    (b"t APPEND box (\\Recent) {1}\r\nx", "Flag \\Recent cannot be set"),
]


@pytest.mark.parametrize(
    ("data", "message"), STORE_ERRORS, ids=[d.decode("latin-1") for d, _ in STORE_ERRORS]
)
def test_store_errors(data: bytes, message: str) -> None:
    exc = error(data)
    assert message in exc.message
    assert exc.tag == "t"
