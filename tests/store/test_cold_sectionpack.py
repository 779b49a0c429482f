"""The section pack (``store.maildir.sectionpack``, kept by ``sectionfile`` and used by ``sectioncache``):
the layout round-trips and refuses anything else; a message list's last round writes it; after a
restart a large request is answered from it alone (the probe: message files overwritten, header and
section rows deleted), with the same octets as rendering the blocks; it never serves a message the
folder no longer has (EXPUNGE here, a file deleted by another program, a new UIDVALIDITY); mail that
came after it is answered from the rows, and a stale or damaged pack is written again; a selection's
pack goes with the selection."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from maildird.message.header_fields import HeaderSpec, selector
from maildird.message.parse import header_block
from maildird.store.base import NewMessage
from maildird.store.maildir import headercache, packedsections, sectioncache, sectionfile, sectionpack
from maildird.store.maildir.mailbox import MaildirMailbox
from maildird.store.maildir.sectionfile import SectionFile
from tests.store.test_headercache import CASES, cache_file, overwrite, reopen
from tests.store.test_headercache_sections import (
    EXTRA,
    SHORT,
    THUNDERBIRD,
    drop_header_rows,
    expected,
    section_file,
)
from tests.store.test_mailbox import open_inbox

ROUND = 4
"""``sectioncache.READ_AHEAD_MIN`` in these tests: a request of this many messages is a large one."""

GUID = "0123456789abcdef0123456789abcdef"


@pytest.fixture(autouse=True)
def small_rounds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sectioncache, "READ_AHEAD_MIN", ROUND)


# -- the layout -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sections",
    [
        {},
        {1: (b"Subject: x\r\n\r\n", 20)},
        {7: (b"", 0), 3: (b"\r\n", 2), 2**32 - 1: (b"From: a\0b\xff\r\n\r\n", 2**32 - 1)},
        {uid: (b"Subject: %d\r\n\r\n" % uid, 100 + uid) for uid in range(1, 2000, 3)},
    ],
)
def test_a_pack_round_trips(sections: dict[int, tuple[bytes, int]]) -> None:
    blob = sectionpack.encode(sections)
    assert blob.startswith(sectionpack.MAGIC)
    assert sectionpack.decode(blob) == sections


@pytest.mark.parametrize("bad", [{2**32: (b"x", 1)}, {1: (b"x", 2**32)}, {-1: (b"x", 1)}])
def test_values_past_32_bits_are_refused(bad: dict[int, tuple[bytes, int]]) -> None:
    with pytest.raises(ValueError):
        sectionpack.encode(bad)


GOOD = sectionpack.encode({1: (b"Subject: a\r\n\r\n", 9), 2: (b"Subject: bb\r\n\r\n", 10)})


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"SPK",
        GOOD[:-1],  # the lengths no longer add up
        GOOD + b"x",
        b"SPK0" + GOOD[4:],  # another layout
        GOOD[:8] + GOOD[12:],  # the arrays cut
        sectionpack.encode({1: (b"a", 1)})[:8]
        + (b"\0" * 4)
        + b"\1\0\0\0"
        + b"\1\0\0\0",  # count 1, arrays wrong
        "text, not a blob",
        42,
        None,
    ],
)
def test_anything_else_is_no_pack(blob: object) -> None:
    assert sectionpack.decode(blob) is None


def test_a_uid_twice_is_no_pack() -> None:
    one = sectionpack.encode({5: (b"ab", 1), 6: (b"cd", 2)})
    head = len(sectionpack.MAGIC) + 4
    twice = one[:head] + one[head : head + 4] * 2 + one[head + 8 :]  # UIDs 5, 5
    assert sectionpack.decode(twice) is None


# -- the file's pack table --------------------------------------------------------------------------


def test_a_pack_is_only_read_for_its_own_selection(tmp_path: Path) -> None:
    sf = SectionFile(tmp_path / "x.sections.db", GUID, 1)
    spec = sf.spec_id("A")
    sf.put_pack(spec, "A", {1: (b"x", 1)})
    assert sf.get_pack(spec, "A") == {1: (b"x", 1)}
    assert sf.get_pack(spec, "B") is None
    assert sf.get_pack(spec + 1, "A") is None
    sf.close()


def test_a_selection_leaves_with_its_pack(tmp_path: Path) -> None:
    path = tmp_path / "x.sections.db"
    sf = SectionFile(path, GUID, 1)
    first = sf.spec_id("K0")
    sf.put_pack(first, "K0", {1: (b"x", 1)})
    for n in range(1, sectionfile.MAX_SPECS + 1):  # K0 is the one used longest ago: it goes
        sf.spec_id(f"K{n}")
    assert "K0" not in sf.specs
    sf.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM pack").fetchone() == (0,)


# -- through the mailbox ----------------------------------------------------------------------------

Sections = dict[int, tuple[tuple[bytes, int], ...]]


def raws(n: int, start: int = 0) -> list[bytes]:
    kinds = [CASES["LF"], CASES["CRLF"], EXTRA["nul-8bit"], EXTRA["folded-garbage"]]
    return [kinds[i % len(kinds)] + b"%d\n" % i for i in range(start, start + n)]


async def sweep(
    mb: MaildirMailbox, uids: list[int], specs: tuple[HeaderSpec, ...] = (THUNDERBIRD,)
) -> Sections:
    """A message list: the folder's sections in rounds of ``ROUND``, as FETCH reads them."""
    out: Sections = {}
    for start in range(0, len(uids), ROUND):
        out.update(await mb.read_sections(uids[start : start + ROUND], specs))
    return out


