"""The header-only fast path of FETCH gives the same bytes as parsing the whole message.

``ParsedMessage.parse_header`` parses only the top-level header (benchmarks/README.md: the message-list
fetch must not convert megabytes of attachment to CRLF). Checked on the benchmark generator's realistic
messages, on hand-made edge cases, and through FETCH against a real server.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from benchmarks.generate import PRESETS, generate
from maildird.handlers.fetch import header_only
from maildird.imap import commands as cmd
from maildird.message import body_section
from maildird.message.envelope import envelope
from maildird.message.parse import ParsedMessage, header_block, to_crlf
from maildird.message.search import SearchContext, matches, needs_body

THUNDERBIRD_FIELDS = [
    "From",
    "To",
    "Cc",
    "Bcc",
    "Subject",
    "Date",
    "Message-ID",
    "Priority",
    "X-Priority",
    "References",
    "Newsgroups",
    "In-Reply-To",
    "Content-Type",
    "Reply-To",
]

SECTIONS = (
    cmd.Section(text="HEADER"),
    cmd.Section(text="HEADER.FIELDS", fields=tuple(THUNDERBIRD_FIELDS)),
    cmd.Section(text="HEADER.FIELDS.NOT", fields=("Received", "DKIM-Signature")),
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"A: 1\nB: 2\n\nbody\n\nmore", b"A: 1\nB: 2\n\n"),
        (b"A: 1\r\nB: 2\r\n\r\nbody\r\n", b"A: 1\r\nB: 2\r\n\r\n"),
        (b"A: 1\nB: 2\n", b"A: 1\nB: 2\n"),  # no body: all of it
        (b"\nbody", b"\n"),  # empty header
        (b"\r\nbody", b"\r\n"),
        (b"A: 1\n\r\nx\n\ny", b"A: 1\n\r\n"),  # mixed line ends: the first empty line wins
        (b"A: 1\r\n\r\nb\n\nc", b"A: 1\r\n\r\n"),
        (b"A: 1\n\nb\r\n\r\n", b"A: 1\n\n"),
        (b"A: 1\n folded\n\nb", b"A: 1\n folded\n\n"),
        (b"", b""),
    ],
)
def test_header_block_ends_at_the_first_empty_line(raw: bytes, expected: bytes) -> None:
    assert header_block(raw) == expected


def _section_bytes(msg: ParsedMessage, section: cmd.Section) -> bytes:
    return body_section(msg, section)


def test_parse_header_matches_full_parse_on_generated_mail(tmp_path: Path) -> None:
    generate(tmp_path / "tree", PRESETS["tiny"], seed=7)
    files = sorted((tmp_path / "tree" / "Maildir").glob("**/cur/*"))
    files += sorted((tmp_path / "tree" / "Maildir").glob("**/new/*"))
    assert len(files) > 300
    for path in files:
        raw = path.read_bytes()
        full, head = ParsedMessage.parse(raw), ParsedMessage.parse_header(raw)
        for section in SECTIONS:
            assert _section_bytes(head, section) == _section_bytes(full, section), (path, section)
        assert head.root.header_bytes == full.root.header_bytes
        assert envelope(head) == envelope(full)
        assert head.size < full.size


@pytest.mark.parametrize(
    "raw",
    [
        b"Subject: no body",
        b"Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nA\r\n--b--\r\n",
        b"\n\nbody only",
        b"From: a@b\n\tcontinued\nX-Empty:\n\n\n\nbody",
    ],
)
def test_parse_header_matches_full_parse_on_edge_cases(raw: bytes) -> None:
    full, head = ParsedMessage.parse(raw), ParsedMessage.parse_header(raw)
    for section in SECTIONS:
        assert _section_bytes(head, section) == _section_bytes(full, section)


def _body(text: str | None, part: tuple[int, ...] = (), fields: tuple[str, ...] = ()) -> cmd.FetchBody:
    return cmd.FetchBody(section=cmd.Section(part=part, text=text, fields=fields), peek=True, partial=None)


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ((cmd.FetchAtt("UID"), cmd.FetchAtt("RFC822.SIZE"), _body("HEADER.FIELDS", fields=("From",))), True),
        ((cmd.FetchAtt("RFC822.HEADER"), cmd.FetchAtt("FLAGS")), True),
        ((_body("HEADER"),), True),
        ((_body("HEADER.FIELDS.NOT", fields=("X",)),), True),
        ((_body("HEADER"), cmd.FetchAtt("ENVELOPE")), True),  # ENVELOPE reads the top-level header only
        ((_body("HEADER"), cmd.FetchAtt("BODYSTRUCTURE")), False),
        ((_body("HEADER", part=(2,)),), False),  # an encapsulated message's header
        ((_body(None),), False),
        ((_body("TEXT"),), False),
        ((cmd.FetchAtt("RFC822.TEXT"),), False),
    ],
)
def test_header_only_items(items: tuple[cmd.FetchItem, ...], expected: bool) -> None:
    assert header_only(items) is expected


def _ctx(msg: ParsedMessage) -> SearchContext:
    return SearchContext(
        seq=1,
        uid=1,
        flags=frozenset(),
        size=msg.size,
        internaldate=datetime(2024, 1, 1, tzinfo=UTC),
        largest_seq=1,
        largest_uid=1,
        load=lambda: msg,
    )


HEADER_KEYS = (
    cmd.SearchHeader("FROM", "frank.frequent"),
    cmd.SearchHeader("SUBJECT", "re:"),
    cmd.SearchHeader("SUBJECT", "münchen"),
    cmd.SearchHeader("REFERENCES", ""),
    cmd.SearchDate("since", date(2023, 1, 3), sent=True),
)


def test_header_searches_match_the_same_on_a_header_parse(tmp_path: Path) -> None:
    generate(tmp_path / "tree", PRESETS["tiny"], seed=11)
    files = sorted((tmp_path / "tree" / "Maildir").glob("cur/*"))
    hits = 0
    for path in files:
        raw = path.read_bytes()
        full, head = ParsedMessage.parse(raw), ParsedMessage.parse_header(raw)
        for key in HEADER_KEYS:
            expected = matches(key, _ctx(full))
            assert matches(key, _ctx(head)) is expected, (path, key)
            hits += expected
    assert hits > 0


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (cmd.SearchHeader("FROM", "x"), False),
        (cmd.SearchText("x"), True),
        (cmd.SearchText("x", body_only=True), True),
        (cmd.SearchAnd((cmd.SearchFlag("\\Seen", False), cmd.SearchHeader("TO", "y"))), False),
        (cmd.SearchOr(cmd.SearchHeader("TO", "y"), cmd.SearchNot(cmd.SearchText("z"))), True),
    ],
)
def test_needs_body(key: cmd.SearchKey, expected: bool) -> None:
    assert needs_body(key) is expected


def _to_crlf_reference(raw: bytes) -> bytes:
    """The conversion spelled out: drop every CR before an LF, then put one before every LF."""
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


@pytest.mark.parametrize(
    "raw",
    [b"", b"a", b"a\nb\n", b"\n\n", b"a\r\nb\nc", b"a\r\nb\r\n", b"x\r", b"x\ry\n", b"\r\r\n", b"a\n\r\n"],
)
def test_to_crlf(raw: bytes) -> None:
    assert to_crlf(raw) == _to_crlf_reference(raw)


def test_to_crlf_on_generated_mail(tmp_path: Path) -> None:
    generate(tmp_path / "tree", PRESETS["tiny"], seed=3)
    for path in sorted((tmp_path / "tree" / "Maildir").glob("cur/*"))[:100]:
        raw = path.read_bytes()
        assert to_crlf(raw) == _to_crlf_reference(raw)
