"""The SEARCH fast paths give the answers of the exact path (RFC 9051 §6.4.4).

``search.misses`` proves a miss from the raw octets, and a ``SearchContext`` built on octets takes the
same shortcut; the exact path (a context whose loader returns a ``ParsedMessage``) decodes everything.
Differential tests run both over the benchmark generator's messages, the stdlib-built corpus and
generated MIME messages with every transfer encoding, charsets whose ASCII octets do not stand for
themselves (UTF-7, UTF-16, EBCDIC), encoded words and case-folding traps (long s, Kelvin sign), and
assert identical answers. The field scanner's regex path and the text normaliser are held to their
straightforward forms the same way.
"""

from __future__ import annotations

import base64
import quopri
import random
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.generate import _people, _Writer
from maildird.imap.commands import (
    SearchAll,
    SearchAnd,
    SearchDate,
    SearchFlag,
    SearchHeader,
    SearchKey,
    SearchModSeq,
    SearchNot,
    SearchOr,
    SearchSet,
    SearchSize,
    SearchText,
    SearchWithin,
    SequenceSet,
)
from maildird.message.decode import normalize
from maildird.message.fields import parse_content_type
from maildird.message.header_scan import _scan_fields, _scan_fields_slow
from maildird.message.parse import (
    ParsedMessage,
    header_block,
    quick_content_type,
    stored_field_values,
    to_crlf,
)
from maildird.message.search import (
    Octets,
    SearchContext,
    header_block_rejecter,
    matches,
    misses,
    needs_body,
)
from maildird.message.snapshot import Mailbox, conjuncts, content_only, snapshot_filter, snapshot_test
from tests.message.corpus import corpus

NOW = datetime(2024, 5, 10, 12, 0, tzinfo=UTC)


def _ctx(raw: bytes, *, exact: bool, header_only: bool = False) -> SearchContext:
    kwargs = {
        "seq": 1,
        "uid": 1,
        "flags": frozenset(),
        "size": len(raw),
        "internaldate": NOW,
        "largest_seq": 1,
        "largest_uid": 1,
    }
    if exact:
        msg = ParsedMessage.parse(raw)
        return SearchContext(load=lambda: msg, **kwargs)  # type: ignore[arg-type]
    octets = Octets(header_block(raw) if header_only else raw)
    return SearchContext(octets=octets, header_only=header_only, **kwargs)  # type: ignore[arg-type]


def _agree(raw: bytes, key: SearchKey) -> None:
    exact = matches(key, _ctx(raw, exact=True))
    header_only = not needs_body(key)
    octets = Octets(header_block(raw) if header_only else raw)
    if misses(key, octets):
        assert not exact, (key, raw[:300])
    fast = matches(key, _ctx(raw, exact=False, header_only=header_only))
    assert fast == exact, (key, raw[:300])
    if header_only:  # and with the whole file as octets
        assert matches(key, _ctx(raw, exact=False)) == exact, (key, raw[:300])


def _keys(needle: str) -> list[SearchKey]:
    return [
        SearchText(needle),
        SearchText(needle, body_only=True),
        SearchHeader("From", needle),
        SearchHeader("subject", needle),
        SearchHeader("X-Missing", needle),
        SearchNot(SearchText(needle)),
        SearchOr(SearchHeader("To", needle), SearchText(needle, body_only=True)),
        SearchAnd((SearchHeader("From", needle), SearchText(needle))),
    ]


# -- the benchmark generator's messages and the stdlib corpus ----------------------------------------

_BENCH_NEEDLES = (
    "quokkasaurus",
    "QuokkaSaurus",
    "frank.frequent@example.com",
    "example",
    "thé",
    "THE",
    "the meeting",
    "=?",
    "zzzz-not-there",
    "Müller",
    "charset",
    "",
)


def _bench_messages(count: int) -> list[bytes]:
    rng = random.Random(20240901)
    people = _people(rng)
    writer = _Writer(rng, people, people[0])
    return [writer.message("INBOX", i, 1_700_000_000 + i * 600) for i in range(count)]


