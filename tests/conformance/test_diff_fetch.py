"""Differential conformance: FETCH items, body sections, partials, BINARY, edge-case and appended mail.

Each test plays one script on Dovecot 2.3 and on maildird over copies of corpus.SPEC and requires the same
answers after normalisation (tests/conformance/harness.py, normalize.py). A difference triaged as a
maildird bug has a transcript test under tests/rfc/ (the scenario is xfail(strict) until it is fixed);
one triaged as legitimate is marked on its step (``Step(..., legit="why")`` or ``ignore=``).
"""

from __future__ import annotations

import pytest

from tests.conformance.conftest import Differential
from tests.conformance.harness import Step, steps
from tests.conformance.scenario import RFC822_CRLF, check, lit

# Sections and partials covering every part of the corpus's multipart messages.
BODY_SECTIONS = [
    "BODY.PEEK[]",
    "BODY.PEEK[HEADER]",
    "BODY.PEEK[TEXT]",
    "BODY.PEEK[1]",
    "BODY.PEEK[2]",
    "BODY.PEEK[1.MIME]",
    "BODY.PEEK[2.MIME]",
    "BODY.PEEK[3.HEADER]",
    "BODY.PEEK[3.TEXT]",
    "BODY.PEEK[3.1]",
    "BODY.PEEK[3.2]",
    "BODY.PEEK[3.2.MIME]",
    "BODY.PEEK[4]",
    "BODY.PEEK[HEADER.FIELDS (From Subject X-Missing)]",
    "BODY.PEEK[HEADER.FIELDS.NOT (Received Date Message-ID)]",
    "BODY.PEEK[3.HEADER.FIELDS (subject)]",
    "BODY.PEEK[]<0.40>",
    "BODY.PEEK[TEXT]<5.10>",
    "BODY.PEEK[1]<2.3>",
    "BODY.PEEK[]<100000.10>",
]


async def test_fetch_every_item(differential: Differential) -> None:
    await check(
        differential,
        steps(
            "a1 EXAMINE INBOX",
            "a2 FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)",
            "a3 FETCH 1:* BODYSTRUCTURE",
            "a4 FETCH 1:* BODY",
            "a5 FETCH 1:* (RFC822.HEADER)",
            "a6 FETCH 1:* (RFC822.TEXT)",
            "a7 FETCH 1:* RFC822",
            "a8 FETCH 2:3 (BINARY.PEEK[1] BINARY.SIZE[1])",
            "a9 FETCH 3 (BINARY.PEEK[2] BINARY.SIZE[2] BINARY.PEEK[2]<4.8>)",
            "a10 FETCH 4 (BINARY.PEEK[1] BINARY.SIZE[1])",
            "a11 FETCH 1:* FAST",
            "a12 FETCH 1:* ALL",
            "a13 FETCH 1:* FULL",
            "a14 UID FETCH 2:4 (FLAGS)",
            "a15 UID FETCH 100:* (UID)",
            "a16 FETCH 1:2 (ENVELOPE) (CHANGEDSINCE 1)",
        ),
    )


@pytest.mark.parametrize("message", [1, 2, 3, 4, 6])
async def test_fetch_body_sections(differential: Differential, message: int) -> None:
    await check(
        differential,
        steps("a1 EXAMINE INBOX", *(f"a{i + 2} FETCH {message} ({s})" for i, s in enumerate(BODY_SECTIONS))),
    )


async def test_fetch_sets_seen(differential: Differential) -> None:
    await check(
        differential,
        steps(
            "a1 SELECT INBOX",
            "a2 FETCH 2 BODY[1]",
            "a3 FETCH 2 FLAGS",
            "a4 FETCH 4 RFC822.TEXT",
            "a5 FETCH 6 BINARY[1]",
            "a6 FETCH 1:* FLAGS",
            "a7 EXAMINE INBOX",
            "a8 FETCH 7 BODY[]",
            "a9 FETCH 7 FLAGS",
        ),
    )


