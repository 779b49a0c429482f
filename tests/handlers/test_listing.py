"""LIST / LSUB (RFC 9051 §6.3.9, RFC 3501 §6.3.8-9, RFC 5258, RFC 5819, RFC 6154, RFC 3348)."""

from __future__ import annotations

import pytest

from maildird.handlers.listing import compile_pattern

from .harness import Session
from .memstore import MemStore


@pytest.mark.parametrize(
    ("reference", "pattern", "name", "hit"),
    [
        ("", "*", "Work.Projects", True),
        ("", "%", "Work.Projects", False),
        ("", "%", "Work", True),
        ("", "Work.%", "Work.Projects", True),
        ("Work.", "%", "Work.Projects", True),
        ("Work", ".%", "Work.Projects", True),
        ("", "inbox", "INBOX", True),
        ("", "InBoX.%", "INBOX.sub", True),
        ("", "INBOXES", "INBOX", False),
        ("", "W*s", "Work.Projects", True),
        ("", "W%s", "Work.Projects", False),
        ("", "a+b(c)", "a+b(c)", True),
        ("", "*%*", "a.b", True),
        ("", "%*", "a.b", True),
        ("", "*.%", "a.b.c", True),
        ("", "%.%", "a.b.c", False),
        ("", "a%c", "abbc", True),
        ("", "a%c", "ab.c", False),
        ("", "", "", True),
        ("", "*", "", True),
        ("", "x", "", False),
    ],
)
def test_pattern(reference: str, pattern: str, name: str, hit: bool) -> None:
    assert compile_pattern(reference, pattern, ".").fullmatch(name) is hit


def test_pathological_pattern_is_linear() -> None:
    """``*a*a*...*b`` against ``aaa...a`` would take exponential time with a backtracking regex."""
    pattern = compile_pattern("", "*a" * 200 + "*b", ".")
    assert pattern.fullmatch("a" * 1000) is False
    assert pattern.fullmatch("a" * 1000 + "b") is True
    assert pattern.fullmatch("a" * 199 + "b") is False


async def test_list_empty_pattern_gives_delimiter(store: MemStore) -> None:
    s = Session(store)
    assert await s.cmd('a1 LIST "" ""') == b'* LIST (\\Noselect) "." ""\r\na1 OK LIST completed.\r\n'


async def test_list_star_with_children_noselect_and_special_use(store: MemStore) -> None:
    assert await Session(store).lines('a1 LIST "" *') == [
        b'* LIST (\\HasNoChildren) "." INBOX',
        b'* LIST (\\HasNoChildren \\Sent) "." Sent',
        b'* LIST (\\Noselect \\HasChildren) "." Work',
        b'* LIST (\\HasNoChildren) "." Work.Projects',
        b"a1 OK LIST completed.",
    ]


async def test_list_percent_and_reference(store: MemStore) -> None:
    s = Session(store)
    assert await s.lines('a1 LIST "" %') == [
        b'* LIST (\\HasNoChildren) "." INBOX',
        b'* LIST (\\HasNoChildren \\Sent) "." Sent',
        b'* LIST (\\Noselect \\HasChildren) "." Work',
        b"a1 OK LIST completed.",
    ]
    assert await s.lines("a2 LIST Work. %") == [
        b'* LIST (\\HasNoChildren) "." Work.Projects',
        b"a2 OK LIST completed.",
    ]


async def test_list_names_are_mutf7() -> None:
    store = MemStore()
    store.create_sync("Entwürfe")
    out = await Session(store).lines('a1 LIST "" Entw*')
    assert out[0] == b'* LIST (\\HasNoChildren) "." Entw&APw-rfe'


async def test_list_extended_subscribed_recursivematch(store: MemStore) -> None:
    store.subscribed = {"INBOX", "Work.Projects", "Gone"}
    s = Session(store)
    assert await s.lines('a1 LIST (SUBSCRIBED) "" *') == [
        b'* LIST (\\Subscribed \\HasNoChildren) "." INBOX',
        b'* LIST (\\NonExistent \\Subscribed) "." Gone',
        b'* LIST (\\Subscribed \\HasNoChildren) "." Work.Projects',
        b"a1 OK LIST completed.",
    ]
    assert await s.lines('a2 LIST (SUBSCRIBED RECURSIVEMATCH) "" %') == [
        b'* LIST (\\Subscribed \\HasNoChildren) "." INBOX',
        b'* LIST (\\NonExistent \\Subscribed) "." Gone',
        b'* LIST (\\Noselect \\HasChildren) "." Work ("CHILDINFO" ("SUBSCRIBED"))',
        b"a2 OK LIST completed.",
    ]


async def test_list_return_subscribed_and_special_use_selection(store: MemStore) -> None:
    store.subscribed = {"Sent"}
    s = Session(store)
    assert await s.lines('a1 LIST "" % RETURN (SUBSCRIBED)') == [
        b'* LIST (\\HasNoChildren) "." INBOX',
        b'* LIST (\\Subscribed \\HasNoChildren \\Sent) "." Sent',
        b'* LIST (\\Noselect \\HasChildren) "." Work',
        b"a1 OK LIST completed.",
    ]
    assert await s.lines('a2 LIST (SPECIAL-USE) "" *') == [
        b'* LIST (\\HasNoChildren \\Sent) "." Sent',
        b"a2 OK LIST completed.",
    ]


async def test_list_status(store: MemStore) -> None:
    out = await Session(store).lines('a1 LIST "" % RETURN (STATUS (MESSAGES UNSEEN))')
    assert out == [
        b'* LIST (\\HasNoChildren) "." INBOX',
        b"* STATUS INBOX (MESSAGES 3 UNSEEN 2)",
        b'* LIST (\\HasNoChildren \\Sent) "." Sent',
        b"* STATUS Sent (MESSAGES 0 UNSEEN 0)",
        b'* LIST (\\Noselect \\HasChildren) "." Work',
        b"a1 OK LIST completed.",
    ]


async def test_list_multiple_patterns(store: MemStore) -> None:
    out = await Session(store).lines('a1 LIST "" (INBOX Sent)')
    assert out == [
        b'* LIST (\\HasNoChildren) "." INBOX',
        b'* LIST (\\HasNoChildren \\Sent) "." Sent',
        b"a1 OK LIST completed.",
    ]


async def test_list_names_are_utf8_after_enable() -> None:
    """RFC 6855 §3: after ENABLE UTF8=ACCEPT names travel as UTF-8, both ways."""
    store = MemStore()
    s = Session(store)
    await s.cmd("e ENABLE UTF8=ACCEPT")
    assert await s.cmd('a1 CREATE "Entwürfe"'.encode()) == b"a1 OK CREATE completed.\r\n"
    assert "Entwürfe" in store.folders
    out = await s.lines('a2 LIST "" Entw*')
    assert out[0] == '* LIST (\\HasNoChildren) "." "Entwürfe"'.encode()
