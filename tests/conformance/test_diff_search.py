"""Differential conformance: SEARCH keys, charsets, ESEARCH, SEARCHRES, sequence sets, case.

Each test plays one script on Dovecot 2.3 and on maildird over copies of corpus.SPEC and requires the same
answers after normalisation (tests/conformance/harness.py, normalize.py). A difference triaged as a
maildird bug has a transcript test under tests/rfc/ (the scenario is xfail(strict) until it is fixed);
one triaged as legitimate is marked on its step (``Step(..., legit="why")`` or ``ignore=``).
"""

from __future__ import annotations

from tests.conformance.conftest import Differential
from tests.conformance.harness import Step, steps
from tests.conformance.scenario import check, lit

SEARCH_KEYS = [
    "ALL",
    "SEEN",
    "UNSEEN",
    "FLAGGED UNFLAGGED",
    "ANSWERED",
    "UNANSWERED",
    "DELETED",
    "UNDELETED",
    "DRAFT",
    "UNDRAFT",
    "NEW",
    "OLD",
    "RECENT",
    "KEYWORD $Work",
    "UNKEYWORD $Work",
    "KEYWORD Later",
    "FROM carol",
    "FROM Andr",
    "TO bob",
    "CC undisclosed",
    "BCC nobody",
    'SUBJECT "message"',
    f"SUBJECT {lit('Köln')}",
    f"SUBJECT {lit('Привет')}",
    "BODY zebrafish",
    f"BODY {lit('Köln')}",
    "TEXT attached",
    "TEXT Forwarded",
    "HEADER Message-ID mixed",
    'HEADER X-Missing ""',
    'HEADER In-Reply-To ""',
    "LARGER 400",
    "SMALLER 360",
    "BEFORE 15-Nov-2023",
    "ON 14-Nov-2023",
    "SINCE 15-Nov-2023",
    "SENTON 15-Nov-2023",
    "SENTSINCE 15-Nov-2023",
    "UID 2:4",
    "1:3",
    "2,4:*",
    "NOT SEEN",
    "OR SEEN FLAGGED",
    "OR (SEEN FLAGGED) DRAFT",
    "(SEEN) (UNFLAGGED)",
    "NOT (OR SEEN DRAFT)",
    "MODSEQ 1",
]


async def test_search_keys(differential: Differential) -> None:
    script = [Step("a1 EXAMINE INBOX")]
    for i, key in enumerate(SEARCH_KEYS):
        if "{" not in key:
            script.append(Step(f"s{i} SEARCH {key}"))
        script.append(Step(f"u{i} UID SEARCH CHARSET UTF-8 {key}"))
    # Dovecot adds a keyword to the mailbox's FLAGS when a SEARCH names it (and says so); not required.
    dovecot_keyword = (r"\* FLAGS .*", r"\* OK \[PERMANENTFLAGS .*\]")
    script.append(Step("k1 SEARCH KEYWORD Nonexistent", ignore=dovecot_keyword))
    script.append(
        Step(
            "k2 SEARCH SENTBEFORE 15-Nov-2023",
            legit="message 6 has no Date: field; Dovecot counts it as sent at time 0, maildird as never "
            "(RFC 9051 §6.4.4: SENTBEFORE is about the Date: header, which is absent)",
        )
    )
    await check(differential, script)


async def test_search_errors_and_charsets(differential: Differential) -> None:
    await check(
        differential,
        steps(
            "a1 EXAMINE INBOX",
            "a2 SEARCH CHARSET NOSUCH ALL",
            "a3 SEARCH BADKEY",
            Step(
                "a4 SEARCH BEFORE 32-Nov-2023",
                legit="no such date: maildird's BAD is right, Dovecot ignores it",
            ),
            "a5 SEARCH CHARSET ISO-8859-1 SUBJECT plain",
            "a6 SEARCH UID 1:*",
            "a7 SEARCH 99",
            "a8 SEARCH LARGER x",
            "a9 SEARCH",
        ),
    )


async def test_esearch_and_searchres(differential: Differential) -> None:
    await check(
        differential,
        steps(
            "a1 EXAMINE INBOX",
            "a2 SEARCH RETURN () SEEN",
            "a3 SEARCH RETURN (MIN MAX COUNT) ALL",
            "a4 UID SEARCH RETURN (ALL) UNSEEN",
            Step(
                "a5 SEARCH RETURN (COUNT) KEYWORD Nonexistent",
                ignore=(r"\* FLAGS .*", r"\* OK \[PERMANENTFLAGS .*\]"),
            ),
            Step(
                "a6 SEARCH RETURN (MIN) KEYWORD Nonexistent",
                ignore=(r"\* FLAGS .*", r"\* OK \[PERMANENTFLAGS .*\]"),
            ),
            "a7 SEARCH RETURN (SAVE) SEEN",
            "a8 FETCH $ (UID)",
            "a9 UID SEARCH RETURN (SAVE MIN) UNSEEN",
            "a10 UID FETCH $ (FLAGS)",
            "a11 SEARCH $",
            Step(
                "a12 SEARCH RETURN (SAVE) KEYWORD Nonexistent",
                ignore=(r"\* FLAGS .*", r"\* OK \[PERMANENTFLAGS .*\]"),
            ),
            "a13 FETCH $ FLAGS",
            "a14 SEARCH RETURN (ALL COUNT) OR $ 1",
        ),
    )


