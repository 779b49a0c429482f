"""RFC 9051 §6.4.5 HEADER.FIELDS / HEADER.FIELDS.NOT / HEADER: the regex selector of
``message.header_fields`` gives the same octets as the field parser (``Part.fields``) over tables and
generated headers, in LF and CRLF files, with and without a blank line."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maildird.message.header_fields import crlf_header, header_end, header_section, selector
from maildird.message.parse import ParsedMessage, header_block, to_crlf

THUNDERBIRD = [
    "From", "To", "Cc", "Bcc", "Subject", "Date", "Message-ID", "Priority", "X-Priority", "References",
    "Newsgroups", "In-Reply-To", "Content-Type", "Reply-To",
]  # fmt: skip


def reference(raw: bytes, text: str, names: tuple[str, ...]) -> bytes:
    """The answer before the selector existed: ``Part.fields`` filtered by key (sections.py, 2026-11-28)."""
    root = ParsedMessage.parse(raw).root
    if text == "HEADER":
        data = root.header_bytes
    else:
        wanted = {n.upper().encode("ascii", "replace") for n in names}
        exclude = text == "HEADER.FIELDS.NOT"
        data = b"".join(f.raw for f in root.fields if (f.key in wanted) != exclude)
        if data and not data.endswith(b"\r\n"):
            data += b"\r\n"
        data += b"\r\n"
    return data.replace(b"\0", b"\x80")


def fast(raw: bytes, text: str, names: tuple[str, ...]) -> bytes:
    return header_section(to_crlf(header_block(raw)), text, names)


HEADERS = [
    b"From: a@b\nSubject: hi\n\nbody\n",
    b"From: a@b\r\nSubject: hi\r\n\r\nbody\r\n",
    b"from: a@b\nSUBJECT: hi\nsubject: twice\n\n",
    b"Subject: folded\n  over\n\tthree lines\nFrom: x\n\nb",
    b"Subject : blank before colon\nFrom\t:tab\nTo \t : both\n\n",
    b"From x: not a field\nFrom: real\n continuation\n\n",
    b"From foo@bar Mon Jan 1 00:00:00 2024\nFrom: after mbox line\n\n",
    b"garbage line\n continuation of garbage\nSubject: s\n\n",
    b" leading continuation\nSubject: s\n\n",
    b":no name\nSubject: s\n\n",
    b"Subject: nul\0inside\nX-8bit: caf\xc3\xa9\n\n",
    b"Subj\xc3\xa9ct: 8-bit name\nSubject: s\n\n",
    b"Subject: lone\rcr\nFrom: x\r\n\n",
    b"Subject: no blank line at all\nFrom: x",
    b"Subject: no blank line, ends in LF\nFrom: x\n",
    b"Subject: ends in CR\r",
    b"Subject: folded at the end\n more",
    b"\nSubject: body only",
    b"\r\nSubject: body only",
    b"",
    b"Subject: s\n\nFrom: in the body\n",
    b"Subject: mixed\r\nFrom: line ends\n\nbody\r\n",
    b"X-Empty:\nSubject:\n\n",
    b"References: <a@b>\n <c@d>\nIn-Reply-To: <c@d>\nContent-Type: text/plain;\n charset=utf-8\n\n",
    b"Fr\rom: cr in name\nFrom: x\n\n",
    b"A:1\nB:2\nC:3\nA:4\n\n",
]

NAME_LISTS: list[tuple[str, ...]] = [
    tuple(THUNDERBIRD),
    ("From", "Subject", "Date"),
    ("subject",),
    ("A", "C"),
    ("X-Empty",),
    ("From x",),  # never a field name: selects nothing
    ("From:",),
    ("",),
    ("Subj\u00e9ct",),  # non-ASCII becomes "?" like Part.header does
    ("\u0131d",),  # dotless i upper-cases to ASCII "ID"
    ("Fr\rom",),
    ("Received", "DKIM-Signature", "Nope"),
]


@pytest.mark.parametrize("raw", HEADERS)
@pytest.mark.parametrize("names", NAME_LISTS)
@pytest.mark.parametrize("text", ["HEADER.FIELDS", "HEADER.FIELDS.NOT"])
def test_fields_match_the_field_parser(raw: bytes, names: tuple[str, ...], text: str) -> None:
    assert fast(raw, text, names) == reference(raw, text, names)


@pytest.mark.parametrize("raw", HEADERS)
def test_header_matches_the_field_parser(raw: bytes) -> None:
    assert fast(raw, "HEADER", ()) == reference(raw, "HEADER", ())


def test_examples_by_hand() -> None:
    raw = b"Received: x\nFrom: A <a@b>\nsubject: Hi\n there\nDate: now\n\nbody\n"
    assert fast(raw, "HEADER.FIELDS", ("SUBJECT", "FROM")) == (
        b"From: A <a@b>\r\nsubject: Hi\r\n there\r\n\r\n"
    )
    assert fast(raw, "HEADER.FIELDS.NOT", ("Received", "Date")) == (
        b"From: A <a@b>\r\nsubject: Hi\r\n there\r\n\r\n"
    )
    assert fast(raw, "HEADER.FIELDS", ("Cc",)) == b"\r\n"
    assert fast(b"Subject: x", "HEADER.FIELDS", ("Subject",)) == b"Subject: x\r\n\r\n"
    assert fast(b"Subject: a\0b\n\n", "HEADER", ()) == b"Subject: a\x80b\r\n\r\n"
    assert fast(raw, "TEXT", ()) == b""


def test_header_end_offsets() -> None:
    assert header_end(b"\r\nbody") == (0, 2)
    assert header_end(b"A: 1\r\n\r\nbody") == (6, 8)
    assert header_end(b"A: 1\r\n") == (6, 6)
    assert header_end(b"") == (0, 0)


def test_selectors_are_cached() -> None:
    assert selector(("From",), False) is selector(("From",), False)
    assert selector(("From",), False) is not selector(("From",), True)


_line = st.one_of(
    st.sampled_from(
        [
            b"From: a",
            b"from : b",
            b"SUBJECT:\tc",
            b"Subject",
            b"To:",
            b"X-A: \0",
            b"X-\xe9: 8bit",
            b" folded",
            b"\tfolded",
            b"From x: y",
            b":",
            b"a:b:c",
            b"Cc \t: d\r",
            b"References: <x>",
            b"",
        ]
    ),
    st.binary(max_size=12).filter(lambda b: b"\n" not in b),
)


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    lines = draw(st.lists(_line, max_size=12))
    ends = draw(st.lists(st.sampled_from([b"\n", b"\r\n"]), min_size=len(lines), max_size=len(lines)))
    raw = b"".join(line + end for line, end in zip(lines, ends, strict=True))
    if draw(st.booleans()) and raw:
        raw = raw[: -draw(st.integers(1, 2))]  # no final line break
    return raw + draw(st.sampled_from([b"", b"\nbody\n", b"\r\n\r\nbody"]))


_names = st.lists(
    st.sampled_from(
        ["From", "subject", "TO", "cc", "X-A", "References", "a", "Subject", "From x", "X-\u00e9"]
    ),
    min_size=1,
    max_size=4,
).map(tuple)


@settings(max_examples=400, deadline=None)
@given(raw=messages(), names=_names, text=st.sampled_from(["HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT"]))
def test_generated_headers_match_the_field_parser(raw: bytes, names: tuple[str, ...], text: str) -> None:
    assert fast(raw, text, names) == reference(raw, text, names)


@settings(max_examples=200, deadline=None)
@given(raw=messages(), names=_names, exclude=st.booleans())
def test_whole_message_and_header_block_agree(raw: bytes, names: tuple[str, ...], exclude: bool) -> None:
    """The handler's fast path starts from the header block, the general path from the whole file."""
    text = "HEADER.FIELDS.NOT" if exclude else "HEADER.FIELDS"
    assert header_section(to_crlf(raw), text, names) == fast(raw, text, names)


@pytest.mark.parametrize("raw", HEADERS)
def test_crlf_header_is_the_converted_header_block(raw: bytes) -> None:
    header = to_crlf(header_block(raw))
    assert crlf_header(raw) == (header, *header_end(header))


@settings(max_examples=400, deadline=None)
@given(raw=messages())
def test_generated_crlf_header_is_the_converted_header_block(raw: bytes) -> None:
    header = to_crlf(header_block(raw))
    assert crlf_header(raw) == (header, *header_end(header))
