"""ParsedMessage and BODY[section] / BINARY / partial (RFC 9051 §6.4.5, RFC 3516)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maildird.imap.commands import Section
from maildird.message import (
    MAX_MIME_DEPTH,
    ParsedMessage,
    UnknownTransferEncoding,
    apply_partial,
    binary_section,
    binary_size,
    body_section,
)
from tests.message.samples import ALTERNATIVE, HEADER_ONLY, MIXED, NO_TYPE, PLAIN


def crlf(lf: bytes) -> bytes:
    return lf.replace(b"\n", b"\r\n")


def both(lf: bytes) -> list[ParsedMessage]:
    """The LF and the CRLF variant of one message; every test checks both give the same answer."""
    return [ParsedMessage.parse(lf), ParsedMessage.parse(crlf(lf))]


# -- CRLF normalisation and size (seed bug 12) ---------------------------------------------------


@pytest.mark.parametrize("lf", [PLAIN, ALTERNATIVE, MIXED, NO_TYPE, HEADER_ONLY])
def test_size_is_crlf_size_whatever_the_file_uses(lf: bytes) -> None:
    for msg in both(lf):
        assert msg.size == len(crlf(lf))
        assert msg.data == crlf(lf)
        assert body_section(msg, Section()) == crlf(lf)


def test_mixed_line_ends_become_crlf_once() -> None:
    msg = ParsedMessage.parse(b"Subject: x\r\n\nline1\nline2\r\n")
    assert msg.data == b"Subject: x\r\n\r\nline1\r\nline2\r\n"
    assert msg.size == len(b"Subject: x\r\n\r\nline1\r\nline2\r\n")


# -- sections ------------------------------------------------------------------------------------

SECTION_CASES: list[tuple[bytes, Section, bytes]] = [
    (PLAIN, Section(text="HEADER"), crlf(PLAIN.split(b"\n\n")[0] + b"\n\n")),
    (PLAIN, Section(text="TEXT"), b"Hi Mary,\r\nthis is the body.\r\n"),
    (PLAIN, Section((1,)), b"Hi Mary,\r\nthis is the body.\r\n"),
    (PLAIN, Section((1,), "MIME"), crlf(PLAIN.split(b"\n\n")[0] + b"\n\n")),
    (PLAIN, Section((2,)), b""),
    (PLAIN, Section((1, 1)), b""),
    # HEADER.FIELDS: case-insensitive names, message order, folding kept, blank line at the end.
    (
        PLAIN,
        Section(text="HEADER.FIELDS", fields=("X-FOLDED", "subject")),
        b"Subject: Hello there\r\nX-Folded: first part\r\n  second part\r\n\r\n",
    ),
    (PLAIN, Section(text="HEADER.FIELDS", fields=("NOPE",)), b"\r\n"),
    # Seed bug 5: HEADER.FIELDS.NOT returned the listed fields instead of the others.
    (
        PLAIN,
        Section(text="HEADER.FIELDS.NOT", fields=("FROM", "TO", "DATE", "MESSAGE-ID", "X-FOLDED")),
        b"Subject: Hello there\r\n\r\n",
    ),
    (ALTERNATIVE, Section((1,)), b"caf=C3=A9 ol=\r\n=C3=A9"),
    (ALTERNATIVE, Section((2,)), b"<p>caf\xc3\xa9</p>"),
    (ALTERNATIVE, Section((2,), "MIME"), b"Content-Type: text/html; charset=utf-8\r\n\r\n"),
    (ALTERNATIVE, Section((3,)), b""),
    (ALTERNATIVE, Section((1,), "HEADER"), b""),  # HEADER only after a message/rfc822 part
    (ALTERNATIVE, Section((1, 1)), b"caf=C3=A9 ol=\r\n=C3=A9"),  # a leaf is its own part 1 (Dovecot)
    (ALTERNATIVE, Section((1, 1, 1)), b""),
    (MIXED, Section((1,)), b"body one"),
    (MIXED, Section((2,)), b"JVBERi0xLjQK\r\nAAEC/w=="),
    (MIXED, Section((3,), "MIME"), b"Content-Type: message/rfc822\r\n\r\n"),
    (
        MIXED,
        Section((3,), "HEADER"),
        b"From: Inner Sender <inner@example.org>\r\nSubject: inner\r\n"
        b"Content-Type: multipart/alternative; boundary=inner\r\n\r\n",
    ),
    (MIXED, Section((3,), "HEADER.FIELDS", ("SUBJECT",)), b"Subject: inner\r\n\r\n"),
    (
        MIXED,
        Section((3,), "HEADER.FIELDS.NOT", ("SUBJECT", "FROM")),
        b"Content-Type: multipart/alternative; boundary=inner\r\n\r\n",
    ),
    (
        MIXED,
        Section((3,), "TEXT"),
        b"--inner\r\n\r\nplain inner\r\n--inner\r\nContent-Type: text/html\r\n\r\n<b>inner</b>\r\n--inner--",
    ),
    (MIXED, Section((3, 1)), b"plain inner"),
    (MIXED, Section((3, 1), "MIME"), b"\r\n"),
    (MIXED, Section((3, 2)), b"<b>inner</b>"),
    (MIXED, Section((3, 3)), b""),
    (MIXED, Section((5,)), b""),
    (HEADER_ONLY, Section(text="HEADER"), b"Subject: only a header"),
    (HEADER_ONLY, Section(text="TEXT"), b""),
    (HEADER_ONLY, Section(text="HEADER.FIELDS", fields=("SUBJECT",)), b"Subject: only a header\r\n\r\n"),
]


@pytest.mark.parametrize(("lf", "section", "expected"), SECTION_CASES)
def test_body_section(lf: bytes, section: Section, expected: bytes) -> None:
    for msg in both(lf):
        assert body_section(msg, section) == expected


def test_whole_message_section_of_mixed() -> None:
    msg = ParsedMessage.parse(MIXED)
    assert body_section(msg, Section((3,))).startswith(b"From: Inner Sender")
    assert body_section(msg, Section((3,))).endswith(b"<b>inner</b>\r\n--inner--")


def test_nested_message_rfc822_that_is_not_multipart() -> None:
    raw = b"Content-Type: message/rfc822\n\nSubject: in\n\ninner body\n"
    msg = ParsedMessage.parse(raw)
    assert body_section(msg, Section((1,))) == b"Subject: in\r\n\r\ninner body\r\n"
    assert body_section(msg, Section((1,), "HEADER")) == b"Subject: in\r\n\r\n"
    assert body_section(msg, Section((1, 1))) == b"inner body\r\n"
    assert body_section(msg, Section((1, 2))) == b""


# -- partial -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("origin", "count", "expected"),
    [(0, 4, b"0123"), (8, 5, b"89"), (10, 5, b""), (99, 1, b""), (3, 0, b""), (0, 100, b"0123456789")],
)
def test_apply_partial(origin: int, count: int, expected: bytes) -> None:
    assert apply_partial(b"0123456789", origin, count) == expected


# -- BINARY (RFC 3516) ---------------------------------------------------------------------------


def test_binary_of_base64_part() -> None:
    for msg in both(MIXED):
        assert binary_section(msg, (2,)) == b"%PDF-1.4\n\x00\x01\x02\xff"
        assert binary_size(msg, (2,)) == 13


def test_binary_of_quoted_printable_part() -> None:
    for msg in both(ALTERNATIVE):
        assert binary_section(msg, (1,)) == "café olé".encode()


def test_binary_of_identity_part_and_whole_message() -> None:
    msg = ParsedMessage.parse(ALTERNATIVE)
    assert binary_section(msg, (2,)) == b"<p>caf\xc3\xa9</p>"
    assert binary_section(msg, ()) == crlf(ALTERNATIVE)
    assert binary_section(msg, (9,)) == b""


def test_binary_of_unknown_transfer_encoding_raises() -> None:
    msg = ParsedMessage.parse(MIXED)
    with pytest.raises(UnknownTransferEncoding) as info:
        binary_section(msg, (4,))
    assert info.value.encoding == "x-uuencode"


# -- robustness ----------------------------------------------------------------------------------


def test_deep_nesting_stops_at_the_limit() -> None:
    depth = MAX_MIME_DEPTH + 20
    raw = b"".join(b"Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n" % (i, i) for i in range(depth))
    raw += b"\nleaf\n"
    msg = ParsedMessage.parse(raw)
    path = (1,) * (MAX_MIME_DEPTH - 1)
    assert body_section(msg, Section(path, "MIME")).startswith(b"Content-Type: multipart/mixed")
    assert body_section(msg, Section((1,) * (depth + 5))) == b""


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_parse_never_raises_on_random_bytes(raw: bytes) -> None:
    msg = ParsedMessage.parse(raw)
    assert msg.size == len(msg.data)
    for section in (Section(), Section(text="HEADER"), Section((1,)), Section((1, 2), "MIME")):
        assert isinstance(body_section(msg, section), bytes)


MIME_ALPHABET = [
    b"\n",
    b"--b",
    b"--b--",
    b"Content-Type: multipart/mixed; boundary=b\n",
    b"Content-Type: message/rfc822\n",
    b"Content-Transfer-Encoding: base64\n",
    b"\n\n",
    b"x",
    b"=?utf-8?q?=C3?=",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(MIME_ALPHABET), max_size=60))
def test_parse_never_raises_on_mime_like_noise(chunks: list[bytes]) -> None:
    msg = ParsedMessage.parse(b"".join(chunks))
    for path in [(1,), (1, 1), (2,), (1, 2, 1)]:
        assert isinstance(body_section(msg, Section(path)), bytes)
        assert isinstance(binary_section(msg, path), bytes)


def test_nul_is_sent_as_0x80_in_body_but_kept_in_binary() -> None:
    from maildird.message.sections import needs_literal8

    raw = b"Content-Type: application/octet-stream\nContent-Transfer-Encoding: binary\n\na\x00b\n"
    msg = ParsedMessage.parse(raw)
    assert body_section(msg, Section()).endswith(b"\r\n\r\na\x80b\r\n")
    assert body_section(msg, Section((1,))) == b"a\x80b\r\n"
    assert binary_section(msg, (1,)) == b"a\x00b\r\n"
    assert needs_literal8(binary_section(msg, (1,)))
    assert not needs_literal8(b"plain")


@pytest.mark.parametrize(
    ("lf", "parts"),
    [
        # Consecutive delimiters: an empty part (Dovecot agrees).
        (
            b"Content-Type: multipart/mixed; boundary=b\n\n--b\n--b\nContent-Type: text/html\n\nx\n--b--\n",
            [b"", b"x"],
        ),
        # A longer boundary that merely starts with ours is content, not a delimiter.
        (
            b"Content-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--bb\nstill one\n--b\n\ntwo\n",
            [b"one\r\n--bb\r\nstill one", b"two\r\n"],
        ),
        # Transport padding after a delimiter, a quoted boundary with a space, no closing delimiter.
        (b'Content-Type: multipart/mixed; BOUNDARY="=_a b"\n\n--=_a b  \n\nx\n--=_a b\t\n\ny', [b"x", b"y"]),
    ],
)
def test_multipart_delimiters(lf: bytes, parts: list[bytes]) -> None:
    for msg in both(lf):
        assert [body_section(msg, Section((i,))) for i in range(1, len(parts) + 2)] == [*parts, b""]


def test_message_global_is_a_basic_part() -> None:
    msg = ParsedMessage.parse(b"Content-Type: message/global\n\nSubject: g\n\nbody\n")
    assert not msg.root.is_message
    assert body_section(msg, Section((1,), "HEADER")) == b""
    assert body_section(msg, Section((1,))) == b"Subject: g\r\n\r\nbody\r\n"
