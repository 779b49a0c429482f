"""Framer: every literal form, every limit, LITERAL- swallowing, split invariance, bounded memory."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from maildird.imap.frames import (
    EndOfInput,
    Fragment,
    FramedCommand,
    FramedLine,
    Limits,
    LiteralAnnounced,
    Refusal,
)
from maildird.imap.framing import Framer
from maildird.imap.raw import RawCommand

L = Limits(max_line=64, max_literal=16, max_command=128, max_append=64, max_nonsync_literal=8)
MINUS = Limits(
    max_line=64, max_literal=16, max_command=128, max_append=64, max_nonsync_literal=8, literal_minus=True
)


def frame(
    chunks: list[bytes],
    limits: Limits = L,
    accept: Callable[[LiteralAnnounced], bool] = lambda _: True,
    line_mode: bool = False,
) -> list[Fragment]:
    """Feed ``chunks`` then EOF; decide literals with ``accept``; check memory after every step."""
    f = Framer(limits)
    f.line_mode = line_mode
    out: list[Fragment] = []
    bound = limits.max_line + 1 + limits.max_command + limits.max_append
    for chunk in [*chunks, b""]:
        f.feed(chunk)
        while True:
            frag = f.next()
            if frag is None:
                assert f.held <= bound
                assert f.unprocessed <= limits.max_line + 1
                break
            out.append(frag)
            if isinstance(frag, EndOfInput):
                break
            if isinstance(frag, LiteralAnnounced):
                # The decision comes before a single literal octet is buffered in the command.
                if accept(frag):
                    f.accept_literal()
                else:
                    f.reject_literal()
        if out and isinstance(out[-1], EndOfInput):
            break
    return out


def cmd(
    *lines: bytes, literals: tuple[bytes, ...] = (), binary: tuple[bool, ...] | None = None
) -> RawCommand:
    return RawCommand(lines, literals, binary if binary is not None else (False,) * len(literals))


def commands(frags: list[Fragment]) -> list[RawCommand]:
    return [f.raw for f in frags if isinstance(f, FramedCommand)]


# -- literal forms -----------------------------------------------------------------------------------

FORMS = [
    # (input, expected raw commands, expected announcements (size, binary))
    (b"a NOOP\r\n", [cmd(b"a NOOP")], []),
    (b"a NOOP\n", [cmd(b"a NOOP")], []),  # bare LF, as Dovecot accepts
    (b"a LOGIN {3}\r\nbob pw\r\n", [cmd(b"a LOGIN {3}", b" pw", literals=(b"bob",))], [(3, False)]),
    (b"a LOGIN {3+}\r\nbob pw\r\n", [cmd(b"a LOGIN {3+}", b" pw", literals=(b"bob",))], []),
    (
        b"a APPEND x ~{3}\r\n\x00\xff\r\n",
        [cmd(b"a APPEND x ~{3}", b"", literals=(b"\x00\xff\r",), binary=(True,))],
        [(3, True)],
    ),
    (
        b"a APPEND x ~{3+}\r\n\x00\r\n\r\n",
        [cmd(b"a APPEND x ~{3+}", b"", literals=(b"\x00\r\n",), binary=(True,))],
        [],
    ),
    (
        b"a LOGIN {0}\r\n {0+}\r\n\r\n",
        [cmd(b"a LOGIN {0}", b" {0+}", b"", literals=(b"", b""))],
        [(0, False)],
    ),
    (
        b"a LOGIN {3}\r\nbob {2}\r\npw\r\n",
        [cmd(b"a LOGIN {3}", b" {2}", b"", literals=(b"bob", b"pw"))],
        [(3, False), (2, False)],
    ),
    # A literal holding CRLF and a command line is data, never a command.
    (
        b"a X {12+}\r\nx LOGOUT\r\n\r\n\r\nb NOOP\r\n",
        [cmd(b"a X {12+}", b"", literals=(b"x LOGOUT\r\n\r\n",)), cmd(b"b NOOP")],
        [],
    ),
    # "{" not at the end, or a malformed announcement, is just line text for the grammar.
    (b"a X {3} y\r\n", [cmd(b"a X {3} y")], []),
    (b"a X {3++}\r\n", [cmd(b"a X {3++}")], []),
    (b"a X {}\r\n", [cmd(b"a X {}")], []),
    (b"a X {-1}\r\n", [cmd(b"a X {-1}")], []),
]


@pytest.mark.parametrize(("data", "expected", "announced"), FORMS)
def test_literal_forms(data: bytes, expected: list[RawCommand], announced: list[tuple[int, bool]]) -> None:
    frags = frame([data])
    assert commands(frags) == expected
    assert [(f.size, f.binary) for f in frags if isinstance(f, LiteralAnnounced)] == announced
    assert isinstance(frags[-1], EndOfInput)


@pytest.mark.parametrize(("data", "expected", "announced"), FORMS)
def test_literal_forms_split_invariance(
    data: bytes, expected: list[RawCommand], announced: list[tuple[int, bool]]
) -> None:
    whole = frame([data])
    assert frame([data[i : i + 1] for i in range(len(data))]) == whole
    for cut in range(1, len(data)):
        assert frame([data[:cut], data[cut:]]) == whole


def test_announcement_carries_tag_and_command() -> None:
    frags = frame([b"t1 uid search text {4}\r\nabcd\r\n"])
    assert frags[0] == LiteralAnnounced("t1", 4, False, "UID SEARCH")
    assert commands(frags) == [cmd(b"t1 uid search text {4}", b"", literals=(b"abcd",))]


def test_announcement_before_any_literal_octet_is_buffered() -> None:
    f = Framer(L)
    f.feed(b"a LOGIN {10}\r\n0123456789\r\n")
    assert f.next() == LiteralAnnounced("a", 10, False, "LOGIN")
    assert f.held == len(b"a LOGIN {10}") + len(b"0123456789\r\n")  # the octets sit unread in the buffer
    f.reject_literal()
    # Refused: a conforming client never sends the octets; here it did, and they are a new line.
    assert commands([f.next()]) == [cmd(b"0123456789")]  # type: ignore[list-item]


def test_rejected_sync_literal_ends_the_command() -> None:
    frags = frame([b"a LOGIN {3}\r\nb NOOP\r\n"], accept=lambda _: False)
    assert frags[0] == LiteralAnnounced("a", 3, False, "LOGIN")
    assert commands(frags) == [cmd(b"b NOOP")]


# -- limits ------------------------------------------------------------------------------------------

TOOBIG_NO = Refusal("a", "NO", "TOOBIG", "Literal too large")
TOOBIG_NO_SYNC = Refusal("a", "NO", "TOOBIG", "Literal too large", sync_literal=True)


@pytest.mark.parametrize(
    ("limits", "data", "refusal", "after"),
    [
        # over max_literal, synchronizing: refused instead of "+", the client sends nothing more
        (L, b"a LOGIN {17}\r\nb NOOP\r\n", TOOBIG_NO_SYNC, [cmd(b"b NOOP")]),
        # over max_literal, non-synchronizing: the octets are swallowed, the rest of the command dropped
        (L, b"a LOGIN {17+}\r\nx LOGOUT\r\nx LOGOUT\r rest\r\nb NOOP\r\n", TOOBIG_NO, [cmd(b"b NOOP")]),
        # APPEND has its own cap (RFC 7889)
        (
            L,
            b"a APPEND INBOX {65+}\r\n" + b"x LOGOUT\r\n" * 6 + b"abcde\r\nb NOOP\r\n",
            Refusal("a", "NO", "TOOBIG", "Message too large"),
            [cmd(b"b NOOP")],
        ),
        # LITERAL-: a non-synchronizing literal over 4096 (here 8) is BAD [TOOBIG] and swallowed
        (
            MINUS,
            b"a LOGIN {10+}\r\nx LOGOUT\r\n\r\nb NOOP\r\n",
            Refusal("a", "BAD", "TOOBIG", "Non-synchronizing literal too large (LITERAL-)"),
            [cmd(b"b NOOP")],
        ),
        # ... and while dropping the rest of the command, further literals are swallowed as well
        (
            MINUS,
            b"a LOGIN {10+}\r\nx LOGOUT\r\n {10+}\r\ny LOGOUT\r\n\r\nb NOOP\r\n",
            Refusal("a", "BAD", "TOOBIG", "Non-synchronizing literal too large (LITERAL-)"),
            [cmd(b"b NOOP")],
        ),
        # a synchronizing literal announced while dropping ends the command (the client waits for "+")
        (
            MINUS,
            b"a LOGIN {10+}\r\nx LOGOUT\r\n {10}\r\nb NOOP\r\n",
            Refusal("a", "BAD", "TOOBIG", "Non-synchronizing literal too large (LITERAL-)"),
            [cmd(b"b NOOP")],
        ),
        # the whole command's budget: 8 literals of 16 = 128 plus the lines' octets > max_command
        (
            L,
            b"a X {16+}\r\n" + b"0123456789abcdef {16+}\r\n" * 7 + b"0123456789abcdef\r\nb NOOP\r\n",
            Refusal("a", "NO", "TOOBIG", "Literal too large"),
            [cmd(b"b NOOP")],
        ),
        # a number with more digits than any limit
        (L, b"a LOGIN {" + b"9" * 40 + b"}\r\nb NOOP\r\n", TOOBIG_NO_SYNC, [cmd(b"b NOOP")]),
        # a literal in a line without a tag cannot be answered with a tag
        (
            L,
            b"{5+}\r\nx LOGOUT\r\nb NOOP\r\n",
            Refusal(None, "BAD", "PARSE", "Literal in a line without a tag and command name"),
            [cmd(b"b NOOP")],
        ),
    ],
)
def test_refusals(limits: Limits, data: bytes, refusal: Refusal, after: list[RawCommand]) -> None:
    for chunks in ([data], [data[i : i + 1] for i in range(len(data))]):
        frags = frame(chunks, limits)
        assert frags[0] == refusal
        assert commands(frags) == after  # in particular: no "x LOGOUT" ever framed


def test_limits_are_inclusive() -> None:
    assert commands(frame([b"a LOGIN {16}\r\n" + b"x" * 16 + b"\r\n"])) == [
        cmd(b"a LOGIN {16}", b"", literals=(b"x" * 16,))
    ]
    assert commands(frame([b"a LOGIN {8+}\r\n" + b"x" * 8 + b"\r\n"], MINUS)) == [
        cmd(b"a LOGIN {8+}", b"", literals=(b"x" * 8,))
    ]
    assert commands(frame([b"a APPEND m {64}\r\n" + b"x" * 64 + b"\r\n"])) == [
        cmd(b"a APPEND m {64}", b"", literals=(b"x" * 64,))
    ]
    line = b"a " + b"x" * 62
    assert commands(frame([line + b"\r\n"])) == [cmd(line)]


def test_literal_plus_without_minus_reads_large_nonsync_literals() -> None:
    # Under LITERAL+ only max_literal applies, not the 4096-octet LITERAL- cap.
    data = b"a LOGIN {12+}\r\n" + b"y" * 12 + b"\r\n"
    assert commands(frame([data], L)) == [cmd(b"a LOGIN {12+}", b"", literals=(b"y" * 12,))]


def test_long_line_refused_before_it_ends_and_never_buffered() -> None:
    f = Framer(L)
    f.feed(b"a1 NOOP ")
    assert f.next() is None
    refusals = []
    for _ in range(100):
        f.feed(b"x" * 50)
        while (frag := f.next()) is not None:
            refusals.append(frag)
        assert f.held <= L.max_line + 1
    assert refusals == [Refusal("a1", "BAD", "TOOBIG", "Command line too long")]
    f.feed(b"\r\nb NOOP\r\n")
    assert f.next() == FramedCommand(cmd(b"b NOOP"), "b", "NOOP")


def test_long_line_ending_in_nonsync_literal_swallows_it() -> None:
    data = b"a X " + b"y" * 100 + b" {10+}\r\nx LOGOUT\r\n\r\nb NOOP\r\n"
    for chunks in ([data], [data[i : i + 1] for i in range(len(data))]):
        frags = frame(chunks)
        assert frags[0] == Refusal("a", "BAD", "TOOBIG", "Command line too long")
        assert commands(frags) == [cmd(b"b NOOP")]


def test_long_line_with_huge_zero_padded_count_is_still_a_literal() -> None:
    # The digits run past the tail the framer keeps of a skipped line: still treated as a literal.
    data = b"a X " + b"y" * 100 + b" {" + b"0" * 100 + b"5+}\r\nx LOGOUT\r\n"
    frags = frame([data])
    assert frags[0] == Refusal("a", "BAD", "TOOBIG", "Command line too long")
    assert commands(frags) == []


def test_long_continuation_line_is_refused_with_the_command_tag() -> None:
    data = b"a LOGIN {3}\r\nbob " + b"z" * 80 + b"\r\nb NOOP\r\n"
    frags = frame([data])
    assert frags[1] == Refusal("a", "BAD", "TOOBIG", "Command line too long")
    assert commands(frags) == [cmd(b"b NOOP")]


def test_command_budget_counts_lines() -> None:
    # Lines alone (between small literals) can exhaust max_command.
    data = b"a X {1+}\r\n1" + b"y" * 55 + b" {1+}\r\n2" + b"y" * 60 + b"\r\nb NOOP\r\n"
    frags = frame([data])
    assert frags[0] == Refusal("a", "BAD", "TOOBIG", "Command too long")
    assert commands(frags) == [cmd(b"b NOOP")]


def test_big_append_accepted_within_limits_with_bounded_memory() -> None:
    limits = Limits(max_line=64, max_literal=16, max_command=128, max_append=10_000)
    body = (b"x LOGOUT\r\n" * 1000)[:10_000]
    data = b"a APPEND INBOX {10000}\r\n" + body + b"\r\n"
    frags = frame([data[i : i + 997] for i in range(0, len(data), 997)], limits)
    assert frags[0] == LiteralAnnounced("a", 10_000, False, "APPEND")
    assert commands(frags) == [cmd(b"a APPEND INBOX {10000}", b"", literals=(body,))]


# -- line mode, EOF ----------------------------------------------------------------------------------


def test_line_mode_returns_lines_without_literal_handling() -> None:
    frags = frame([b"DONE\r\nfoo {3}\r\n*\n"], line_mode=True)
    assert frags == [FramedLine(b"DONE"), FramedLine(b"foo {3}"), FramedLine(b"*"), EndOfInput()]


def test_line_mode_long_line() -> None:
    frags = frame([b"A" * 200 + b" {5+}\r\nDONE\r\n"], line_mode=True)
    assert frags == [
        Refusal(None, "BAD", "TOOBIG", "Command line too long"),
        FramedLine(b"DONE"),
        EndOfInput(),
    ]


@pytest.mark.parametrize("data", [b"", b"a NOOP", b"a LOGIN {3+}\r\nb", b"a LOGIN {30+}\r\nb"])
def test_eof_mid_command(data: bytes) -> None:
    limits = Limits(max_literal=100)
    frags = frame([data], limits)
    assert frags == [EndOfInput()]


def test_take_unprocessed() -> None:
    f = Framer(L)
    f.feed(b"a COMPRESS DEFLATE\r\n\x78\x9c\x01\x02")
    assert isinstance(f.next(), FramedCommand)
    assert f.take_unprocessed() == b"\x78\x9c\x01\x02"
    assert f.next() is None