async def test_fetch_errors(differential: Differential) -> None:
    await check(
        differential,
        steps(
            "a1 EXAMINE INBOX",
            "a2 FETCH 99 FLAGS",
            "a3 FETCH 0 FLAGS",
            "a4 UID FETCH 99 FLAGS",
            Step(
                "a5 FETCH 1 (BODY[0])", legit="RFC 9051 §9 section-part is nz-number: maildird's BAD is right"
            ),
            Step(
                "a5b FETCH 1 (BODY.PEEK[HEADER]<0.0>)",
                legit="RFC 9051 §9 partial is <number.nz-number>: a zero length is a BAD (Dovecot allows it)",
            ),
            "a6 FETCH 1 BODY[9]",
            "a7 FETCH 3 BODY[2.1]",
            "a8 FETCH 1 (FLAGS",
            "a9 FETCH 1 NOSUCHITEM",
            "a10 FETCH 1:* (BINARY[1.2])",
        ),
    )


async def test_fetch_nested_and_odd_sections(differential: Differential) -> None:
    await check(
        differential,
        steps(
            "a1 EXAMINE INBOX",
            "a2 FETCH 3 (BODY.PEEK[3.1] BODY.PEEK[3.1.MIME] BODY.PEEK[3.1.2])",
            "a2b FETCH 3 (BODY.PEEK[3.HEADER.FIELDS.NOT (To)])",
            "a3 FETCH 3 (BODY.PEEK[1.HEADER] BODY.PEEK[1.TEXT] BODY.PEEK[2.TEXT])",
            "a4 FETCH 3 (BODY.PEEK[3.MIME] BODY.PEEK[3.2.1] BODY.PEEK[4])",
            "a5 FETCH 3 (BINARY.SIZE[3] BINARY.PEEK[3.1.1] BINARY.SIZE[3.1.2])",
            Step(
                "a5b FETCH 3 BINARY.PEEK[]",
                legit="RFC 3516 §4.2 decodes the section's own CTE; the whole message's is identity, so "
                "maildird sends it as stored; Dovecot decodes every part inside (and relabels them binary)",
            ),
            "a6 FETCH 2 (BINARY.PEEK[1] BINARY.PEEK[1]<3.4> BINARY.PEEK[2] BINARY.SIZE[2])",
            "a7 FETCH 5 (RFC822.SIZE BODY.PEEK[] BODY.PEEK[TEXT]<0.5>)",
            "a8 FETCH 6 (BODY.PEEK[1] BODY.PEEK[1.MIME] BODY.PEEK[TEXT] BINARY.PEEK[1] BODYSTRUCTURE)",
            'a9 FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject Subject)] BODY.PEEK[HEADER.FIELDS ("from")])',
            "a10 FETCH 1 (BODY.PEEK[HEADER.FIELDS ({4}\r\nDate)])",
            "a11 FETCH 1:2 (BODY[]<0.1> BODY.PEEK[]<1.1>)",
        ),
    )


async def test_partial_fetch_bounds(differential: Differential) -> None:
    await check(
        differential,
        steps(
            "a1 EXAMINE INBOX",
            "a2 FETCH 1 (RFC822.SIZE BODY.PEEK[]<351.10>)",
            "a3 FETCH 1 (BODY.PEEK[]<350.10>)",
            "a4 FETCH 1 (BODY.PEEK[]<352.1>)",
            "a5 FETCH 1 (BODY.PEEK[TEXT]<0.4294967295>)",
            "a6 FETCH 3 (BINARY.PEEK[2]<30.10> BINARY.PEEK[2]<32.1>)",
            "a7 FETCH 1 (BODY.PEEK[HEADER]<10.20> BODY.PEEK[1]<0.3>)",
            # Message 5 is stored with LF line ends: offsets count the CRLF form (RFC 9051 §6.4.5).
            "a8 FETCH 5 (BODY.PEEK[]<30.40> BODY.PEEK[TEXT]<5.9> BODY.PEEK[HEADER]<100.3>)",
            "a9 FETCH 5 (BINARY.PEEK[1]<0.12> BINARY.SIZE[1] BODY.PEEK[1]<8.4>)",
        ),
    )