def stored_pack(tmp_path: Path, mb: MaildirMailbox) -> dict[int, tuple[bytes, int]] | None:
    with sqlite3.connect(section_file(tmp_path, mb)) as db:
        row = db.execute("SELECT data FROM pack").fetchone()
    return None if row is None else sectionpack.decode(row[0])


def forget_rows(tmp_path: Path, mb: MaildirMailbox) -> None:
    """The probe's second half: nothing but the pack can answer now (files overwritten by the caller)."""
    drop_header_rows(cache_file(tmp_path, mb))
    with sqlite3.connect(section_file(tmp_path, mb)) as db:
        db.execute("DELETE FROM section")


async def filled(tmp_path: Path, n: int = 3 * ROUND) -> tuple[list[int], list[bytes], Sections]:
    """An INBOX of ``n`` messages whose message list was read once (the pack written), closed."""
    messages = raws(n)
    store, mb = await open_inbox(tmp_path)
    uids = list((await mb.append([NewMessage(r) for r in messages])).uids)
    first = await sweep(mb, uids)
    await store.close()
    return uids, messages, first


async def test_the_last_round_writes_the_pack_and_a_restart_reads_it_alone(tmp_path: Path) -> None:
    uids, messages, first = await filled(tmp_path)
    assert first == {u: expected(r, (THUNDERBIRD,)) for u, r in zip(uids, messages, strict=True)}
    store, mb = await reopen(tmp_path)
    assert stored_pack(tmp_path, mb) == {u: s[0] for u, s in first.items()}
    overwrite(tmp_path / "Maildir", b"Subject: changed behind our back\n\nx\n")
    forget_rows(tmp_path, mb)
    assert await mb.read_sections(uids, (THUNDERBIRD,)) == first  # the pack alone
    await store.close()


async def test_a_pack_is_not_written_before_the_list_is_complete(tmp_path: Path) -> None:
    store, mb = await open_inbox(tmp_path)
    uids = list((await mb.append([NewMessage(r) for r in raws(3 * ROUND)])).uids)
    await sweep(mb, uids[: 2 * ROUND])  # the last third never read: no row, so no pack
    assert stored_pack(tmp_path, mb) is None
    await sweep(mb, uids[2 * ROUND :])
    assert stored_pack(tmp_path, mb) is not None
    await store.close()


@pytest.mark.parametrize("how", ["expunge", "deleted-by-another-program"])
async def test_a_message_gone_is_never_served_from_the_pack(tmp_path: Path, how: str) -> None:
    uids, _messages, first = await filled(tmp_path)
    gone = uids[5]
    store, mb = await reopen(tmp_path)
    if how == "expunge":
        await mb.store_flags([gone], "add", frozenset({"\\Deleted"}))
        assert await mb.expunge() == (gone,)
        await store.close()
    else:
        await store.close()
        base = mb.folder.msgs[gone].base
        root = tmp_path / "Maildir"
        (path,) = [root / d / n for d in ("new", "cur") for n in os.listdir(root / d) if n.startswith(base)]
        os.unlink(path)
    store, mb = await reopen(tmp_path)
    pack = stored_pack(tmp_path, mb)
    assert pack is not None and gone in pack  # still in the pack: the rule below must hold
    got = await mb.read_sections(uids, (THUNDERBIRD,))
    assert gone not in got
    assert got == {u: s for u, s in first.items() if u != gone}
    await store.close()


async def test_new_mail_comes_from_the_rows_and_a_stale_pack_is_written_again(tmp_path: Path) -> None:
    uids, _messages, first = await filled(tmp_path)
    store, mb = await reopen(tmp_path)
    more = raws(ROUND, start=len(uids))
    new = list((await mb.append([NewMessage(r) for r in more])).uids)
    await store.close()
    store, mb = await reopen(tmp_path)
    everything = uids + new
    want = {**first, **{u: expected(r, (THUNDERBIRD,)) for u, r in zip(new, more, strict=True)}}
    assert await sweep(mb, everything) == want  # the new ones rendered, then their rows stored
    pack = stored_pack(tmp_path, mb)  # a third of the list lacked from it: written again
    assert pack == {u: s[0] for u, s in want.items()}
    await store.close()


