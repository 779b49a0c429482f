"""Malformed commands: every error is a ParseError that carries the tag (when one was read), the
right response code, and a message naming the offending token; nothing else ever escapes."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maildird.imap.grammar import ParseError, parse_command
from maildird.imap.raw import RawCommand
from tests.imap.grammar_util import error, wire
from tests.imap.test_grammar import FORMS, RFC_EXAMPLES
from tests.imap.test_grammar_fetch import FETCHES
from tests.imap.test_grammar_search import SEARCHES

DEEP = 10_000

# (wire bytes, text the message must contain, code)
ERRORS: list[tuple[bytes, str, str]] = [
    # Commands and tags.
    (b"t FROB", "Unknown command FROB", "PARSE"),
    (b"t xpig-latin", "Unknown command xpig-latin", "PARSE"),
    (b"t UID FROB 1", "Unknown UID command FROB", "CLIENTBUG"),
    (b"t UID", "Expected a space", "PARSE"),
    (b"t UID NOOP", "Unknown UID command NOOP", "CLIENTBUG"),
    (b"t ", "Expected a command name, got end of line", "PARSE"),
    (b"t NO\x00OP", "Unknown command NO", "PARSE"),
    # Extra trailing arguments.
    (b"t NOOP x", "Unexpected extra arguments: ' x'", "PARSE"),
    (b"t LOGOUT ", "Unexpected extra arguments: ' '", "PARSE"),
    (b"t CAPABILITY (", "Unexpected extra arguments", "PARSE"),
    (b"t SELECT INBOX x", "Expected '(' to open the SELECT parameters, got 'x'", "PARSE"),
    (b"t LOGIN a b c", "Unexpected extra arguments: ' c'", "PARSE"),
    (b"t STATUS a (MESSAGES) x", "Unexpected extra arguments", "PARSE"),
    (b"t COPY 1 a b", "Unexpected extra arguments: ' b'", "PARSE"),
    (b"t NOOP {3}\r\nabc", "Unexpected extra arguments: ' {3}'", "PARSE"),
    # Quoted strings: unbalanced, bad escapes, NUL, CR/LF.
    (b't LOGIN "joe pass', "Unterminated quoted string", "PARSE"),
    (b't LOGIN "j\\oe" x', "Bad escape '\\o'", "PARSE"),
    (b't LOGIN "joe\\', "Bad escape", "PARSE"),
    (b't LOGIN "a\x00b" x', "NUL octet in quoted string", "PARSE"),
    (b't LOGIN "a\nb" x', "Unterminated quoted string", "PARSE"),
    # 8-bit and specials in atoms.
    (b"t LOGIN j\xf6e x", "Expected a space, got '\\xf6e x'", "PARSE"),
    (b"t LOGIN \xf6 x", "Expected a user name, got '\\xf6 x'", "PARSE"),
    (b"t SELECT a%b", "Expected a space, got '%b'", "PARSE"),
    (b"t SELECT (x)", "Expected a mailbox name, got '(x)'", "PARSE"),
    (b"t ENABLE", "Expected a space", "PARSE"),
    (b"t ENABLE \xff", "capability name", "PARSE"),
    # Literals.
    (b"t LOGIN {3} x", "A literal announcement must end the line: '{3} x'", "PARSE"),
    (b"t LOGIN ~{3}\r\nabc x", "literal8", "PARSE"),
    (b"t APPEND box {-1}", "A literal announcement must end the line: '{-1}'", "PARSE"),
    (b"t APPEND box", "Expected a space", "PARSE"),
    (b"t APPEND box (\\Seen)", "Expected a space", "PARSE"),
    (b't APPEND box "x" {1}\r\nx', "date-time", "PARSE"),
    (b"t APPEND box NIL {1}\r\nx", "Expected a literal, got 'NIL {1}'", "PARSE"),
    (b"t APPEND box {1}\r\nx x", "Expected a literal, got 'x'", "PARSE"),
    # Dates and date-times.
    (b't APPEND box "31-Feb-2000 00:00:00 +0000" {1}\r\nx', "Invalid date-time '\"31-Feb-2000", "PARSE"),
    (b't APPEND box "1-Feb-2000 25:00:00 +0000" {1}\r\nx', "Invalid date-time", "PARSE"),
    (b't APPEND box "1-Feb-2000 10:00:00 +2400" {1}\r\nx', "Invalid date-time", "PARSE"),
    (b't APPEND box "1-Feb-2000 10:00:00 +0060" {1}\r\nx', "Invalid date-time", "PARSE"),
    (b't APPEND box "1-Feb-2000 10:00:00" {1}\r\nx', "date-time", "PARSE"),
    (b't APPEND box "1-Fex-2000 10:00:00 +0000" {1}\r\nx', "Invalid date-time", "PARSE"),
    (b"t SEARCH SINCE 0-Jan-2000", "Invalid date '0-Jan-2000'", "PARSE"),
    (b"t SEARCH SINCE 1-Jan-0000", "Invalid date '1-Jan-0000'", "PARSE"),
    # Zero where nz-number is required; numbers out of range.
    (b"t FETCH 0 FLAGS", "Invalid sequence set '0'", "PARSE"),
    (b"t UID EXPUNGE 0", "Invalid sequence set '0'", "PARSE"),
    (b"t SELECT x (QRESYNC (0 1))", "UIDVALIDITY in 1..4294967295, got '0'", "PARSE"),
    (b"t SELECT x (QRESYNC (1 0))", "mod-sequence", "PARSE"),
    (b"t SELECT x (QRESYNC (1 1 1:*))", "'*' is not allowed", "PARSE"),
    (b"t SELECT x (QRESYNC (1 1 $))", "'$' is not allowed", "PARSE"),
    (b"t SELECT x (QRESYNC (1 1 1:2 3))", "Expected '(' before the sequence match data", "PARSE"),
    (b"t FETCH 1 BODY[1.0]", "part number in 1..4294967295, got '0'", "PARSE"),
    (b"t FETCH 4294967296 FLAGS", "Invalid sequence set '4294967296'", "PARSE"),
    (b"t SEARCH LARGER " + b"9" * 5000, "Expected a size in 0..", "PARSE"),
    (b"t STORE 1 (UNCHANGEDSINCE 9223372036854775808) FLAGS x", "mod-sequence", "PARSE"),
    # Per-command argument errors.
    (b"t SELECT x (BOGUS)", "Unknown or repeated SELECT parameter BOGUS", "PARSE"),
    (b"t SELECT x (CONDSTORE CONDSTORE)", "repeated SELECT parameter CONDSTORE", "PARSE"),
    (b"t SELECT x ()", "Expected a SELECT parameter", "PARSE"),
    (b"t CREATE x (BOGUS (1))", "Unknown CREATE parameter BOGUS", "PARSE"),
    (b"t CREATE x (USE (Sent))", "special-use attribute", "PARSE"),
    (b"t STATUS x ()", "The STATUS item list may not be empty", "PARSE"),
    (b"t STATUS x (MESSAGES BOGUS)", "Unknown STATUS item BOGUS", "PARSE"),
    (b"t STATUS x MESSAGES", "Expected '(' to open the STATUS item list", "PARSE"),
    (b't LIST (BOGUS) "" *', "Unknown LIST selection option BOGUS", "PARSE"),
    (b't LIST (RECURSIVEMATCH) "" *', "RECURSIVEMATCH needs another selection option", "CLIENTBUG"),
    (b't LIST "" * RETURN (BOGUS)', "Unknown LIST return option BOGUS", "PARSE"),
    (b't LIST "" * BOGUS (CHILDREN)', "Expected RETURN", "PARSE"),
    (b't LIST "" ()', "Expected a mailbox pattern, got ')'", "PARSE"),
    (b't LSUB (SUBSCRIBED) "" *', "Expected a reference name", "PARSE"),
    (b't LIST ""', "Expected a space", "PARSE"),
    (b"t AUTHENTICATE PLAIN ====", "Invalid base64 initial response '===='", "PARSE"),
    (b"t AUTHENTICATE PLAIN abc", "Invalid base64 initial response 'abc'", "PARSE"),
    (b"t AUTHENTICATE PLAIN YQ==YQ==", "Invalid base64", "PARSE"),
    (b"t AUTHENTICATE", "Expected a space", "PARSE"),
    (b't ID ("a")', "Expected a space", "PARSE"),
    (b"t ID (a b)", "Expected an ID field name (quoted or literal), got 'a b)'", "PARSE"),
    (b"t ID", "Expected a space", "PARSE"),
    (b"t COMPRESS", "Expected a space", "PARSE"),
    # Mailbox names.
    (b"t SELECT &Jjo", "Mailbox name '&Jjo' is not valid modified UTF-7", "PARSE"),
    (b"t SELECT &AGE-", "is not valid modified UTF-7", "PARSE"),
    (b"t SELECT {3}\r\na\nb", "Mailbox name 'a\\x0ab' is not valid modified UTF-7", "PARSE"),
    (b"t SELECT x&AAE-y", "contains control characters", "PARSE"),
    (b't DELETE "\xc3\xa9"', "is not valid modified UTF-7", "PARSE"),
    # Deep nesting: ParseError, never RecursionError.
    (b"t FETCH 1 " + b"(" * DEEP, "Expected a FETCH item", "PARSE"),
    (b"t STORE 1 FLAGS " + b"(" * DEEP, "Expected a flag", "PARSE"),
    (b"t SELECT x " + b"(" * DEEP, "Expected a SELECT parameter", "PARSE"),
    (b"t LIST " + b"(" * DEEP, "selection option", "PARSE"),
    (b"t ID " + b"(" * DEEP, "ID field name", "PARSE"),
    (b"t SEARCH " + b"(" * DEEP + b"ALL" + b")" * DEEP, "nested deeper than", "PARSE"),
    (b"t UID SEARCH " + b"NOT (" * DEEP, "nested deeper than", "PARSE"),
]


@pytest.mark.parametrize(
    ("data", "message", "code"), ERRORS, ids=[d[:50].decode("latin-1") for d, _, _ in ERRORS]
)
def test_errors(data: bytes, message: str, code: str) -> None:
    exc = error(data)
    assert message in exc.message
    assert (exc.tag, exc.code) == ("t", code)
    # Error texts go into a response line: printable ASCII only, bounded.
    assert exc.message.isascii() and exc.message.isprintable()
    assert len(exc.message) < 200
    assert str(exc) == exc.message


@pytest.mark.parametrize("line", [b"", b" NOOP", b"+x NOOP", b"a", b"\xff NOOP", b"a\x00 NOOP", b"(a) NOOP"])
def test_no_tag(line: bytes) -> None:
    exc = error(line)
    assert exc.tag is None
    assert exc.code == "PARSE"


def test_literal_bookkeeping_errors() -> None:
    # The framer promises one literal per announcement; the grammar still refuses inconsistent input.
    exc = error(b"t LOGIN {3}")
    assert exc.message == "Literal announced but no literal data followed"
    with pytest.raises(ParseError, match="does not match its announcement"):
        parse_command(RawCommand((b"t LOGIN {3}", b" x"), (b"ab",), (False,)))
    with pytest.raises(ParseError, match="Unexpected extra arguments"):
        parse_command(RawCommand((b"t LOGIN a b {3}", b""), (b"abc",), (False,)))


# -- property: arbitrary input only ever raises ParseError -----------------------------------------

VALID = [raw for raw, _ in RFC_EXAMPLES + FORMS + SEARCHES + FETCHES]


def _parse_or_parse_error(raw: RawCommand, utf8: bool) -> None:
    try:
        parse_command(raw, utf8=utf8)
    except ParseError as exc:
        assert isinstance(exc.message, str)
        assert exc.code in ("PARSE", "CLIENTBUG")
        assert exc.message.isprintable()


@st.composite
def raw_commands(draw: st.DrawFn) -> RawCommand:
    count = draw(st.integers(0, 3))
    lines = draw(st.lists(st.binary(max_size=80), min_size=count + 1, max_size=count + 1))
    literals = draw(st.lists(st.binary(max_size=20), min_size=count, max_size=count))
    binary = draw(st.lists(st.booleans(), min_size=count, max_size=count))
    return RawCommand(tuple(lines), tuple(literals), tuple(binary))


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(raw_commands(), st.booleans())
def test_random_bytes_raise_only_parse_error(raw: RawCommand, utf8: bool) -> None:
    _parse_or_parse_error(raw, utf8)


_ALPHABET = b' ()[]<>{}"\\*%$:,.+-~0123456789AZaz\x00\x80\xff\r\n'


@st.composite
def mutated(draw: st.DrawFn) -> RawCommand:
    raw = wire(draw(st.sampled_from(VALID)))
    lines = list(raw.lines)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        line = lines[i]
        pos = draw(st.integers(0, len(line)))
        action = draw(st.sampled_from(["insert", "delete", "replace", "truncate", "duplicate"]))
        if action == "insert":
            piece = draw(st.binary(max_size=3) | st.sampled_from([bytes([b]) for b in _ALPHABET]))
            line = line[:pos] + piece + line[pos:]
        elif action == "delete":
            line = line[:pos] + line[pos + draw(st.integers(1, 5)) :]
        elif action == "replace" and pos < len(line):
            line = line[:pos] + bytes([draw(st.sampled_from(list(_ALPHABET)))]) + line[pos + 1 :]
        elif action == "truncate":
            line = line[:pos]
        else:
            line = line[:pos] + line[pos:] * 2
        lines[i] = line
    return RawCommand(tuple(lines), raw.literals, raw.binary)


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(), st.booleans())
def test_mutated_commands_raise_only_parse_error(raw: RawCommand, utf8: bool) -> None:
    _parse_or_parse_error(raw, utf8)


def test_all_valid_examples_parse_in_utf8_mode_too() -> None:
    # ASCII mailbox names mean the same in both modes; only mUTF-7 "&" sequences differ.
    for data in VALID:
        if b"&" not in data:
            assert parse_command(wire(data), utf8=True) == parse_command(wire(data))
