"""FETCH response labels and \\Seen rules (seed bugs 4 and 6), and robustness of every renderer."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maildird.imap.commands import (
    FetchAtt,
    FetchBinary,
    FetchBody,
    SearchAnd,
    SearchDate,
    SearchHeader,
    SearchText,
    Section,
)
from maildird.imap.responses import serialize_value
from maildird.message import (
    ParsedMessage,
    SearchContext,
    bodystructure,
    envelope,
    matches,
    response_label,
    sets_seen,
)


@pytest.mark.parametrize(
    ("item", "label"),
    [
        # Seed bug 4: a partial response names only the origin.
        (FetchBody(Section(), partial=(0, 1024)), b"BODY[]<0>"),
        (FetchBody(Section(), peek=True, partial=(65536, 65536)), b"BODY[]<65536>"),
        (FetchBody(Section((1, 2), "MIME")), b"BODY[1.2.MIME]"),
        (
            FetchBody(Section((), "HEADER.FIELDS", ("FROM", "TO")), peek=True),
            b"BODY[HEADER.FIELDS (FROM TO)]",
        ),
        (FetchBody(Section((3,), "HEADER.FIELDS.NOT", ("X",))), b"BODY[3.HEADER.FIELDS.NOT (X)]"),
        (FetchBinary((1,), partial=(5, 10)), b"BINARY[1]<5>"),
        (FetchBinary((2, 1), size=True), b"BINARY.SIZE[2.1]"),
        (FetchBinary(()), b"BINARY[]"),
        (FetchBody(Section((), "HEADER.FIELDS", ("A(B", 'Q"X'))), b'BODY[HEADER.FIELDS ("A(B" "Q\\"X")]'),
    ],
)
def test_response_label(item: FetchBody | FetchBinary, label: bytes) -> None:
    assert response_label(item) == label


@pytest.mark.parametrize(
    ("item", "readwrite", "readonly"),
    [
        (FetchBody(Section()), True, False),  # seed bug 6: never \Seen under EXAMINE
        (FetchBody(Section(), peek=True), False, False),
        (FetchBody(Section((1,), "TEXT")), True, False),
        (FetchBinary((1,)), True, False),
        (FetchBinary((1,), peek=True), False, False),
        (FetchBinary((1,), size=True), False, False),
        (FetchAtt("RFC822"), True, False),  # seed bug 6: RFC822 and RFC822.TEXT set \Seen
        (FetchAtt("RFC822.TEXT"), True, False),
        (FetchAtt("RFC822.HEADER"), False, False),
        (FetchAtt("RFC822.SIZE"), False, False),
        (FetchAtt("ENVELOPE"), False, False),
    ],
)
def test_sets_seen(item: FetchAtt | FetchBody | FetchBinary, readwrite: bool, readonly: bool) -> None:
    assert sets_seen(item, readonly=False) is readwrite
    assert sets_seen(item, readonly=True) is readonly


TOKENS = [
    b"\n",
    b": ",
    b"From",
    b"To",
    b"Subject",
    b"Content-Type",
    b"multipart/mixed; boundary=b",
    b"message/rfc822",
    b"text/plain; charset=",
    b"Content-Transfer-Encoding: quoted-printable",
    b"--b",
    b"--b--",
    b"<",
    b">",
    b"@",
    b",",
    b";",
    b":",
    b'"',
    b"(",
    b")",
    b"\\",
    b"=?utf-8?q?=C3",
    b"?=",
    b"=?x-bogus?b?@@?=",
    b"\xff\xfe",
    b" ",
    b"\t",
    b"x",
]


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.binary(max_size=600), st.lists(st.sampled_from(TOKENS), max_size=80).map(b"".join)))
def test_renderers_and_search_never_raise(raw: bytes) -> None:
    msg = ParsedMessage.parse(raw)
    assert serialize_value(envelope(msg)).startswith(b"(")
    assert serialize_value(bodystructure(msg, extensible=True)).startswith(b"(")
    assert serialize_value(bodystructure(msg, extensible=False)).startswith(b"(")
    ctx = SearchContext(
        seq=1,
        uid=1,
        flags=frozenset(),
        size=msg.size,
        internaldate=datetime(2024, 1, 1, tzinfo=UTC),
        largest_seq=1,
        largest_uid=1,
        load=lambda: msg,
    )
    key = SearchAnd(
        (
            SearchText("zzz-not-there"),
            SearchHeader("FROM", "q"),
            SearchDate("on", datetime(2024, 1, 1).date(), True),
        )
    )
    assert matches(key, ctx) is False