def test_benchmark_messages_same_answers() -> None:
    needles = [*_BENCH_NEEDLES, _people(random.Random(20240901))[0].address]
    for raw in _bench_messages(150):
        for needle in needles:
            for key in _keys(needle):
                _agree(raw, key)
        _agree(raw.replace(b"\n", b"\r\n"), SearchText("quokkasaurus"))


_QP_TRAPS = [
    # A word split by a soft line break, spelled with escapes, or ending a part before its delimiter.
    b"Subject: a\nContent-Transfer-Encoding: quoted-printable\n\nthe quok=\nkasaurus is =71uokka=\nsaurus=\n",
    b"Subject: a\nContent-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/plain\n\n"
    b"plain quokka\n--b\nContent-Type: text/html\nContent-Transfer-Encoding: quoted-printable\n\n"
    b"<p>saurus quok=\nka</p>=\n--b--\n",
    b"Subject: a\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: Quoted-Printable\n\n"
    b"stra=C3=9Fe \xc5\xbf=C5=BFtar =E2=84=AAelvin  \n",
    b"Subject: a\nContent-Type: text/plain; charset=iso-8859-1\n"
    b"Content-Transfer-Encoding: quoted-printable\n\nstra=DFe quo=3Dkka   \nq=\r\nuokka\n",
    # Soft line breaks with transport padding (RFC 2045 §6.7 rule 3), in LF and CRLF lines.
    b"Subject: a\nContent-Transfer-Encoding: quoted-printable\n\n"
    b"the quok= \nkasaurus and quokka=\t \r\nsaurus\n",
]


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
            for needle in needles:
                for key in _keys(needle):
                    _agree(body, key)


def test_corpus_same_answers() -> None:
    needles = ["user5", "Köln", "naïve", "see attached", "report", "李雷", "x" * 20, "example.org", "plain"]
    for raw in corpus(60, seed=11):
        for needle in needles:
            for key in _keys(needle):
                _agree(raw, key)


# -- generated MIME messages ---------------------------------------------------------------------

WORDS = [
    "quokka",
    "Quokka",
    "straße",
    "STRASSE",
    "\u017ftar",
    "Kelvin",
    "\u212aelvin",
    "İstanbul",
    "naïve",
    "a",
    "b",
]
CHARSETS = [None, "us-ascii", "utf-8", '"UTF-8"', "iso-8859-1", "windows-1252", "utf-7", "utf-16", "cp500"]
CHARSETS += ["iso-2022-jp", "x-unknown", "utf-8 junk", "utf-8; charset=utf-7", "UTF-8 (comment)"]
ENCODINGS = [None, "7bit", "8bit", "binary", "quoted-printable", "Base64", "x-uuencode", "QUOTED-PRINTABLE"]
NEEDLES = [
    "quokka",
    "QUOKKA",
    "star",
    "kelvin",
    "strasse",
    "i̇stanbul",
    "naïve",
    "a b",
    "ka qu",
    "+",
    " ",
    "ss",
]


def _encode_text(text: str, charset: str | None, cte: str | None) -> bytes:
    label = None if charset is None else charset.strip('"').split(";")[0].split(" ")[0]
    try:
        data = text.encode(label or "utf-8")
    except (LookupError, UnicodeEncodeError):
        data = text.encode("utf-8")
    if cte is not None and cte.lower() == "base64":
        return base64.encodebytes(data)
    if cte is not None and cte.lower() == "quoted-printable":
        return quopri.encodestring(data)
    return data


