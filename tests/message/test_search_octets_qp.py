"""The octet fast path's quoted-printable decoding (``search_octets.qp_words``) against
``decode.qp_text`` (the same words, so a word absent from one is absent from the other), and its
rule for non-ASCII decoded text (``folds_plainly``) against the exact matcher."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maildird.imap.commands import SearchText
from maildird.message.decode import _SAFE_LABELS, decode_charset, qp_text
from maildird.message.parse import ParsedMessage
from maildird.message.search import Octets, SearchContext, matches, misses
from maildird.message.search_octets import _FOLDS_TO_ASCII_8BIT, FOLDS_TO_ASCII, qp_words

_ALPHABET = [b"=", b" ", b"\t", b"\r", b"\n", b"\r\n", b"A", b"3", b"D", b"q", b"k", b"=3D", b"=20", b"\xc3"]


@settings(max_examples=500)
@given(st.lists(st.sampled_from(_ALPHABET), max_size=40))
def test_same_words_as_qp_text(pieces: list[bytes]) -> None:
    region = b"".join(pieces)
    assert qp_words(region).split() == qp_text(region).split()
    assert qp_words(region).isascii() == qp_text(region).isascii()


def test_padded_soft_break_joins_the_word() -> None:
    for region in (b"quok= \nkasaurus\n", b"quok=\t \r\nkasaurus", b"quok=\nkasaurus  \n"):
        assert b"quokkasaurus" in qp_words(region)
    assert qp_words(b"quokka  \nsaurus=20\n") == b"quokka  \nsaurus \n"


def test_folds_to_ascii_is_every_such_character() -> None:
    derived = "".join(
        chr(c) for c in range(128, sys.maxunicode + 1) if any(ord(x) < 128 for x in chr(c).casefold())
    )
    assert derived == FOLDS_TO_ASCII


def test_single_octet_spellings_are_every_such_octet() -> None:
    labels = [label for label in _SAFE_LABELS if label not in ("us-ascii", "utf-8")]
    octets = set()
    for label in labels:
        for octet in range(128, 256):
            if decode_charset(bytes([octet]), label) in FOLDS_TO_ASCII:
                octets.add(octet)
    assert {o for o in range(256) if _FOLDS_TO_ASCII_8BIT.match(bytes([o]))} == octets


def _qp_message(body: bytes, charset: str = "utf-8") -> bytes:
    return (
        f"Subject: a\nContent-Type: text/plain; charset={charset}\n"
        "Content-Transfer-Encoding: quoted-printable\n\n"
    ).encode() + body


@pytest.mark.parametrize(
    ("raw", "needle", "hit"),
    [
        (
            _qp_message(b"caf=C3=A9 quokka saurus\n"),
            "quokkasaurus",
            False,
        ),  # non-ASCII, no trap: decided fast
        (_qp_message(b"caf=C3=A9 quo=E2=84=AAkasaurus\n"), "quokkasaurus", True),  # Kelvin sign
        (_qp_message(b"=C5=BFaurus quokka\n"), "saurus", True),  # long s
        (_qp_message(b"stra=C3=9Fe\n"), "strasse", True),  # sharp s
        (_qp_message(b"stra=DFe\n", "iso-8859-1"), "strasse", True),
        (_qp_message(b"stra=DFe\n", "utf-8"), "strasse", False),  # an N'Ko lead octet in UTF-8
        (_qp_message(b"=DDstanbul\n", "windows-1254"), "i\u0307stanbul", True),
        (_qp_message(b"=EF=AC=81x =C3=A9\n"), "fix", True),  # the fi ligature
    ],
)
def test_non_ascii_quoted_printable_same_answers(raw: bytes, needle: str, hit: bool) -> None:
    now = datetime.now(UTC)
    for octets_raw in (raw, raw.replace(b"\n", b"\r\n")):
        for key in (SearchText(needle), SearchText(needle, body_only=True)):
            ctx = SearchContext(
                seq=1,
                uid=1,
                flags=frozenset(),
                size=len(octets_raw),
                internaldate=now,
                largest_seq=1,
                largest_uid=1,
                load=lambda r=octets_raw: ParsedMessage.parse(r),
            )
            assert matches(key, ctx) is hit
            assert not (hit and misses(key, Octets(octets_raw)))


def test_non_ascii_quoted_printable_miss_is_proved() -> None:
    raw = _qp_message(b"caf=C3=A9 quokka saurus =E2=82=AC\n")
    assert misses(SearchText("quokkasaurus"), Octets(raw))
    trap = _qp_message(b"caf=C3=A9 quo=E2=84=AAkasaurus\n")
    assert not misses(SearchText("quokkasaurus"), Octets(trap))
