"""The framer's fast path for one-line commands and its one-regex peek at tag and name: the same
fragments as the general path (tests/imap/test_framing.py holds the rest of the framer's rules)."""

from __future__ import annotations

import pytest

from maildird.imap.frames import FramedCommand, Limits, Refusal, _head
from maildird.imap.framing import Framer
from maildird.imap.raw import RawCommand


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"a1 NOOP", ("a1", "NOOP")),
        (b"a1 noop", ("a1", "NOOP")),
        (b"a1 uid fetch 1:* FLAGS", ("a1", "UID FETCH")),
        (b"a1 UID", ("a1", "UID")),
        (b"a1 UID ", ("a1", "UID")),
        (b"a1 UID 12", ("a1", "UID")),
        (b"a1 LIST foo", ("a1", "LIST")),  # a second word is looked at only after UID
        (b"a1 X9y(", ("a1", "X9Y")),
        (b"a1 9NOOP", ("a1", "")),
        (b"a1  NOOP", ("a1", "")),
        (b"a1", (None, "")),
        (b"", (None, "")),
        (b"+a NOOP", (None, "")),
        (b"a+b NOOP", (None, "")),  # "+" is no tag character (RFC 9051 §9 tag)
        (b"a]b APPEND x", ("a]b", "APPEND")),
    ],
)
def test_head(line: bytes, expected: tuple[str | None, str]) -> None:
    assert _head(line) == expected


def test_one_line_commands_in_a_row() -> None:
    f = Framer(Limits())
    f.feed(b"a NOOP\r\nb uid FETCH 1 FLAGS\nc CHECK\r\n")
    assert f.next() == FramedCommand(RawCommand((b"a NOOP",)), "a", "NOOP")
    assert f.next() == FramedCommand(RawCommand((b"b uid FETCH 1 FLAGS",)), "b", "UID FETCH")
    assert f.next() == FramedCommand(RawCommand((b"c CHECK",)), "c", "CHECK")
    assert f.next() is None
    assert not f.in_command and f.held == 0


def test_a_line_over_max_command_still_takes_the_general_path() -> None:
    f = Framer(Limits(max_line=200, max_command=100))
    f.feed(b"a NOOP " + b"x" * 120 + b"\r\nb NOOP\r\n")
    refusal = f.next()
    assert isinstance(refusal, Refusal) and refusal.tag == "a" and refusal.code == "TOOBIG"
    assert f.next() == FramedCommand(RawCommand((b"b NOOP",)), "b", "NOOP")


def test_a_literal_after_one_line_commands_is_framed_whole() -> None:
    f = Framer(Limits())
    f.feed(b"a NOOP\r\nb LOGIN {3+}\r\nbob x\r\nc NOOP\r\n")
    assert f.next() == FramedCommand(RawCommand((b"a NOOP",)), "a", "NOOP")
    assert f.next() == FramedCommand(RawCommand((b"b LOGIN {3+}", b" x"), (b"bob",), (False,)), "b", "LOGIN")
    assert f.next() == FramedCommand(RawCommand((b"c NOOP",)), "c", "NOOP")