async def test_section_syntax_edges(differential: Differential) -> None:
    await check(
        differential,
        steps(
            "a1 EXAMINE INBOX",
            "a2 FETCH 1 (BODY.PEEK[HEADER.FIELDS ()])",
            "a3 FETCH 1 (BODY.PEEK[HEADER.FIELDS.NOT])",
            "a4 FETCH 1 (BODY.PEEK[MIME])",
            "a5 FETCH 3 (BODY.PEEK[1.2.3.4])",
            Step(
                "a6 FETCH 3 (BINARY.PEEK[1.MIME])",
                legit="RFC 3516 §5 section-binary has no MIME: BAD is right",
            ),
            "a7 FETCH 3 (BODY.PEEK[2.HEADER])",
            "a8 FETCH 3 (BODY.PEEK[2.TEXT])",
            "a9 FETCH 3 (BODY.PEEK[3.1.HEADER])",
            "a10 FETCH 1 (BODY.PEEK[TEXT.MIME])",
            "a11 FETCH 1 (BODY.PEEK[1.1])",
            "a12 FETCH 1 (BINARY.PEEK[2])",
            "a13 FETCH 1 (BINARY.SIZE[])",
            Step(
                "a14 FETCH 1 (BODY.PEEK[]<5>)",
                legit="RFC 9051 §9: a partial needs <origin.count>: BAD is right",
            ),
            "a15 FETCH 1 (BODY.PEEK[HEADER.FIELDS (From)]<0.10>)",
        ),
    )


EDGE_SECTIONS = [
    "BODY.PEEK[1]",
    "BODY.PEEK[1.MIME]",
    "BODY.PEEK[2]",
    "BODY.PEEK[3]",
    "BODY.PEEK[3.MIME]",
    "BODY.PEEK[4]",
    "BODY.PEEK[4.1]",
    "BODY.PEEK[4.2]",
    "BODY.PEEK[4.2.HEADER]",
    "BODY.PEEK[4.2.TEXT]",
    "BODY.PEEK[4.2.1]",
    "BODY.PEEK[TEXT]",
    "BINARY.PEEK[1]",
    "BINARY.SIZE[1]",
    "BINARY.PEEK[2]",
    "BINARY.PEEK[3]",
]


@pytest.mark.parametrize("message", [1, 2, 3, 4, 5])
async def test_edge_envelope_and_structure(differential: Differential, message: int) -> None:
    legit = RFC822_CRLF if message == 2 else ""
    await check(
        differential,
        [
            Step("a1 EXAMINE Edge"),
            Step(f"a2 FETCH {message} ENVELOPE"),
            Step(f"a3 FETCH {message} BODYSTRUCTURE", legit=legit),
            Step(f"a4 FETCH {message} BODY", legit=legit),
            Step(f"a5 FETCH {message} (RFC822.SIZE BODY.PEEK[HEADER] BODY.PEEK[TEXT])"),
            Step(f"a6 FETCH {message} INTERNALDATE"),
        ],
    )


@pytest.mark.parametrize("section", EDGE_SECTIONS)
async def test_edge_sections(differential: Differential, section: str) -> None:
    script = [Step("a1 EXAMINE Edge")]
    for m in range(1, 6):
        legit = RFC822_CRLF if (m, section) == (2, "BODY.PEEK[4.2]") else ""
        # Message 5 has an unknown Content-Transfer-Encoding: both answer NO [UNKNOWN-CTE] (RFC 3516 §4.3);
        # Dovecot first sends a FETCH with the UID only.
        ignore = (r"\* 5 FETCH \(UID 5\)",) if section.startswith("BINARY") else ()
        script.append(Step(f"a{m + 1} FETCH {m} ({section})", legit=legit, ignore=ignore))
    await check(differential, script)


