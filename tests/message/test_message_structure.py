"""ENVELOPE and BODY/BODYSTRUCTURE (RFC 9051 §7.5.2), compared on the wire form the client sees."""

from __future__ import annotations

import pytest

from maildird.imap.responses import serialize_value
from maildird.message.bodystructure import bodystructure
from maildird.message.envelope import address_lists, envelope, header_date
from maildird.message.parse import ParsedMessage
from tests.message.samples import ALTERNATIVE, HEADER_ONLY, MIXED, NO_TYPE, PLAIN


def crlf(lf: bytes) -> bytes:
    return lf.replace(b"\n", b"\r\n")


def wire_envelope(lf: bytes) -> bytes:
    """The ENVELOPE's wire form, checked to be the same for the LF and the CRLF file."""
    a, b = (serialize_value(envelope(ParsedMessage.parse(x))) for x in (lf, crlf(lf)))
    assert a == b
    return a


def wire_structure(lf: bytes, extensible: bool = True) -> bytes:
    a, b = (
        serialize_value(bodystructure(ParsedMessage.parse(x), extensible=extensible)) for x in (lf, crlf(lf))
    )
    assert a == b
    return a


# -- ENVELOPE --------------------------------------------------------------------------------------

ENVELOPE_CASES: list[tuple[str, bytes, bytes]] = [
    (
        "plain",
        PLAIN,
        b'("Mon, 7 Feb 1994 21:52:25 -0800" "Hello there" (("Doe, John" NIL "john" "example.com"))'
        b' (("Doe, John" NIL "john" "example.com")) (("Doe, John" NIL "john" "example.com"))'
        b' (("Mary Smith" NIL "mary" "example.net")) NIL NIL NIL "<1234@local.machine.example>")',
    ),
    (
        # Seed bug 14: groups; NIL (not an invented name) for a bare address; no spaces between addresses.
        "groups",
        b"From: bare@example.org\nTo: undisclosed-recipients:;\n"
        b'Cc: Friends: a@b.example, "B" <b@c.example>;, solo\n\n',
        b'(NIL NIL ((NIL NIL "bare" "example.org")) ((NIL NIL "bare" "example.org"))'
        b' ((NIL NIL "bare" "example.org")) ((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL))'
        b' ((NIL NIL "Friends" NIL)(NIL NIL "a" "b.example")("B" NIL "b" "c.example")(NIL NIL NIL NIL)'
        b'(NIL NIL "solo" "MISSING_DOMAIN")) NIL NIL NIL)',
    ),
    (
        # Encoded words stay encoded (as Dovecot); folding is undone; a comment supplies the name.
        "encoded words",
        b"Subject: =?utf-8?q?caf=C3=A9?= is\n  open\nFrom: =?iso-8859-1?q?J=F6rg?= <j@x.example>\n"
        b"Sender: s@x.example (The Sender)\nReply-To: <@route.example:r@x.example>\n"
        b"In-Reply-To: <a@b>\nBcc: q@x.example\n\n",
        b'(NIL "=?utf-8?q?caf=C3=A9?= is open" (("=?iso-8859-1?q?J=F6rg?=" NIL "j" "x.example"))'
        b' (("The Sender" NIL "s" "x.example")) ((NIL "@route.example" "r" "x.example"))'
        b' NIL NIL ((NIL NIL "q" "x.example")) "<a@b>" NIL)',
    ),
    ("missing headers", NO_TYPE, b'(NIL "no content type" NIL NIL NIL NIL NIL NIL NIL NIL)'),
    (
        "empty values",
        b"Subject: \nTo: \nSender: \nFrom: f@x\n\n",
        b'(NIL "" ((NIL NIL "f" "x")) ((NIL NIL "f" "x")) ((NIL NIL "f" "x")) NIL NIL NIL NIL NIL)',
    ),
    (
        # 8-bit octets in a header: sent as a literal, octets untouched.
        "8-bit",
        b'From: "J\xc3\xb6rg" <j@x>\n\n',
        b'(NIL NIL (({5}\r\nJ\xc3\xb6rg NIL "j" "x")) (({5}\r\nJ\xc3\xb6rg NIL "j" "x"))'
        b' (({5}\r\nJ\xc3\xb6rg NIL "j" "x"))'
        b" NIL NIL NIL NIL NIL)",
    ),
    (
        "quoted name with escapes",
        b'To: "q\\"x" <a@b>, Weird <nohost>\n\n',
        b'(NIL NIL NIL NIL NIL (("q\\"x" NIL "a" "b")("Weird" NIL "nohost" "MISSING_DOMAIN"))'
        b" NIL NIL NIL NIL)",
    ),
]


