"""Bounds on what one command may cost (capabilities.md: nothing a client sends may make the server
hold unbounded memory or time)."""

from __future__ import annotations

from maildird.handlers.fetch import MAX_SECTIONS
from maildird.handlers.listing import MAX_PATTERNS
from maildird.handlers.search import MAX_KEYS

from .harness import Session
from .memstore import MemStore


async def test_too_many_body_sections(store: MemStore) -> None:
    s = Session(store)
    await s.cmd("a0 SELECT INBOX")
    items = " ".join(f"BODY.PEEK[]<{i}.10>" for i in range(MAX_SECTIONS + 1))
    out = await s.cmd(f"a1 FETCH 1 ({items})")
    assert out == b"a1 BAD [LIMIT] At most %d body sections per FETCH.\r\n" % MAX_SECTIONS
    items = " ".join(f"BODY.PEEK[]<{i}.10>" for i in range(MAX_SECTIONS))
    assert (await s.lines(f"a2 FETCH 1 ({items})"))[-1] == b"a2 OK FETCH completed."


async def test_too_many_list_patterns(store: MemStore) -> None:
    s = Session(store)
    patterns = " ".join(f"p{i}" for i in range(MAX_PATTERNS + 1))
    out = await s.cmd(f'a1 LIST "" ({patterns})')
    assert out == b"a1 BAD [LIMIT] At most %d patterns per LIST.\r\n" % MAX_PATTERNS


async def test_too_many_search_keys(store: MemStore) -> None:
    s = Session(store)
    await s.cmd("a0 SELECT INBOX")
    out = await s.cmd("a1 SEARCH " + "SEEN " * MAX_KEYS + "ALL")
    assert out == b"a1 BAD [LIMIT] At most %d search keys.\r\n" % MAX_KEYS
    out = await s.cmd("a2 SEARCH " + "SEEN " * (MAX_KEYS - 2) + "ALL")
    assert out == b"* SEARCH 1\r\na2 OK SEARCH completed.\r\n"