APPENDED = [
    # Repeated and folded header fields, a group with an encoded name, several From addresses.
    "Received: from a by b; Mon, 13 Nov 2023 10:00:00 +0000\r\n"
    "Received: from c\r\n by d; Mon, 13 Nov 2023 10:00:01 +0000\r\n"
    "From: one@example.org, Two <two@example.org>\r\n"
    "To: =?UTF-8?Q?Gr=C3=BCppe?=: x@example.org;\r\n"
    "Subject: =?ISO-8859-1?Q?caf=E9?=\r\n"
    " =?ISO-8859-1?Q?_cr=E8me?=\r\n"
    "Date: Mon, 13 Nov 2023 10:00:00 +0000\r\n"
    "X-Empty:\r\n"
    "\r\n"
    "Text.\r\n",
    # LF-only line endings on the wire inside a literal, no final newline.
    "From: lf@example.org\nSubject: lf only\n\nline one\nline two",
    # A message/rfc822 attachment encoded base64 and a message/delivery-status part.
    "From: mailer-daemon@example.org\r\nSubject: bounce\r\nMIME-Version: 1.0\r\n"
    "Content-Type: multipart/report; report-type=delivery-status; boundary=r\r\n\r\n"
    "--r\r\nContent-Type: text/plain\r\n\r\nIt bounced.\r\n"
    "--r\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; example.org\r\n\r\n"
    "Final-Recipient: rfc822; x@example.org\r\nAction: failed\r\n"
    "--r\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    "U3ViamVjdDogaW5uZXIKCmJvZHkK\r\n"
    "--r--\r\n",
]


async def test_appended_messages_are_parsed_alike(differential: Differential) -> None:
    script = [Step("a0 CREATE Appended")]
    for i, message in enumerate(APPENDED, 1):
        script.append(Step(f'a{i} APPEND Appended () "13-Nov-2023 10:00:00 +0000" {lit(message)}'))
    script += [
        Step("b1 EXAMINE Appended"),
        Step("b2 FETCH 1:2 (RFC822.SIZE ENVELOPE BODYSTRUCTURE)"),
        # Part 3 is a message/rfc822 (base64, which RFC 2046 §5.2.1 forbids) whose "header" runs into the
        # boundary: the same CRLF question as RFC822_CRLF.
        Step("b2b FETCH 3 (RFC822.SIZE ENVELOPE BODYSTRUCTURE)", legit=RFC822_CRLF),
        Step(
            "b3 FETCH 1 (BODY.PEEK[HEADER.FIELDS (Received X-Empty)] BODY.PEEK[HEADER.FIELDS.NOT (Received)])"
        ),
        Step("b4 FETCH 2 (BODY.PEEK[] BODY.PEEK[TEXT] BODY.PEEK[1] BINARY.SIZE[1])"),
        Step("b5 FETCH 3 (BODY.PEEK[2] BODY.PEEK[2.MIME] BODY.PEEK[3.HEADER])"),
        Step("b5b FETCH 3 (BODY.PEEK[3] BINARY.PEEK[3])", legit=RFC822_CRLF),
        Step('b6 UID SEARCH HEADER Received "by d"'),
        Step("b7 UID SEARCH FROM two"),
        Step(
            f"b8 UID SEARCH CHARSET UTF-8 SUBJECT {lit('café crème')}",
            legit="two adjacent encoded words decode to 'café crème' (RFC 2047 §6.2): maildird finds it, "
            "Dovecot does not",
        ),
        Step(f"b9 UID SEARCH CHARSET UTF-8 TO {lit('Grüppe')}"),
        Step('b10 UID SEARCH HEADER X-Empty ""'),
        Step("b11 UID SEARCH TEXT bounced"),
        Step("b12 UID SEARCH BODY inner"),
    ]
    await check(differential, script, drop_recent=True)  # B2 (APPEND with flags not \Recent)