ADDRESS_CASES: list[tuple[bytes, bytes]] = [
    (b"<>", b'((NIL NIL "MISSING_MAILBOX" "MISSING_DOMAIN"))'),  # a null sender (Dovecot agrees)
    (b'"" <e@x>', b'((NIL NIL "e" "x"))'),  # an empty name is NIL
    (b"John Q. Public <jqp@x>", b'(("John Q. Public" NIL "jqp" "x"))'),
    (b"Joe (the man) Bloggs <jb@x>", b'(("Joe Bloggs" NIL "jb" "x"))'),
    (b"a@b (Comment), c@d", b'(("Comment" NIL "a" "b")(NIL NIL "c" "d"))'),
    (b"a@[1.2.3.4]", b'((NIL NIL "a" "[1.2.3.4]"))'),
    (b'"quoted local"@example.com', b'((NIL NIL "quoted local" "example.com"))'),
    (b"<@a,@b:c@d>", b'((NIL "@a,@b" "c" "d"))'),
    (b"a@b, , c@d", b'((NIL NIL "a" "b")(NIL NIL "c" "d"))'),  # empty elements ignored (RFC 5322 §4.4)
    (b"a@b; c@d", b'((NIL NIL "a" "b")(NIL NIL "c" "d"))'),  # a stray ";" separates
    (b"x@y <z@w>", b'(("x@y" NIL "z" "w"))'),  # an unquoted address as display name stays the name
    (b"abc", b'((NIL NIL "abc" "MISSING_DOMAIN"))'),
    (b":;", b'((NIL NIL "" NIL)(NIL NIL NIL NIL))'),
]


@pytest.mark.parametrize(("value", "expected"), ADDRESS_CASES)
def test_address_parsing(value: bytes, expected: bytes) -> None:
    wire = wire_envelope(b"To: " + value + b"\n\n")
    assert wire == b"(NIL NIL NIL NIL NIL " + expected + b" NIL NIL NIL NIL)"


@pytest.mark.parametrize(
    ("lf", "expected"), [c[1:] for c in ENVELOPE_CASES], ids=[c[0] for c in ENVELOPE_CASES]
)
def test_envelope(lf: bytes, expected: bytes) -> None:
    assert wire_envelope(lf) == expected


def test_address_lists_as_plain_tuples() -> None:
    lists = address_lists(ParsedMessage.parse(b"From: A <a@x>\nTo: g: ;\n\n").root)
    assert lists["From"] == (("A", None, "a", "x"),)
    assert lists["Reply-To"] == lists["From"]
    assert lists["To"] == ((None, None, "g", None), (None, None, None, None))
    assert lists["Cc"] is None


@pytest.mark.parametrize(
    ("date_header", "expected"),
    [
        (b"Mon, 7 Feb 1994 21:52:25 -0800", "1994-02-07"),  # its own zone, not UTC (which is Feb 8)
        (b"7 Feb 1994 23:59:59 +0100", "1994-02-07"),
        (b"not a date", None),
    ],
)
def test_header_date(date_header: bytes, expected: str | None) -> None:
    when = header_date(ParsedMessage.parse(b"Date: " + date_header + b"\n\nx\n"))
    assert (None if when is None else when.isoformat()) == expected


def test_header_date_missing() -> None:
    assert header_date(ParsedMessage.parse(NO_TYPE)) is None


# -- BODYSTRUCTURE ---------------------------------------------------------------------------------

# Dovecot 2.3 says 196 octets and 12 lines here: it counts the CRLF after the inner close delimiter
# ("--inner--") into the part, while RFC 2046 §5.1.1 attaches that CRLF to the outer delimiter that follows.
MIXED_INNER = (
    b'("message" "rfc822" NIL NIL NIL "7bit" 194'
    b' (NIL "inner" (("Inner Sender" NIL "inner" "example.org")) (("Inner Sender" NIL "inner" "example.org"))'
    b' (("Inner Sender" NIL "inner" "example.org")) NIL NIL NIL NIL NIL)'
    b' (("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 11 0 NIL NIL NIL NIL)'
    b'("text" "html" ("charset" "us-ascii") NIL NIL "7bit" 12 0 NIL NIL NIL NIL)'
    b' "alternative" ("boundary" "inner") NIL NIL NIL) 11 NIL NIL NIL NIL)'
)

