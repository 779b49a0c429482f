"""RFC 9051 §6.4.5 FETCH items: the grammar remembers an item list by the rest of the command line
(``grammar_fetch.fetch_items``); the remembered answer is the one parsing gives, literals are never
remembered, errors are never remembered, and the memo is bounded."""

from __future__ import annotations

import pytest

from maildird.imap import commands as c
from maildird.imap import grammar_fetch
from maildird.imap.grammar import ParseError, parse_command
from maildird.imap.raw import RawCommand

ITEMS = b"(UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (From Subject Date)])"


def parse(line: bytes, literals: tuple[bytes, ...] = (), lines: tuple[bytes, ...] = ()) -> c.Command:
    all_lines = (line, *lines)
    return parse_command(RawCommand(all_lines, literals, tuple(False for _ in literals)))


def fresh(line: bytes) -> c.Command:
    grammar_fetch._ITEMS_MEMO.clear()
    return parse(line)


@pytest.mark.parametrize(
    "line",
    [
        b"a1 FETCH 1:10 " + ITEMS,
        b"a1 UID FETCH 5,7:9 " + ITEMS + b" (CHANGEDSINCE 12)",
        b"a1 FETCH 1 FAST",
        b"a1 FETCH 1 BODY[]",
        b"a1 FETCH 1 (BODY.PEEK[HEADER]<0.100> BINARY.PEEK[1] BINARY.SIZE[2])",
        b'a1 FETCH 1 (BODY.PEEK[HEADER.FIELDS ("X Odd" subject)])',
    ],
)
def test_remembered_items_are_the_parsed_items(line: bytes) -> None:
    first = fresh(line)
    again = parse(line)
    assert again == first
    assert isinstance(again, c.Fetch) and isinstance(first, c.Fetch)
    assert again.items is first.items  # from the memo


def test_same_items_under_other_sets_and_tags() -> None:
    first = fresh(b"a1 FETCH 1:10 " + ITEMS)
    second = parse(b"b7 FETCH 11:20 " + ITEMS)
    assert isinstance(first, c.Fetch) and isinstance(second, c.Fetch)
    assert second.tag == "b7" and second.set != first.set
    assert second.items is first.items
    assert len(grammar_fetch._ITEMS_MEMO) == 1


def test_a_literal_field_name_is_not_remembered() -> None:
    grammar_fetch._ITEMS_MEMO.clear()
    command = parse(b"a1 FETCH 1 (BODY.PEEK[HEADER.FIELDS ({7}", (b"Subject",), (b")])",))
    assert isinstance(command, c.Fetch)
    assert command.items == (c.FetchBody(c.Section((), "HEADER.FIELDS", ("SUBJECT",)), peek=True),)
    assert not grammar_fetch._ITEMS_MEMO


def test_errors_are_not_remembered() -> None:
    grammar_fetch._ITEMS_MEMO.clear()
    for _ in range(2):
        with pytest.raises(ParseError):
            parse(b"a1 FETCH 1 (UID NOSUCHITEM)")
    assert not grammar_fetch._ITEMS_MEMO
    with pytest.raises(ParseError):
        parse(b"a1 FETCH 1 (UID FLAGS) trailing")  # items fine, the command is not
    assert len(grammar_fetch._ITEMS_MEMO) <= 1
    with pytest.raises(ParseError):
        parse(b"a1 FETCH 1 (UID FLAGS) trailing")


def test_memo_is_bounded() -> None:
    grammar_fetch._ITEMS_MEMO.clear()
    for n in range(grammar_fetch.ITEMS_MEMO_SIZE + 10):
        parse(b"a1 FETCH 1 (UID FLAGS) (CHANGEDSINCE %d)" % (n + 1))
    assert 0 < len(grammar_fetch._ITEMS_MEMO) <= grammar_fetch.ITEMS_MEMO_SIZE