async def test_edge_search(differential: Differential) -> None:
    keys = [
        "FROM john",
        'FROM "Doe, John"',
        "TO anna",
        "TO team",
        "CC route",
        "SUBJECT folded",
        'SUBJECT "subject line"',
        "SUBJECT split",
        "SUBJECT words",
        'SUBJECT "split words"',
        f"SUBJECT {lit('€')}",
        f"SUBJECT {lit('Räw')}",
        f"CC {lit('Näme')}",
        "BODY break",
        f"BODY {lit('é')}",
        "BODY inner",
        "TEXT epilogue",
        "TEXT preamble",
        "HEADER Message-ID no-angle",
        "SENTON 14-Nov-2023",
        "SENTON 5-Nov-2023",
        "SENTSINCE 1-Jan-2000",
    ]
    script = [Step("a1 EXAMINE Edge")]
    script += [Step(f"s{i} UID SEARCH CHARSET UTF-8 {key}") for i, key in enumerate(keys)]
    script += [
        Step(
            "n1 UID SEARCH BODY unknown",
            legit="a body with an unknown CTE: maildird searches it as stored, Dovecot skips it",
        ),
        Step(
            "n2 UID SEARCH SENTBEFORE 1-Jan-2030", legit="no usable Date: Dovecot takes time 0 (see k2 above)"
        ),
    ]
    await check(differential, script)


async def test_searchres_with_uid_commands(differential: Differential) -> None:
    await check(
        differential,
        [
            Step("a1 ENABLE CONDSTORE"),
            Step("a2 SELECT INBOX", capture={"hms": rb"HIGHESTMODSEQ (\d+)"}),
            Step("a3 UID SEARCH RETURN (SAVE) UNSEEN"),
            Step("a4 UID STORE $ +FLAGS (\\Flagged)"),
            Step("a5 UID COPY $ Work"),
            Step("a6 SEARCH RETURN (MAX COUNT) MODSEQ {hms}"),
            Step("a7 UID SEARCH RETURN (ALL) $"),
            Step("a8 UID MOVE $ Trash"),
            Step("a9 UID FETCH $ (FLAGS)"),
            Step("a10 SEARCH RETURN (SAVE) 1:2"),
            Step("a11 FETCH $ (UID)"),
            Step("a12 UID SEARCH RETURN () 1:*"),
        ],
        drop_recent=True,
    )


async def test_search_inside_mime_structure(differential: Differential) -> None:
    keys = [
        "BODY report.bin",
        "BODY Content-Type",
        "BODY AAECAw",
        'BODY "Inner plain"',
        'TEXT "Forwarded note"',
        'BODY "Forwarded note"',
        "TEXT boundary",
        "BODY BOUNDARY-ALT",
        f"BODY {lit('Grüße')}",
        "BODY Gr=C3=BC",
        "TEXT eve@example.com",
        'HEADER Content-Type "multipart/mixed"',
        'HEADER Subject "Forwarded note"',
        "TEXT Q2Fm6",
    ]
    script = [Step("a1 EXAMINE INBOX")]
    script += [Step(f"s{i} UID SEARCH CHARSET UTF-8 {key}") for i, key in enumerate(keys)]
    # Message 4 is ISO-8859-1: a base64 body "Café crème..." and From: =?ISO-8859-1?Q?Andr=E9?=. maildird
    # decodes both and finds the words (RFC 9051 §6.4.4 substring match of the decoded text); this
    # Dovecot finds neither.
    latin1 = "ISO-8859-1 text decoded and matched by maildird (RFC 9051 §6.4.4), missed by Dovecot"
    for i, key in enumerate([f"BODY {lit('Café')}", f"TEXT {lit('ANDRÉ')}", f"FROM {lit('andré')}"]):
        script.append(Step(f"l{i} UID SEARCH CHARSET UTF-8 {key}", legit=latin1))
    await check(differential, script)


async def test_sequence_set_edges(differential: Differential) -> None:
    await check(
        differential,
        steps(
            "a1 SELECT INBOX",
            "a2 FETCH * (UID)",
            "a3 FETCH 9:* (UID)",
            "a4 FETCH 5:3 (UID)",
            "a5 UID FETCH *:5 (FLAGS)",
            "a6 UID FETCH 99:* (FLAGS)",
            "a7 UID STORE 99 +FLAGS (\\Seen)",
            "a8 SEARCH *",
            "a9 UID SEARCH UID 5:*",
            "a10 SEARCH 5:3",
            "a11 SEARCH UID 1,3 NOT 1",
            "a12 SEARCH OR OR SEEN DRAFT FLAGGED",
            "a13 SEARCH NOT NOT SEEN",
            'a14 SEARCH HEADER Subject ""',
            'a15 SEARCH TEXT ""',
            "a16 SEARCH LARGER 0 SMALLER 100000",
            "a17 SEARCH UNDRAFT UNDELETED SINCE 1-Jan-2020",
            "a18 SELECT Trash",
            "a19 FETCH 1:* (FLAGS)",
            "a20 UID FETCH 1:* (FLAGS)",
            "a21 SEARCH ALL",
            "a22 UID SEARCH RETURN (MIN MAX COUNT ALL) ALL",
            "a23 STORE 1:* +FLAGS (\\Seen)",
            "a24 EXPUNGE",
            "a25 FETCH * (UID)",
        ),
    )


async def test_case_insensitivity(differential: Differential) -> None:
    await check(
        differential,
        steps(
            "a1 select inbox",
            "a2 uid fetch 1:3 (flags uid body.peek[header.fields (subject)])",
            "a3 search keyword $work",
            "a4 store 1 +flags ($WORK \\seen)",
            "a5 fetch 1 flags",
            "a6 search unkeyword $WORK",
            "a7 status work (messages)",
            'a8 list "" WORK',
            "a9 Fetch 2 Body.Peek[Header.Fields (SUBJECT)]",
            "a10 uid Search Return (count) All",
        ),
    )
