"""Header SEARCH from cached texts gives the exact path's answers (RFC 9051 §6.4.4).

``search_fields.derive`` makes the texts a store caches, ``texts_filter``/``texts_test`` match keys
against them; ``search.matches`` over the parsed message is the reference. Messages: the benchmark
generator's, the stdlib corpus, generated ones with encoded words (Q, B, UTF-7), raw 8-bit octets,
case-folding traps and repeated fields, and hand-made edge cases (no From, two From lines, an empty
field, CRLF and bare CR, non-ASCII field values).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from maildird.imap.commands import (
    SearchAnd,
    SearchDate,
    SearchFlag,
    SearchHeader,
    SearchKey,
    SearchNot,
    SearchOr,
    SearchText,
)
from maildird.message.parse import ParsedMessage, header_block, to_crlf
from maildird.message.search import SearchContext, matches
from maildird.message.search_fields import CACHED_FIELDS, RECIPE, derive, key_fields, texts_filter, texts_test
from maildird.message.search_octets import Octets
from maildird.message.search_texts import field_text
from maildird.message.snapshot import Mailbox
from tests.message.corpus import corpus
from tests.message.test_search_fast import NEEDLES, _bench_messages, _message, _snapshot_keys

NOW = datetime(2024, 5, 10, 12, 0, tzinfo=UTC)
FIELDS = ["From", "TO", "cc", "Bcc", "subject", "Message-ID", "reply-to", "List-Id"]
HANDMADE = [
    b"To: a@example.org\n\nno From at all\n",
    b"From: first <a@example.org>\nFrom: second <quokka@example.org>\nSubject: two\n\nbody\n",
    b"From:\nSubject:   \n\nempty fields\n",
    b"From: =?utf-8?q?Stra=C3=9Fe?= <s@example.org>\nSubject: =?utf-8?b?S8O2bG4gzqPOvs+C?=\n\nx\n",
    b"From: M\xc3\xbcller <m@example.org>\nSubject: caf\xc3\xa9 \xe6\x9d\x8e\n\nraw utf-8\n",
    b"From: Latin \xfc <l@example.org>\n\nraw latin-1 octet\n",
    b"From: a\r\n b@example.org\r\nSubject: crlf\r\n folded quokka\r\n\r\nbody\r\n",
    b"From: bare\rcr <x@example.org>\nSubject: q\n\nx\n",
    b"FROM : spaced <quokka@example.org>\nsubject:\tTab\n\nx\n",
    b"Message-ID: <quokka.1@example.org>\nList-Id: Quokka list <q.example.org>\n\nx\n",
    b"From: =?utf-7?Q?+AN8-?= <x@example.org>\nReply-To: \xe2\x84\xaaelvin <k@example.org>\n\nx\n",
    b"\n\nno header at all\n",
    b"",
]
HAND_NEEDLES = [
    "quokka",
    "m\xfcller",
    "MÜLLER",
    "strasse",
    "STRASSE",
    "\u017ftar",
    "kelvin",
    "",
    " ",
    "a b",
    "李",
]


@dataclass(frozen=True, slots=True)
class _Info:
    uid: int
    flags: frozenset[str]
    size: int
    internaldate: datetime
    modseq: int


def _box(recent: bool = False) -> Mailbox:
    return Mailbox(largest_seq=9, largest_uid=9, saved=frozenset({1}), now=NOW, recent=lambda uid: recent)


def _exact(raw: bytes, key: SearchKey, info: _Info, recent: bool = False) -> bool:
    msg = ParsedMessage.parse(raw)
    ctx = SearchContext(
        seq=1,
        uid=info.uid,
        flags=info.flags,
        size=info.size,
        internaldate=info.internaldate,
        modseq=info.modseq,
        recent=recent,
        largest_seq=9,
        largest_uid=9,
        saved=frozenset({1}),
        now=NOW,
        load=lambda: msg,
    )
    return matches(key, ctx)


def _cached(raw: bytes, key: SearchKey, info: _Info, recent: bool = False) -> bool:
    fields = key_fields(key)
    assert fields is not None
    tables = RECIPE.derive({info.uid: header_block(raw)}, sorted(fields))
    box = _box(recent)
    by_filter = texts_filter(key, box, tables, [(1, info)]) == [0]
    assert texts_test(key, box, tables)(1, info) == by_filter
    return by_filter


def _agree(raw: bytes, key: SearchKey, info: _Info | None = None) -> None:
    info = info or _Info(1, frozenset(), len(raw), NOW, 1)
    assert _cached(raw, key, info) == _exact(raw, key, info), (key, raw[:300])


def _keys(needle: str) -> list[SearchKey]:
    keys: list[SearchKey] = [SearchHeader(f, needle) for f in FIELDS]
    keys += [
        SearchNot(SearchHeader("FROM", needle)),
        SearchOr(SearchHeader("FROM", needle), SearchHeader("SUBJECT", needle)),
        SearchAnd((SearchHeader("TO", needle), SearchFlag("\\Seen", False))),
        SearchOr(SearchHeader("CC", needle), SearchFlag("\\Seen", True)),
    ]
    return keys


def test_derive_gives_the_exact_paths_texts() -> None:
    messages = [*HANDMADE, *_bench_messages(60), *corpus(40, seed=5)]
    messages += [to_crlf(m) for m in messages[:20]]
    for raw in messages:
        block = header_block(raw)
        texts = derive({7: block}, FIELDS)
        root = ParsedMessage.parse(raw).root
        octets = Octets(block, header_only=True)
        for f in FIELDS:
            assert texts[f][7] == octets.field_text(f) == field_text(root, f), (f, raw[:200])


def test_handmade_messages_same_answers() -> None:
    for raw in HANDMADE:
        for needle in HAND_NEEDLES:
            for key in _keys(needle):
                _agree(raw, key)


def test_benchmark_and_corpus_messages_same_answers() -> None:
    needles = ["frank.frequent@example.com", "example", "Müller", "thé", "re:", "", "zzzz", "李雷", "user5"]
    for raw in [*_bench_messages(80), *corpus(40, seed=11)]:
        for needle in needles:
            for key in _keys(needle):
                _agree(raw, key)


@settings(max_examples=300, deadline=None)
@given(
    _message(),
    st.sampled_from([*NEEDLES, "", "quokka@example.org", "x@example.com", "second"]),
    st.booleans(),
)
def test_generated_messages_same_answers(raw: bytes, needle: str, crlf: bool) -> None:
    if crlf:
        raw = to_crlf(raw)
    for key in _keys(needle):
        _agree(raw, key)


def _header_keys() -> st.SearchStrategy[SearchKey]:
    leaf = st.builds(
        SearchHeader, st.sampled_from(FIELDS), st.sampled_from(["quokka", "", "a", "x@example.com"])
    )
    return st.recursive(
        st.one_of(leaf, _snapshot_keys()),
        lambda inner: st.one_of(
            st.builds(SearchNot, inner),
            st.builds(SearchOr, inner, inner),
            st.builds(lambda ks: SearchAnd(tuple(ks)), st.lists(inner, min_size=1, max_size=3)),
        ),
        max_leaves=6,
    )


@settings(max_examples=300, deadline=None)
@given(
    _message(),
    _header_keys(),
    st.frozensets(st.sampled_from(["\\Seen", "\\Flagged", "$Junk"])),
    st.integers(1, 9),
    st.booleans(),
)
def test_mixed_keys_same_answers(
    raw: bytes, key: SearchKey, flags: frozenset[str], uid: int, recent: bool
) -> None:
    info = _Info(uid, flags, len(raw), NOW, 3)
    assert key_fields(key) is not None
    assert _cached(raw, key, info, recent) == _exact(raw, key, info, recent), key


def test_key_fields() -> None:
    from_x, seen = SearchHeader("From", "x"), SearchFlag("\\Seen", True)
    assert key_fields(from_x) == {"FROM"}
    assert key_fields(SearchOr(from_x, SearchNot(SearchHeader("subject", "y")))) == {"FROM", "SUBJECT"}
    assert key_fields(SearchAnd((from_x, seen))) == {"FROM"}
    assert key_fields(seen) == frozenset()
    assert key_fields(SearchHeader("X-Spam", "y")) is None
    assert key_fields(SearchHeader("\u017fubject", "y")) is None  # upper() would make it SUBJECT: not ASCII
    assert key_fields(SearchAnd((from_x, SearchText("y")))) is None
    assert key_fields(SearchOr(from_x, SearchDate("since", NOW.date(), sent=True))) is None
    assert {"FROM", "TO", "CC", "BCC", "SUBJECT"} <= CACHED_FIELDS


def test_recipe_version_names_the_code() -> None:
    assert len(RECIPE.version) == 16 and RECIPE.version == type(RECIPE)().version
    blocks = {u: header_block(m) for u, m in enumerate(_bench_messages(20), 1)}
    assert RECIPE.derive(blocks, ["FROM"]) == derive(blocks, ["FROM"])
