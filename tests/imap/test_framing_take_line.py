"""``Framer.take_line``, the usual command in one step, against ``Framer.next``: fed the same chunks,
a framer drained by ``take_line`` (falling back to ``next`` when it steps aside) yields the same
commands, refusals and literal announcements in the same order as one drained by ``next`` alone."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from maildird.imap.frames import EndOfInput, FramedCommand, Limits, LiteralAnnounced
from maildird.imap.framing import Framer

LIMITS = Limits(max_line=40, max_literal=30, max_command=120, max_append=60, max_literals=3)

PIECES = [
    b"a1 NOOP\r\n",
    b"a2 FETCH 1:3 (FLAGS)\n",
    b"a3 LOGIN {3}\r\n",
    b"a4 APPEND INBOX {5+}\r\nhello\r\n",
    b"abc",
    b"\r\n",
    b"}",
    b"x" * 50 + b"\r\n",
    b"a5 X {99+}\r\n",
    b"a6 NOOP {2}\r\n",
    b"\n",
    b"a7 IDLE\r\n",
    b"DONE\r\n",
]


def _drain(framer: Framer, quick: bool) -> list[object]:
    out: list[object] = []
    while True:
        if quick:
            line = framer.take_line()
            if line is False:
                return out
            if line is not None:
                assert isinstance(line, bytes)
                out.append(("line", line))
                continue
        fragment = framer.next()
        if fragment is None:
            return out
        if isinstance(fragment, FramedCommand) and not fragment.raw.literals:
            out.append(("line", fragment.raw.lines[0]))
            continue
        out.append(fragment)
        if isinstance(fragment, EndOfInput):
            return out
        if isinstance(fragment, LiteralAnnounced):
            framer.accept_literal()


@settings(max_examples=200)
@given(st.lists(st.sampled_from(PIECES), max_size=12), st.integers(1, 9), st.booleans())
def test_take_line_gives_what_next_gives(pieces: list[bytes], cut: int, line_mode: bool) -> None:
    data = b"".join(pieces)
    quick, plain = Framer(LIMITS), Framer(LIMITS)
    quick.line_mode = plain.line_mode = line_mode
    got_quick: list[object] = []
    got_plain: list[object] = []
    for start in range(0, len(data), cut):
        chunk = data[start : start + cut]
        quick.feed(chunk)
        plain.feed(chunk)
        got_quick += _drain(quick, True)
        got_plain += _drain(plain, False)
    quick.feed(b"")
    plain.feed(b"")
    got_quick += _drain(quick, True)
    got_plain += _drain(plain, False)
    assert got_quick == got_plain


def test_take_line_steps_aside() -> None:
    framer = Framer(LIMITS)
    assert framer.take_line() is False  # nothing yet
    framer.feed(b"a1 NOOP")
    assert framer.take_line() is False  # no line end yet
    framer.feed(b"\r\na2 LOGIN {3}\r\n")
    assert framer.take_line() == b"a1 NOOP"
    assert framer.take_line() is None  # a literal announcement: next() decides
    assert isinstance(framer.next(), LiteralAnnounced)
