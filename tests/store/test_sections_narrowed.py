"""A header section the memory layer misses is cut from a wider selection it holds (``sectioncache.
_narrowed``, ``FieldSelector.section_from``): the same octets as rendering it from the header block
(RFC 9051 §6.4.5), no thread hop, and the same invalidation as any section."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maildird.message.header_fields import WHOLE_HEADER, header_section_of, selector
from maildird.message.parse import header_block
from maildird.store.base import NewMessage
from maildird.store.maildir import headercache
from tests.rfc.test_rfc9051_6_4_5_header_fields import messages
from tests.store.test_headercache import CASES, cache_file, overwrite, reopen
from tests.store.test_headercache_sections import (
    EXTRA,
    NOT,
    SHORT,
    THUNDERBIRD,
    _answered_while_locked,
    drop_header_rows,
    expected,
    section_file,
    section_rows,
    sections,
)
from tests.store.test_mailbox import open_inbox

_NAMES = ["From", "subject", "TO", "cc", "Date", "References", "a", "From x", "X-\u00e9", "Message-ID"]


@settings(max_examples=500, deadline=None)
@given(
    raw=messages(),
    wide=st.lists(st.sampled_from(_NAMES), min_size=0, max_size=6),
    pick=st.lists(st.booleans(), min_size=6, max_size=6),
)
def test_a_narrowed_section_is_the_rendered_one(raw: bytes, wide: list[str], pick: list[bool]) -> None:
    narrow = tuple(n.swapcase() for n, keep in zip(wide, pick, strict=False) if keep)
    big, small = selector(tuple(wide), False), selector(narrow, False)
    assert small.derivable_from(big.key)
    block = header_block(raw)
    assert small.section_from(big.section(block)) == small.section(block)


@pytest.mark.parametrize("raw", [*CASES.values(), *EXTRA.values()])
def test_narrowing_thunderbirds_list_by_hand(raw: bytes) -> None:
    block = header_block(raw)
    assert SHORT.section_from(THUNDERBIRD.section(block)) == header_section_of(block, SHORT)


@pytest.mark.parametrize(
    ("narrow", "wide", "derivable"),
    [
        (("From", "Subject"), ("subject", "FROM", "Date"), True),
        (("From",), ("From",), True),
        ((), ("From",), True),
        ((), (), True),
        (("From", "To"), ("From",), False),
        (("A",), ("A\x0bB",), False),  # split on SP only: "A\x0bB" is one name
        (("A\x0bB",), ("A\x0bB", "C"), True),
    ],
)
def test_derivable_from_needs_every_field(
    narrow: tuple[str, ...], wide: tuple[str, ...], derivable: bool
) -> None:
    assert selector(narrow, False).derivable_from(selector(wide, False).key) is derivable


def test_exclusions_and_the_whole_header_are_never_narrowed() -> None:
    assert not selector(("From",), True).derivable_from(THUNDERBIRD.key)  # .NOT from a list
    assert not SHORT.derivable_from(NOT.key)  # a list from a .NOT
    assert not SHORT.derivable_from(selector(("From", "Subject", "Date", "X"), True).key)
    assert not WHOLE_HEADER.derivable_from(THUNDERBIRD.key)


async def test_a_narrower_list_after_a_message_list_needs_no_thread_hop(tmp_path: Path) -> None:
    raws = [CASES["LF"] + b"%d" % i for i in range(200)] + [CASES["CRLF"], EXTRA["nul-8bit"]]
    raws += [EXTRA["folded-garbage"]]
    store, mb = await open_inbox(tmp_path)
    uids = list((await mb.append([NewMessage(r) for r in raws])).uids)
    await sections(mb, uids, (THUNDERBIRD,))  # Thunderbird's message list: kept in memory
    window = uids[-13:]
    # Answered while another operation holds the folder lock: memory alone, no hop, no file.
    assert await _answered_while_locked(mb, window, (SHORT,))
    got = await sections(mb, window, (SHORT,))
    assert got == {u: expected(r, (SHORT,)) for u, r in zip(uids[-13:], raws[-13:], strict=True)}
    # Kept under its own key since: a second look is a plain memory hit.
    assert SHORT.key in headercache.for_folder(mb.folder).section_keys
    # An expunged message is gone from the narrowed sections too.
    gone = window[-1]
    await mb.store_flags([gone], "add", frozenset({"\\Deleted"}))
    await mb.expunge([gone])
    assert gone not in await sections(mb, window, (SHORT,))
    await store.close()


async def test_after_a_restart_a_narrower_list_is_cut_from_the_stored_rows(tmp_path: Path) -> None:
    raws = [CASES["LF"] + b"%d" % i for i in range(30)] + [CASES["CRLF"], EXTRA["nul-8bit"]]
    raws += [EXTRA["folded-garbage"]]
    store, mb = await open_inbox(tmp_path)
    uids = list((await mb.append([NewMessage(r) for r in raws])).uids)
    await sections(mb, uids, (THUNDERBIRD,))  # stored in the section file
    await store.close()
    # Only the stored wider rows can give the right answer now: no header rows, files rewritten.
    overwrite(tmp_path / "Maildir", b"Subject: changed behind our back\nFrom: probe\n\nx\n")
    drop_header_rows(cache_file(tmp_path, mb))
    store, mb = await reopen(tmp_path)
    window = uids[-12:]
    got = await sections(mb, window, (SHORT,))
    assert got == {u: expected(r, (SHORT,)) for u, r in zip(uids[-12:], raws[-12:], strict=True)}
    # That one hop cut the folder's other messages too: the next window is answered from memory.
    assert await _answered_while_locked(mb, uids[:7], (SHORT,))
    got = await sections(mb, uids[:7], (SHORT,))
    assert got == {u: expected(r, (SHORT,)) for u, r in zip(uids[:7], raws[:7], strict=True)}
    await store.close()
    # Nothing was written for the narrower list: it is cut again as cheaply as it is read.
    assert not [key for key, _ in section_rows(section_file(tmp_path, mb)) if key == SHORT.key]