async def test_a_new_uidvalidity_leaves_no_pack_behind(tmp_path: Path) -> None:
    from tests.store.test_headercache import _set_uidvalidity

    uids, _messages, _first = await filled(tmp_path)
    root = tmp_path / "Maildir"
    overwrite(root, CASES["CRLF"])
    store, mb = await reopen(tmp_path)
    _set_uidvalidity(root, mb.folder.uidvalidity + 7)
    await mb.snapshot()
    want = expected(CASES["CRLF"], (THUNDERBIRD,))
    got = await mb.read_sections(uids, (THUNDERBIRD,))
    assert got == dict.fromkeys(uids, want)
    await store.close()


@pytest.mark.parametrize("damage", ["garbage", "wrong-type", "other-key"])
async def test_a_damaged_pack_is_a_miss_and_is_written_again(tmp_path: Path, damage: str) -> None:
    uids, _messages, first = await filled(tmp_path)
    store, mb = await reopen(tmp_path)
    with sqlite3.connect(section_file(tmp_path, mb)) as db:
        if damage == "garbage":
            db.execute("UPDATE pack SET data = X'53504B3100000000DEADBEEF'")
        elif damage == "wrong-type":
            db.execute("UPDATE pack SET data = 'text, not a blob'")
        else:
            db.execute("UPDATE pack SET key = 'HEADER.FIELDS (SUBJECT)'")
    assert await sweep(mb, uids) == first  # from the rows
    assert stored_pack(tmp_path, mb) == {u: s[0] for u, s in first.items()}
    await store.close()


async def test_two_selections_read_the_rows_as_before(tmp_path: Path) -> None:
    """Packs serve single-selection lists (a message list); a FETCH of two field lists reads rows."""
    uids, messages, _first = await filled(tmp_path)
    store, mb = await reopen(tmp_path)
    got = await sweep(mb, uids, (THUNDERBIRD, SHORT))
    assert got == {u: expected(r, (THUNDERBIRD, SHORT)) for u, r in zip(uids, messages, strict=True)}
    assert header_block(messages[0])  # the probe's messages do have headers
    await store.close()


async def test_too_few_rows_are_not_read_again_until_the_folder_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Messages without a cacheable header (an empty file) never get a row: with too many of them no
    pack is written, and later sweeps do not read every row again to find that out, until the
    folder's message count changes."""
    reads: list[int] = []
    real = SectionFile.all_sections

    def counting(self: SectionFile, spec: int) -> dict[int, tuple[bytes, int]]:
        reads.append(spec)
        return real(self, spec)

    monkeypatch.setattr(SectionFile, "all_sections", counting)
    messages = raws(2 * ROUND) + [b""] * ROUND  # a third without a header: never stored
    store, mb = await open_inbox(tmp_path)
    uids = list((await mb.append([NewMessage(r) for r in messages])).uids)
    await sweep(mb, uids)  # only its last round (which stores nothing: empty headers) looks
    assert stored_pack(tmp_path, mb) is None and len(reads) == 1
    cache = headercache.existing(mb.folder)
    assert cache is not None
    for _ in range(2):
        cache.sections.clear()  # the next sweeps read the file again, as after a restart
        await sweep(mb, uids)
        assert len(reads) == 1  # not tried again: the folder did not change
    more = list((await mb.append([NewMessage(r) for r in raws(8 * ROUND, start=100)])).uids)
    cache.sections.clear()
    await sweep(mb, uids + more)
    # The count changed: the first round (rows already there) looks once, the last (which stored the
    # new rows) again, and writes the pack.
    assert len(reads) == 3
    assert stored_pack(tmp_path, mb) is not None  # 40 of 44 have rows now: written
    await store.close()


async def test_what_is_not_worth_packing_is_remembered_for_a_bounded_number_of_selections(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client sending ever new field lists to a folder with too few rows for a pack: the memory of
    selections not worth packing (``FolderHeaders.unpacked``) stays within ``UNPACKED_MAX``."""
    monkeypatch.setattr(packedsections, "UNPACKED_MAX", 2)
    messages = raws(2 * ROUND) + [b""] * ROUND  # a third without a header: never a pack
    store, mb = await open_inbox(tmp_path)
    uids = list((await mb.append([NewMessage(r) for r in messages])).uids)
    seen = 0
    for n in range(6):
        await sweep(mb, uids, (selector((f"X-Field-{n}", "Subject"), False),))
        await sweep(mb, uids, (selector((f"X-Field-{n}", "Subject"), False),))  # stores nothing new
        cache = headercache.existing(mb.folder)
        assert cache is not None
        seen = max(seen, len(cache.unpacked))
        assert len(cache.unpacked) <= 2
    assert seen == 2  # it did remember them, up to the bound
    await store.close()