@st.composite
def _part(draw: st.DrawFn, depth: int = 0) -> bytes:
    kind = draw(
        st.sampled_from(["text", "text", "html", "binary", "multipart", "message"][: 6 if depth < 2 else 4])
    )
    if kind == "multipart":
        boundary = f"b{depth}{draw(st.integers(0, 99))}"
        children = draw(st.lists(_part(depth + 1), min_size=1, max_size=3))
        body = b"".join(b"--" + boundary.encode() + b"\n" + c + b"\n" for c in children)
        sub = draw(st.sampled_from(["mixed", "alternative", "digest"]))
        return (
            f'Content-Type: multipart/{sub}; boundary="{boundary}"\n\n'.encode()
            + body
            + f"--{boundary}--\n".encode()
        )
    if kind == "message":
        return b"Content-Type: message/rfc822\n\n" + draw(_message(depth + 1))
    text = " ".join(draw(st.lists(st.sampled_from(WORDS), max_size=12)))
    charset = draw(st.sampled_from(CHARSETS))
    cte = draw(st.sampled_from(ENCODINGS))
    ctype = {"text": "text/plain", "html": "text/html", "binary": "application/octet-stream"}[kind]
    header = f"Content-Type: {ctype}" + ("" if charset is None else f"; charset={charset}") + "\n"
    if cte is not None:
        header += f"Content-Transfer-Encoding: {cte}\n"
    return header.encode() + b"\n" + _encode_text(text, charset, cte)


def _encoded_word(text: str, charset: str, kind: str) -> str:
    data = text.encode(charset, "replace")
    if kind == "B":
        return f"=?{charset}?B?{base64.b64encode(data).decode()}?="
    return f"=?{charset}?Q?{quopri.encodestring(data, header=True).decode()}?="


@st.composite
def _message(draw: st.DrawFn, depth: int = 0) -> bytes:
    name = " ".join(draw(st.lists(st.sampled_from(WORDS), max_size=3)))
    how = draw(st.sampled_from(["plain", "Q", "B", "raw8", "utf-7"]))
    if how in ("Q", "B"):
        name = _encoded_word(name, draw(st.sampled_from(["utf-8", "iso-8859-1", "utf-7"])), how)
    elif how == "utf-7":
        name = _encoded_word(name, "utf-7", "Q")
    elif how == "plain":
        name = name.encode("ascii", "replace").decode()
    subject = " ".join(draw(st.lists(st.sampled_from(WORDS), max_size=4)))
    if draw(st.booleans()):
        subject = _encoded_word(subject, "utf-8", draw(st.sampled_from("QB")))
    head = f"From: {name} <quokka@example.org>\nTo: x@example.com\nSubject: {subject}\n"
    if draw(st.booleans()):
        head += "Subject: second\n\tfolded quokka\n"
    return head.encode() + draw(_part(depth))


@settings(max_examples=400, deadline=None)
@given(_message(), st.sampled_from(NEEDLES), st.booleans())
def test_generated_messages_same_answers(raw: bytes, needle: str, crlf: bool) -> None:
    if crlf:
        raw = to_crlf(raw)
    for key in _keys(needle):
        _agree(raw, key)


# -- building blocks -------------------------------------------------------------------------------

_SPACE_RUN = re.compile(r"\s+")


_TEXT_ALPHABET = [" ", "\t", "\n", "\x1c", "\u2028", "\xa0", "a", "B", "ß", "\u017f"]


@settings(max_examples=500)
@given(st.text(alphabet=st.sampled_from(_TEXT_ALPHABET)))
def test_normalize_is_casefold_and_collapsed_whitespace(text: str) -> None:
    assert normalize(text) == _SPACE_RUN.sub(" ", text.casefold())


_HEADER_PIECES = [b"From", b"to", b":", b" ", b"\t", b"\r\n", b"\r", b"\n", b"x", b"a b", b"\xff", b"=?"]
_HEADER_PIECES += [b"Subject: hi", b"\r\n ", b"\r\n\t", b"::", b"\x00"]


