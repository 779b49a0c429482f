"""responses.serialize: the contract's examples, string safety, and round trips through a tiny parser."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maildird.imap import errors
from maildird.imap.responses import (
    MAX_QUOTED,
    Atom,
    Code,
    Continuation,
    Literal,
    MailboxName,
    Raw,
    Status,
    Tagged,
    Untagged,
    Value,
    serialize,
    serialize_many,
    serialize_value,
)

# --------------------------------------------------------------------------------------------------
# A small, strict, test-only parser for response data (RFC 9051 §9): NIL, numbers, atoms, quoted
# strings, literals and parenthesised lists. Strings come back as bytes, atoms as Atom.

_ATOM = re.compile(rb"[^\x00-\x20\x7f()*%\"\\{\]]+")


class Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def value(self) -> object:
        d, p = self.data, self.pos
        c = d[p : p + 1]
        if c == b"(":
            self.pos += 1
            items: list[object] = []
            while self.data[self.pos : self.pos + 1] != b")":
                if items:
                    assert self.data[self.pos : self.pos + 1] == b" ", self.data[self.pos :]
                    self.pos += 1
                items.append(self.value())
            self.pos += 1
            return tuple(items)
        if c == b'"':
            out = bytearray()
            p += 1
            while True:
                ch = d[p : p + 1]
                assert ch not in (b"", b"\r", b"\n"), "broken quoted string"
                if ch == b"\\":
                    nxt = d[p + 1 : p + 2]
                    assert nxt in (b"\\", b'"'), "bad escape"
                    out += nxt
                    p += 2
                elif ch == b'"':
                    self.pos = p + 1
                    return bytes(out)
                else:
                    out += ch
                    p += 1
        if c == b"{" or d[p : p + 2] == b"~{":
            m = re.compile(rb"~?\{(\d+)\}\r\n").match(d, p)
            assert m, d[p:]
            n = int(m.group(1))
            self.pos = m.end() + n
            assert len(d) >= self.pos
            return d[m.end() : self.pos]
        m = _ATOM.match(d, p)
        assert m, d[p:]
        self.pos = m.end()
        word = m.group()
        if word == b"NIL":
            return None
        if word.isdigit():
            return int(word)
        return Atom(word.decode())


def parse_untagged(line: bytes) -> tuple[object, ...]:
    assert line.startswith(b"* ") and line.endswith(b"\r\n")
    r = Reader(line[:-2])
    r.pos = 2
    items = []
    while r.pos < len(r.data):
        items.append(r.value())
        if r.pos < len(r.data):
            assert r.data[r.pos : r.pos + 1] == b" "
            r.pos += 1
    return tuple(items)


# --------------------------------------------------------------------------------------------------

CONTRACT_EXAMPLES: list[tuple[object, bytes]] = [
    (Untagged((3, Atom("EXISTS"))), b"* 3 EXISTS\r\n"),
    (
        Untagged((Atom("LIST"), (Atom("\\HasNoChildren"),), ".", MailboxName("Sent"))),
        b'* LIST (\\HasNoChildren) "." Sent\r\n',
    ),
    (
        Untagged((12, Atom("FETCH"), (Atom("UID"), 5, Raw(b"BODY[]"), Literal(b"...")))),
        b"* 12 FETCH (UID 5 BODY[] {3}\r\n...)\r\n",
    ),
    (
        Tagged("a1", "OK", "done", Code("APPENDUID", (38505, Atom("3955")))),
        b"a1 OK [APPENDUID 38505 3955] done\r\n",
    ),
    (Status("OK", "Still here"), b"* OK Still here\r\n"),
    (
        Status("PREAUTH", "hi", Code("CAPABILITY", (Atom("IMAP4rev1"),))),
        b"* PREAUTH [CAPABILITY IMAP4rev1] hi\r\n",
    ),
    (Status("BYE", "bye"), b"* BYE bye\r\n"),
    (Tagged("x", "NO", "gone", Code("NONEXISTENT")), b"x NO [NONEXISTENT] gone\r\n"),
    (Tagged("x", "BAD", "", Code("PARSE")), b"x BAD [PARSE]\r\n"),
    (Continuation("Ready"), b"+ Ready\r\n"),
    (Continuation(), b"+ \r\n"),
    (Continuation(data=b"\x00user\x00pass"), b"+ AHVzZXIAcGFzcw==\r\n"),
    (Continuation(data=b""), b"+ \r\n"),
    (Untagged((Atom("FLAGS"), ())), b"* FLAGS ()\r\n"),
    (Untagged((1, Atom("FETCH"), [Atom("X"), None])), b"* 1 FETCH (X NIL)\r\n"),
    (Untagged((Atom("X"), Literal(b"\x00\xff", binary=True))), b"* X ~{2}\r\n\x00\xff\r\n"),
    (
        Status("OK", "x", Code("PERMANENTFLAGS", ((Atom("\\Seen"), Atom("\\*")),))),
        b"* OK [PERMANENTFLAGS (\\Seen \\*)] x\r\n",
    ),
]


@pytest.mark.parametrize(("response", "wire"), CONTRACT_EXAMPLES)
def test_examples(response: object, wire: bytes) -> None:
    assert serialize(response) == wire  # type: ignore[arg-type]


STRINGS: list[tuple[Value, bytes]] = [
    ("", b'""'),
    ("plain", b'"plain"'),
    ("NIL", b'"NIL"'),
    # peers.md §1.7 item 2: the seed sent a"b unescaped and desynchronised the client.
    ('a"b', b'"a\\"b"'),
    ("a\\b", b'"a\\\\b"'),
    ('\\"', b'"\\\\\\""'),
    ("line\r\nbreak", b"{11}\r\nline\r\nbreak"),
    ("nul\0", b"{4}\r\nnul\x80"),  # no string carries NUL (RFC 9051 §9 CHAR8): 0x80, as Dovecot
    ("caf\u00e9", b"{5}\r\ncaf\xc3\xa9"),
    (b"raw bytes", b'"raw bytes"'),
    (b"\xff8bit", b"{5}\r\n\xff8bit"),
    ("x" * MAX_QUOTED, b'"' + b"x" * MAX_QUOTED + b'"'),
    ("x" * (MAX_QUOTED + 1), b"{%d}\r\n" % (MAX_QUOTED + 1) + b"x" * (MAX_QUOTED + 1)),
    ("tab\there", b'"tab\there"'),
    (None, b"NIL"),
    (0, b"0"),
    (4294967295, b"4294967295"),
    ((), b"()"),
    (("a", (1, None), []), b'("a" (1 NIL) ())'),
]


@pytest.mark.parametrize(("value", "wire"), STRINGS)
def test_values(value: Value, wire: bytes) -> None:
    assert serialize_value(value) == wire


def test_utf8_mode_quotes_unicode() -> None:
    assert serialize_value("caf\u00e9", utf8=True) == b'"caf\xc3\xa9"'
    assert serialize_value(MailboxName("Entw\u00fcrfe"), utf8=True) == b'"Entw\xc3\xbcrfe"'
    # bytes stay 8-bit-literal even then: they may not be UTF-8
    assert serialize_value(b"\xff", utf8=True) == b"{1}\r\n\xff"


MAILBOXES: list[tuple[str, bytes]] = [
    ("INBOX", b"INBOX"),
    ("Sent", b"Sent"),
    ("Entw\u00fcrfe", b"Entw&APw-rfe"),
    ("a&b", b"a&-b"),
    ("with space", b'"with space"'),
    ("per%cent", b'"per%cent"'),
    ("star*", b'"star*"'),
    ('qu"ote', b'"qu\\"ote"'),
    ("back\\slash", b'"back\\\\slash"'),
    ("nil", b'"nil"'),
    ("2024", b'"2024"'),
    ("", b'""'),
    ("x]", b'"x]"'),
    ("~", b"~"),
    ("~{1}", b'"~{1}"'),
    ("Archive/2024.old", b"Archive/2024.old"),
]


@pytest.mark.parametrize(("name", "wire"), MAILBOXES)
def test_mailbox_names(name: str, wire: bytes) -> None:
    assert serialize_value(MailboxName(name)) == wire


def test_text_cannot_inject_lines() -> None:
    wire = serialize(Tagged("a1", "NO", "bad\r\n* 1 EXISTS\r\nx"))
    assert wire.count(b"\r\n") == 1
    assert wire == b"a1 NO bad  * 1 EXISTS  x\r\n"
    assert serialize(Status("OK", "caf\u00e9")) == b"* OK caf?\r\n"


def test_atoms_reject_line_breaks() -> None:
    with pytest.raises(ValueError):
        serialize_value(Atom("a\r\nb"))
    with pytest.raises(ValueError):
        serialize_value(Atom(""))


def test_unknown_types_raise() -> None:
    with pytest.raises(TypeError):
        serialize_value(True)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        serialize_value(1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="bool"):
        serialize_value((1, (2, False)))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        serialize("x")  # type: ignore[arg-type]


def test_serialize_many_is_concatenation() -> None:
    responses = [r for r, _ in CONTRACT_EXAMPLES]
    assert serialize_many(responses) == b"".join(w for _, w in CONTRACT_EXAMPLES)  # type: ignore[arg-type]
    assert serialize_many([]) == b""


def test_errors_to_response() -> None:
    assert errors.No("gone", errors.NONEXISTENT).to_response("t") == Tagged(
        "t", "NO", "gone", Code("NONEXISTENT")
    )
    assert errors.Bad("what").to_response("t") == Tagged("t", "BAD", "what")
    assert errors.Bye("later", Code(errors.UNAVAILABLE)).to_response("t") == Status(
        "BYE", "later", Code("UNAVAILABLE")
    )
    assert serialize(errors.No("x", errors.UNKNOWN_CTE).to_response("a")) == b"a NO [UNKNOWN-CTE] x\r\n"
    assert isinstance(errors.No("x"), errors.ImapError)


# --------------------------------------------------------------------------------------------------
# Round trips: whatever goes out parses back to the same data.

_any_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40) | st.text(
    alphabet='\\"\r\n\0 ab', max_size=1100
)
_bytes = st.binary(max_size=40) | st.binary(max_size=1100)


@given(st.lists(_any_text | _bytes, max_size=5), st.booleans())
def test_string_round_trip(items: list[str | bytes], utf8: bool) -> None:
    wire = serialize(Untagged((Atom("X"), tuple(items))), utf8=utf8)
    back = parse_untagged(wire)
    want = tuple((i.encode("utf-8") if isinstance(i, str) else i).replace(b"\0", b"\x80") for i in items)
    assert back == (Atom("X"), want)


_values: st.SearchStrategy[Value] = st.recursive(
    st.none() | st.integers(min_value=0, max_value=2**63) | _any_text | _bytes,
    lambda inner: st.lists(inner, max_size=4).map(tuple),
    max_leaves=20,
)


def _expected(v: Value) -> object:
    """What comes back: strings as octets, NUL sent as 0x80 (RFC 9051 §9: no string carries NUL)."""
    if isinstance(v, bytes):
        return v.replace(b"\0", b"\x80")
    if isinstance(v, str):
        return v.encode("utf-8").replace(b"\0", b"\x80")
    if isinstance(v, tuple):
        return tuple(_expected(x) for x in v)
    return v


@given(_values)
def test_nested_round_trip(value: Value) -> None:
    assert parse_untagged(serialize(Untagged((value,)))) == (_expected(value),)


@given(
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=30),
    st.booleans(),
)
def test_mailbox_round_trip(name: str, utf8: bool) -> None:
    from maildird.imap import modutf7

    back = parse_untagged(serialize(Untagged((MailboxName(name),)), utf8=utf8))
    assert len(back) == 1
    got = back[0]
    if name == "INBOX" or (isinstance(got, Atom) and got.value != "NIL"):
        assert isinstance(got, Atom)
        wire = got.value.encode("utf-8")
    else:
        assert isinstance(got, bytes)
        wire = got
    decoded = wire.decode("utf-8") if utf8 else modutf7.decode(wire.decode("ascii"))
    assert decoded == name