STRUCTURE_CASES: list[tuple[str, bytes, bytes]] = [
    ("text/plain", PLAIN, b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 29 2 NIL NIL NIL NIL)'),
    (
        "no content-type",
        NO_TYPE,
        b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 11 1 NIL NIL NIL NIL)',
    ),
    (
        "header only",
        HEADER_ONLY,
        b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL)',
    ),
    (
        "multipart/alternative",
        ALTERNATIVE,
        b'(("text" "plain" ("charset" "utf-8") NIL NIL "quoted-printable" 21 1 NIL NIL NIL NIL)'
        b'("text" "html" ("charset" "utf-8") NIL NIL "7bit" 12 0 NIL NIL NIL NIL)'
        b' "alternative" ("boundary" "XX") NIL NIL NIL)',
    ),
    (
        # Seed bug 14: the nested message/rfc822 has its envelope, body and lines.
        "multipart/mixed with attachment and message/rfc822",
        MIXED,
        b'(("text" "plain" ("charset" "us-ascii") "<id1@example.com>" "the text" "7bit" 8 0 NIL NIL NIL NIL)'
        b'("application" "pdf" ("name" "report.pdf") NIL NIL "base64" 22 "Q2hlY2sgSW50ZWdyaXR5IQ=="'
        b' ("attachment" ("filename" "report.pdf")) NIL "http://example.com/report.pdf")'
        + MIXED_INNER
        + b'("application" "x-weird" NIL NIL NIL "x-uuencode" 11 NIL NIL NIL NIL)'
        b' "mixed" ("boundary" "outer") ("inline" NIL) ("en" "fr") NIL)',
    ),
    (
        "case kept, charset appended, RFC 2231 continuations joined",
        b'Content-Type: TEXT/Plain; Format=flowed; name*0="a b"; name*1=".txt"; t*=utf-8\'\'%C3%A9\n'
        b"Content-Transfer-Encoding: QUOTED-Printable\nContent-Disposition: ATTACHMENT\n"
        b"Content-Language: EN\n\nx\n",
        b'("TEXT" "Plain" ("Format" "flowed" "name" "a b.txt" "t*" "utf-8\'\'%C3%A9" "charset" "us-ascii")'
        b' NIL NIL "QUOTED-Printable" 3 1 NIL ("ATTACHMENT" NIL) ("EN") NIL)',
    ),
    (
        "multipart/digest defaults to message/rfc822",
        b"Content-Type: multipart/digest; boundary=D\n\n--D\n\nSubject: in digest\n\nx\n--D--\n",
        b'(("message" "rfc822" NIL NIL NIL "7bit" 23 (NIL "in digest" NIL NIL NIL NIL NIL NIL NIL NIL)'
        b' ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 1 0 NIL NIL NIL NIL) 2 NIL NIL NIL NIL)'
        b' "digest" ("boundary" "D") NIL NIL NIL)',
    ),
    (
        # Malformed MIME degrades to one text part (never an empty multipart, never a crash).
        "multipart without boundary",
        b"Content-Type: multipart/mixed\n\nno boundary\n",
        b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 13 1 NIL NIL NIL NIL)',
    ),
    (
        "multipart without any delimiter",
        b"Content-Type: multipart/mixed; boundary=ZZ\n\nnothing here\n",
        b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 14 1 NIL NIL NIL NIL)',
    ),
]


@pytest.mark.parametrize(
    ("lf", "expected"), [c[1:] for c in STRUCTURE_CASES], ids=[c[0] for c in STRUCTURE_CASES]
)
def test_bodystructure(lf: bytes, expected: bytes) -> None:
    assert wire_structure(lf) == expected


def test_body_is_bodystructure_without_extension_data() -> None:
    assert wire_structure(ALTERNATIVE, extensible=False) == (
        b'(("text" "plain" ("charset" "utf-8") NIL NIL "quoted-printable" 21 1)'
        b'("text" "html" ("charset" "utf-8") NIL NIL "7bit" 12 0) "alternative")'
    )
    assert wire_structure(MIXED, extensible=False).count(b"NIL NIL NIL NIL") == 1  # only the inner envelope


def test_sizes_in_structure_match_the_sections() -> None:
    from maildird.imap.commands import Section
    from maildird.message.sections import body_section

    msg = ParsedMessage.parse(MIXED)
    assert len(body_section(msg, Section((3,)))) == 194
    assert body_section(msg, Section((3,))).count(b"\r\n") == 11
