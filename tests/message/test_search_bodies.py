"""SEARCH TEXT/BODY body rows (``message.search_bodies``) give the exact path's answers (RFC 9051 §6.4.4).

Every message of the benchmark generator, the stdlib corpus, the quoted-printable traps and generated
MIME messages (every transfer encoding, unsafe charsets, encoded words, case-folding traps, attached
messages) gets a row; its verdict for TEXT and BODY keys, with and without the octets, after a round
trip through ``encode``/``decode``, is either None ("ask the exact path") or the exact answer.
"""

from __future__ import annotations

import random
import zlib
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maildird.imap.commands import SearchText
from maildird.message import search_bodies
from maildird.message.parse import ParsedMessage, to_crlf
from maildird.message.search import SearchContext, matches
from maildird.message.search_bodies import (
    EXACT,
    RAW,
    RAW_QP,
    TEXT,
    Needle,
    Row,
    decode,
    derive,
    encode,
    verdict,
)
from tests.message.corpus import corpus
from tests.message.test_search_fast import _BENCH_NEEDLES, _QP_TRAPS, NEEDLES, _bench_messages, _message

NOW = datetime(2024, 5, 10, 12, 0, tzinfo=UTC)


def _exact(raw: bytes, key: SearchText) -> bool:
    msg = ParsedMessage.parse(raw)
    ctx = SearchContext(
        seq=1,
        uid=1,
        flags=frozenset(),
        size=len(raw),
        internaldate=NOW,
        largest_seq=1,
        largest_uid=1,
        load=lambda: msg,
    )
    return matches(key, ctx)


def _agree(raw: bytes, needles: list[str]) -> Row:
    row = derive(raw)
    assert decode(encode(row)) == row
    for text in needles:
        for body_only in (False, True):
            key = SearchText(text, body_only=body_only)
            needle = Needle.of(key)
            exact = _exact(raw, key)
            found = verdict(needle, row, raw)
            assert found in (None, exact), (text, body_only, row, raw[:300])
            alone = verdict(needle, row)
            assert alone in (None, exact), (text, body_only, row, raw[:300])
            if row.needs_octets:
                # A raw region decides nothing without the octets, but a kept text's hit stands.
                assert alone in (None, True)
    return row


def test_benchmark_messages_same_answers() -> None:
    kinds: set[tuple[int, int]] = set()
    for raw in _bench_messages(150):
        row = _agree(raw, list(_BENCH_NEEDLES))
        kinds.add((row.header_kind, row.body_kind))
        _agree(raw.replace(b"\n", b"\r\n"), ["quokkasaurus", "the meeting"])
    # The generator's mail holds every kind a typical folder holds.
    assert {(RAW, RAW), (TEXT, RAW), (RAW, RAW_QP), (TEXT, TEXT)} <= kinds


def test_quoted_printable_traps_same_answers() -> None:
    needles = [
        "quokkasaurus",
        "quokka",
        "saurus quokka",
        "plain quokka",
        "strasse",
        "star",
        "kelvin",
        "quo=kka",
    ]
    for raw in _QP_TRAPS:
        for body in (raw, to_crlf(raw)):
            _agree(body, needles)


def test_corpus_same_answers() -> None:
    needles = [
        "user5",
        "Köln",
        "naïve",
        "see attached",
        "report",
        "李雷",
        "x" * 20,
        "example.org",
        "plain",
        "",
    ]
    for raw in corpus(60, seed=11):
        _agree(raw, needles)


@settings(max_examples=400, deadline=None)
@given(_message(), st.booleans())
def test_generated_messages_same_answers(raw: bytes, crlf: bool) -> None:
    if crlf:
        raw = to_crlf(raw)
    _agree(raw, [*NEEDLES, ""])


ATTACHED = (
    b"Subject: fwd\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nsee below\n"
    b"--b\nContent-Type: message/rfc822\n\nSubject: =?utf-8?q?inner_quokka?=\n\nbody\n"
    b"--b\nContent-Type: application/pdf\nContent-Transfer-Encoding: base64\n\nAAAA\n--b--\n"
)


def test_attached_message_header_is_text_not_body() -> None:
    row = _agree(ATTACHED, ["inner quokka", "quokka", "see below", "body"])
    assert (row.header_kind, row.body_kind) == (TEXT, TEXT)
    assert not row.flags & search_bodies.NO_ATTACHED
    assert verdict(Needle.of(SearchText("inner quokka")), row) is True
    # BODY does not search the attached header: the kept text (which holds it) decides nothing.
    assert verdict(Needle.of(SearchText("inner quokka", body_only=True)), row) is None


def test_attachment_message_is_decided_without_its_octets() -> None:
    raw = ATTACHED.replace(b"message/rfc822", b"text/plain; charset=iso-8859-1")
    row = _agree(raw, ["quokka", "see below"])
    assert not row.needs_octets
    assert row.flags & search_bodies.NO_ATTACHED
    assert verdict(Needle.of(SearchText("zzz-absent", body_only=True)), row) is False
    assert verdict(Needle.of(SearchText("SEE BELOW", body_only=True)), row) is True


def test_row_of_other_octets_decides_nothing() -> None:
    raw = b"Subject: plain\n\nnothing to see\n"
    row = derive(raw)
    assert (row.header_kind, row.body_kind) == (RAW, RAW)
    needle = Needle.of(SearchText("quokka"))
    assert verdict(needle, row, raw) is False
    assert verdict(needle, row, raw + b"quokka\n") is None


def test_too_long_text_is_left_to_the_exact_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search_bodies, "MAX_TEXT_OCTETS", 8)
    row = _agree(ATTACHED, ["quokka", "see below"])
    assert row.body_kind == EXACT and row.body is None
    assert verdict(Needle.of(SearchText("see below", body_only=True)), row, ATTACHED) is None


def test_damaged_rows_are_not_rows() -> None:
    good = encode(derive(ATTACHED))
    assert decode(good) is not None
    rng = random.Random(5)
    for _ in range(300):
        cut = good[: rng.randrange(len(good))]
        assert decode(cut) is None or decode(cut) == decode(good)
    assert decode(b"") is None
    assert decode(b"\x09" + good[1:]) is None  # another version
    assert decode(good[:1] + b"\x07" + good[2:]) is None  # an unknown header kind
    assert decode(good[:-3] + b"zzz") is None  # a damaged compressed body text
    head = good[: len(good) - len(zlib.compress(derive(ATTACHED).body.encode(), 1))]  # type: ignore[union-attr]
    assert decode(head + zlib.compress(b"\xff\xfe")) is None  # not UTF-8