@settings(max_examples=1000)
@given(st.lists(st.sampled_from(_HEADER_PIECES), max_size=30))
def test_field_scanner_regex_path_equals_line_walk(pieces: list[bytes]) -> None:
    data = to_crlf(b"".join(pieces))
    assert _scan_fields(data, 0, len(data)) == _scan_fields_slow(data, 0, len(data))
    message = data + b"\r\n\r\nbody"
    for name in ("From", "TO", "subject", "x", "a b", "Fro"):
        targeted, scanned = ParsedMessage(message).root, ParsedMessage(message).root
        expected = [f for f in scanned.fields if f.key == name.upper().encode()]
        assert targeted.fields_named(name) == expected
        assert targeted.header(name) == (expected[0] if expected else None)


def test_field_lookup_by_name_equals_full_scan() -> None:
    raws = _bench_messages(40) + corpus(20, seed=3)
    for raw in raws:
        for name in ("Content-Type", "from", "SUBJECT", "Received", "X-None", "a b", ""):
            fresh = ParsedMessage.parse(raw).root  # the targeted lookup
            scanned = ParsedMessage.parse(raw).root
            _ = scanned.fields  # the index over the full scan
            assert fresh.header(name) == scanned.header(name)
            assert fresh.fields_named(name) == [f for f in scanned.fields if f.key == name.upper().encode()]


# -- snapshot keys as compiled tests ---------------------------------------------------------------

_FLAGS = ["\\Seen", "\\Flagged", "\\Recent", "$Junk", "$junk", "\\Deleted"]


@dataclass(frozen=True, slots=True)
class _Info:
    uid: int
    flags: frozenset[str]
    size: int
    internaldate: datetime
    modseq: int


def _snapshot_keys() -> st.SearchStrategy[SearchKey]:
    day = st.dates(min_value=date(2024, 5, 8), max_value=date(2024, 5, 12))
    leaves = st.one_of(
        st.just(SearchAll()),
        st.builds(SearchFlag, st.sampled_from(_FLAGS), st.booleans()),
        st.builds(SearchSize, st.booleans(), st.integers(0, 300)),
        st.builds(SearchModSeq, st.integers(0, 12)),
        st.builds(SearchWithin, st.booleans(), st.integers(0, 200_000)),
        st.builds(SearchDate, st.sampled_from(["before", "on", "since"]), day),
        st.builds(
            SearchSet,
            st.sampled_from([SequenceSet(((1, 3),)), SequenceSet(((2, None),)), SequenceSet((), saved=True)]),
            st.booleans(),
        ),
    )
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.builds(SearchNot, inner),
            st.builds(SearchOr, inner, inner),
            st.builds(lambda ks: SearchAnd(tuple(ks)), st.lists(inner, min_size=1, max_size=3)),
        ),
        max_leaves=6,
    )


_INFOS = st.builds(
    _Info,
    st.integers(1, 9),
    st.frozensets(st.sampled_from([f for f in _FLAGS if f != "\\Recent"] + ["$JUNK"])),
    st.integers(0, 300),
    st.datetimes(
        min_value=datetime(2024, 5, 8),
        max_value=datetime(2024, 5, 12),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=-8)), timezone(timedelta(hours=9))]),
    ),
    st.integers(1, 12),
)


@settings(max_examples=1500)
@given(_snapshot_keys(), _INFOS, st.integers(1, 9), st.booleans(), st.frozensets(st.integers(1, 9)))
def test_snapshot_test_equals_matches(
    key: SearchKey, info: _Info, seq: int, recent: bool, saved: frozenset[int]
) -> None:
    box = Mailbox(largest_seq=9, largest_uid=9, saved=saved, now=NOW, recent=lambda uid: recent)
    ctx = SearchContext(
        seq=seq,
        uid=info.uid,
        flags=info.flags,
        size=info.size,
        internaldate=info.internaldate,
        modseq=info.modseq,
        recent=recent,
        largest_seq=9,
        largest_uid=9,
        saved=saved,
        now=NOW,
    )
    assert snapshot_test(key, box)(seq, info) == matches(key, ctx)
    assert content_only(key) is False


