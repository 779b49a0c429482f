"""What a FETCH's item list implies, worked out once per list (``fetch.shape_of``): a message list
repeats the same items with every FETCH, the grammar hands them out as the same tuple, and neither the
shape nor the line plan is built again for it (RFC 9051 §6.4.5: duplicates answered once)."""

from __future__ import annotations

import pytest

from maildird.handlers import fetch as fetch_mod
from maildird.handlers import fetch_lines
from maildird.imap import commands as cmd
from maildird.imap.grammar import parse_command
from maildird.imap.raw import RawCommand

from .harness import Session
from .memstore import MemStore

WINDOW = "(UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (From Subject Date)])"


def _items(line: str) -> tuple[cmd.FetchItem, ...]:
    command = parse_command(RawCommand((line.encode(),)))
    assert isinstance(command, cmd.Fetch)
    return command.items


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ("(FLAGS FLAGS UID)", ("FLAGS", "UID")),
        ("(UID FLAGS UID RFC822.SIZE FLAGS)", ("UID", "FLAGS", "RFC822.SIZE")),
        ("(FLAGS UID)", ("FLAGS", "UID")),
    ],
)
def test_items_are_answered_once_in_the_order_first_asked(items: str, expected: tuple[str, ...]) -> None:
    shape = fetch_mod.shape_of(_items(f"a FETCH 1 {items}"))
    assert tuple(i.name for i in shape.items if isinstance(i, cmd.FetchAtt)) == expected


def test_a_list_without_repeats_is_kept_as_it_is() -> None:
    items = _items(f"a FETCH 1:10 {WINDOW}")
    assert fetch_mod.shape_of(items).items is items


def test_shape_facts() -> None:
    window = fetch_mod.shape_of(_items(f"a FETCH 1:10 {WINDOW}"))
    assert (window.uid, window.modseq, window.needs_text, window.header, window.sets_seen) == (
        True,
        False,
        True,
        True,
        False,
    )
    assert window.sections == 1
    seen = fetch_mod.shape_of(_items("a FETCH 1 (MODSEQ BODY[TEXT] FLAGS)"))
    assert (seen.uid, seen.modseq, seen.needs_text, seen.header, seen.sets_seen) == (
        False,
        True,
        True,
        False,
        True,
    )
    flags = fetch_mod.shape_of(_items("a FETCH 1 FAST"))
    assert (flags.needs_text, flags.header, flags.sets_seen, flags.sections) == (False, False, False, 0)


async def test_repeated_item_list_is_planned_once(monkeypatch: pytest.MonkeyPatch) -> None:
    store = MemStore()
    for n in range(12):
        store.add("INBOX", b"From: a@x\nSubject: s%d\nDate: Tue, 05 Mar 2024 14:07:09 +0000\n\nbody\n" % n)
    s = Session(store)
    await s.cmd("s SELECT INBOX")
    builds: list[object] = []
    real = fetch_lines.LinePlan._plan

    def counting(items: tuple[cmd.FetchItem, ...]) -> fetch_lines.LinePlan | None:
        builds.append(items)
        return real(items)

    monkeypatch.setattr(fetch_lines._LINE_PLANS, "_build", counting)
    fetch_lines._LINE_PLANS._plans.clear()
    first = await s.cmd(f"a1 FETCH 1:10 {WINDOW}")
    again = await s.cmd(f"a2 FETCH 1:10 {WINDOW}")
    other = await s.cmd(f"a3 FETCH 3:12 {WINDOW}")
    assert len(builds) == 1
    assert first.replace(b"a1 ", b"a2 ") == again
    assert first.count(b" FETCH (UID ") == other.count(b" FETCH (UID ") == 10
    assert b"* 12 FETCH (UID 12 FLAGS" in other