def test_conjuncts_flatten_nested_ands_and_content_only() -> None:
    a, b, c = SearchText("x"), SearchFlag("\\Seen", False), SearchHeader("From", "y")
    assert conjuncts(SearchAnd((a, SearchAnd((b, SearchAnd((c,))))))) == [a, b, c]
    assert conjuncts(SearchOr(a, b)) == [SearchOr(a, b)]
    assert content_only(SearchOr(a, SearchNot(c)))
    assert not content_only(SearchOr(a, b))


_CT_PIECES = [
    b"text",
    b"/",
    b"plain",
    b";",
    b" ",
    b"\t",
    b"charset",
    b"=",
    b"utf-8",
    b'"',
    b"a b",
    b"*0",
    b"(",
]
_CT_PIECES += [b")", b"\\", b"\xc3\xa9", b"boundary", b'"=_x;y=z"', b"Multi", b"part", b",", b"@", b"?", b"*"]


@settings(max_examples=3000)
@given(st.lists(st.sampled_from(_CT_PIECES), max_size=14))
def test_quick_content_type_equals_tokenizer(pieces: list[bytes]) -> None:
    value = b"".join(pieces)
    quick = quick_content_type(value)
    if quick is not None:
        assert quick == parse_content_type(value)


def test_quick_content_type_answers_the_usual_shapes() -> None:
    for value in (
        b"text/plain; charset=utf-8; format=flowed",
        b'multipart/alternative; boundary="=_bench_0123"',
        b' Text/HTML ; Charset = "UTF-8" ;',
        b'text/plain; a="b;c=d"; e=f',
    ):
        assert quick_content_type(value) == parse_content_type(value) is not None
    assert quick_content_type(b"text/plain (comment)") is None
    assert quick_content_type(b"text/plain; name*0=a") is None


@settings(max_examples=300)
@given(st.lists(_snapshot_keys(), max_size=4), st.lists(_INFOS, max_size=8), st.frozensets(st.integers(1, 9)))
def test_snapshot_filter_equals_matches(
    keys: list[SearchKey], infos: list[_Info], recent: frozenset[int]
) -> None:
    box = Mailbox(
        largest_seq=len(infos), largest_uid=9, saved=frozenset({2}), now=NOW, recent=recent.__contains__
    )
    expected = [
        (seq, info)
        for seq, info in enumerate(infos, 1)
        if all(
            matches(
                key,
                SearchContext(
                    seq=seq,
                    uid=info.uid,
                    flags=info.flags,
                    size=info.size,
                    internaldate=info.internaldate,
                    modseq=info.modseq,
                    recent=info.uid in recent,
                    largest_seq=len(infos),
                    largest_uid=9,
                    saved=frozenset({2}),
                    now=NOW,
                ),
            )
            for key in keys
        )
    ]
    assert snapshot_filter(keys, box, infos) == expected


@settings(max_examples=400, deadline=None)
@given(_message(), st.sampled_from([*NEEDLES, "quokka@example.org", "x@example.com"]), st.booleans())
def test_header_block_rejecter_never_rejects_a_match(raw: bytes, needle: str, crlf: bool) -> None:
    if crlf:
        raw = to_crlf(raw)
    block = header_block(raw)
    for key in _keys(needle):
        reject = header_block_rejecter(key)
        if reject is not None and reject(Octets(block, header_only=True)):
            assert not matches(key, _ctx(raw, exact=True)), key


def test_stored_field_values_equal_parsed_ones() -> None:
    for raw in _bench_messages(60) + corpus(30, seed=9):
        block = header_block(raw.replace(b"\r\n", b"\n"))
        root = ParsedMessage.parse_header(block).root
        for name in ("From", "subject", "CC", "Received", "X-None", "a b"):
            assert stored_field_values(block, block.lower(), name) == [
                f.unfolded() for f in root.fields_named(name)
            ]
    assert stored_field_values(b"From: a\r\n\r\n", b"from: a\r\n\r\n", "From") is None
