"""The section cache (``store.maildir.sectioncache``) behind ``MaildirMailbox.read_sections``: the same
octets as rendering the header blocks, kept in the header cache file across restarts and used there
(no message file and no header row read), dropped on expunge, MOVE, a new UIDVALIDITY, a corrupt file
and with the mailbox, bounded in selections, and never an error when damaged.

The probes: Maildir files never change content, so a test that overwrites every file in place (and
deletes the header rows) after its sections were cached tells a cached section (the old octets) from
one rendered again (the new).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import trio
import trio.testing

from maildird.message.header_fields import WHOLE_HEADER, HeaderSpec, selector
from maildird.message.parse import header_block
from maildird.store.base import NewMessage
from maildird.store.maildir import headercache, headerfile, sectioncache, sectionfile
from maildird.store.maildir.mailbox import MaildirMailbox
from tests.store.test_headercache import CASES, cache_file, overwrite, reopen
from tests.store.test_mailbox import deliver, open_inbox

FIELDS = (
    "From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To "
    "Content-Type Reply-To"
)
THUNDERBIRD = selector(tuple(FIELDS.split()), False)
SHORT = selector(("From", "Subject", "Date"), False)
NOT = selector(("Received", "Subject"), True)
SPECS: tuple[HeaderSpec, ...] = (THUNDERBIRD, NOT, WHOLE_HEADER, SHORT)

EXTRA = {
    "nul-8bit": b"Subject: nul\0in\nFrom: \xc3\xa9l\xc3\xa8ve <e@x>\nX-8bit: \xff\n\nbody\n",
    "folded-garbage": b"From foo Mon Jan 1\nFrom: a\ngarbage\n cont\nSubject: s\n\tfolded\n\nx\n",
}
ALL = {**CASES, **EXTRA}


def expected(raw: bytes, specs: tuple[HeaderSpec, ...] = SPECS) -> tuple[tuple[bytes, int], ...]:
    """What the uncached path gives: the specs rendered from the header block."""
    block = header_block(raw)
    return tuple(spec.section(block) for spec in specs)


def section_file(tmp_path: Path, mb: MaildirMailbox) -> Path:
    assert mb.folder.guid is not None
    return tmp_path / "state" / f"{mb.folder.guid}{sectionfile.SECTIONS_SUFFIX}"


def section_rows(path: Path) -> dict[tuple[str, int], bytes]:
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT spec.key, section.uid, section.data FROM section JOIN spec ON spec.id = section.spec"
        )
        return {(key, uid): data for key, uid, data in rows}


def drop_header_rows(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM header")


async def sections(
    mb: MaildirMailbox, uids: list[int], specs: tuple[HeaderSpec, ...] = SPECS
) -> dict[int, tuple[tuple[bytes, int], ...]]:
    return await mb.read_sections(uids, specs)


async def fill(
    tmp_path: Path, raws: list[bytes]
) -> tuple[list[int], dict[int, tuple[tuple[bytes, int], ...]]]:
    """A fresh INBOX holding ``raws``, whose sections are read once (cached), then closed."""
    store, mb = await open_inbox(tmp_path)
    uids = list((await mb.append([NewMessage(r) for r in raws])).uids)
    first = await sections(mb, uids)
    await store.close()
    return uids, first


@pytest.mark.parametrize("name", sorted(ALL))
async def test_sections_equal_the_rendered_blocks_from_files_memory_and_disk(
    tmp_path: Path, name: str
) -> None:
    raw = ALL[name]
    store, mb = await open_inbox(tmp_path)
    (uid,) = (await mb.append([NewMessage(raw)])).uids
    want = {uid: expected(raw)}
    assert await sections(mb, [uid]) == want  # rendered from the file
    assert await sections(mb, [uid]) == want  # memory
    await store.close()
    store, mb = await reopen(tmp_path)
    assert await sections(mb, [uid]) == want  # the cache file
    assert await sections(mb, [uid], (SHORT,)) == {uid: expected(raw, (SHORT,))}  # one spec of several
    await store.close()
    cacheable = 0 < len(header_block(raw)) <= headerfile.MAX_CACHED_BLOCK
    rows = section_rows(section_file(tmp_path, mb)) if section_file(tmp_path, mb).exists() else {}
    # Whole-header sections are never stored (the header row is that); the selections are.
    want_rows = {(s.key, uid): s.section(header_block(raw))[0] for s in (THUNDERBIRD, NOT, SHORT)}
    assert rows == (want_rows if cacheable else {})


async def test_a_restart_answers_from_the_section_table_alone(tmp_path: Path) -> None:
    raws = [CASES["LF"] + b"%d" % i for i in range(40)] + [CASES["CRLF"], EXTRA["nul-8bit"]]
    specs = (THUNDERBIRD, SHORT)
    store, mb = await open_inbox(tmp_path)
    uids = list((await mb.append([NewMessage(r) for r in raws])).uids)
    before = await sections(mb, uids, specs)
    await store.close()
    overwrite(tmp_path / "Maildir", b"Subject: changed behind our back\nFrom: probe\n\nx\n")
    drop_header_rows(cache_file(tmp_path, mb))  # nor the header rows: only the section file answers
    store, mb = await reopen(tmp_path)
    assert await sections(mb, uids, specs) == before
    # The same selection named in another order and case shares the rows (its key is canonical).
    again = selector(("date", "SUBJECT", "from"), False)
    assert again is not SHORT and again.key == SHORT.key
    assert await sections(mb, uids, (again,)) == {u: (s[1],) for u, s in before.items()}
    # The whole header is not a stored section: it comes from the (overwritten) file.
    whole = await sections(mb, uids[:1], (WHOLE_HEADER,))
    assert whole == {uids[0]: ((b"Subject: changed behind our back\r\nFrom: probe\r\n\r\n", 49),)}
    await store.close()


async def _answered_while_locked(mb: MaildirMailbox, uids: list[int], specs: tuple[HeaderSpec, ...]) -> bool:
    """Whether a read of ``uids`` completes while another operation holds the folder lock (memory
    answered it: no lock, no thread hop); then lets it finish."""
    got: dict[int, tuple[tuple[bytes, int], ...]] = {}

    async def fetch() -> None:
        got.update(await sections(mb, uids, specs))

    async with trio.open_nursery() as nursery, mb.folder.lock:
        nursery.start_soon(fetch)
        await trio.testing.wait_all_tasks_blocked()
        answered = bool(got)
    assert len(got) == len(uids)
    return answered


async def test_memory_answers_without_the_folder_lock(tmp_path: Path) -> None:
    store, mb = await open_inbox(tmp_path)
    uids = list((await mb.append([NewMessage(CASES["LF"] + b"%d" % i) for i in range(300)])).uids)
    assert not await _answered_while_locked(mb, uids, (SHORT, THUNDERBIRD))  # first read: the files
    assert await _answered_while_locked(mb, uids, (SHORT, THUNDERBIRD))  # a whole list is kept
    assert await _answered_while_locked(mb, uids[5:9], (THUNDERBIRD,))
    assert not await _answered_while_locked(mb, uids[:3], (SHORT, WHOLE_HEADER))  # never kept
    assert not await _answered_while_locked(mb, uids[:3], (NOT,))  # not asked yet
    await store.close()
    store, mb = await reopen(tmp_path)  # a new process: nothing in memory
    assert not await _answered_while_locked(mb, uids, (SHORT,))
    assert await _answered_while_locked(mb, uids, (SHORT,))
    await store.close()


async def test_expunge_and_move_drop_sections_from_memory_and_file(tmp_path: Path) -> None:
    store, mb = await open_inbox(tmp_path)
    await store.create("Archive")
    dest = await store.open("Archive")
    raws = [CASES["LF"] + b"%d" % i for i in range(4)]
    uids = list((await mb.append([NewMessage(r) for r in raws])).uids)
    await sections(mb, uids)
    path = section_file(tmp_path, mb)
    assert {uid for _k, uid in section_rows(path)} == set(uids)
    await mb.store_flags([uids[1]], "add", frozenset({"\\Deleted"}))
    assert await mb.expunge() == (uids[1],)
    await mb.move([uids[2]], dest)
    assert {uid for _k, uid in section_rows(path)} == {uids[0], uids[3]}
    cache = headercache.existing(mb.folder)
    assert cache is not None and cache.section_keys == {THUNDERBIRD.key, NOT.key, SHORT.key}
    for key in cache.section_keys:
        for uid in (uids[1], uids[2]):
            assert cache.sections.get(cache.section_base(mb.folder, key) | uid) is None
        assert cache.sections.get(cache.section_base(mb.folder, key) | uids[0])
    assert await sections(mb, uids) == {u: expected(raws[i]) for i, u in enumerate(uids) if i in (0, 3)}
    await store.close()


async def test_a_new_uidvalidity_drops_the_sections(tmp_path: Path) -> None:
    from tests.store.test_headercache import _set_uidvalidity

    root = tmp_path / "Maildir"
    store, mb = await open_inbox(tmp_path)
    deliver(root, "1700000000.M1P1.mda", CASES["LF"], info=":2,S")
    await mb.snapshot()
    assert await sections(mb, [1]) == {1: expected(CASES["LF"])}
    overwrite(root, CASES["CRLF"])
    _set_uidvalidity(root, mb.folder.uidvalidity + 7)
    await mb.snapshot()
    assert await sections(mb, [1]) == {1: expected(CASES["CRLF"])}  # memory and file both new
    await store.close()
    assert set(section_rows(section_file(tmp_path, mb)).values()) == {
        s.section(header_block(CASES["CRLF"]))[0] for s in (THUNDERBIRD, NOT, SHORT)
    }


@pytest.mark.parametrize("damage", ["garbage", "truncated", "bad-rows", "old-schema"])
async def test_a_damaged_cache_never_fails_a_read(tmp_path: Path, damage: str) -> None:
    raws = [CASES["LF"] + b"%d" % i for i in range(60)]
    uids, want = await fill(tmp_path, raws)
    store, mb = await reopen(tmp_path)
    path = section_file(tmp_path, mb)
    await store.close()
    if damage == "bad-rows":
        with sqlite3.connect(path) as db:
            db.execute("UPDATE section SET data = 'text, not a blob', size = 'x'")
        with sqlite3.connect(cache_file(tmp_path, mb)) as db:
            db.execute("UPDATE header SET data = 42")
    elif damage == "old-schema":
        with sqlite3.connect(path) as db:  # a file of another schema version: made again
            db.execute("UPDATE meta SET value = '0' WHERE key = 'schema'")
            db.execute("UPDATE section SET data = X'00'")
    else:
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        data = path.read_bytes()
        path.write_bytes(b"this is not a database" * 100 if damage == "garbage" else data[: len(data) // 2])
    store, mb = await reopen(tmp_path)
    assert await sections(mb, uids) == want
    await store.close()
    # Rebuilt by that read: the rows are right again.
    rows = section_rows(path)
    assert {(k, u) for k, u in rows} == {(s.key, u) for s in (THUNDERBIRD, NOT, SHORT) for u in uids}
    assert all(isinstance(v, bytes) and v for v in rows.values())


async def test_an_unusable_cache_file_is_skipped(tmp_path: Path) -> None:
    store, mb = await open_inbox(tmp_path)
    uids = list((await mb.append([NewMessage(CASES["LF"]), NewMessage(CASES["CRLF"])])).uids)
    for blocker in (cache_file(tmp_path, mb), section_file(tmp_path, mb)):
        blocker.mkdir()  # SQLITE_CANTOPEN: the caches rest, the files answer
    want = {uids[0]: expected(CASES["LF"]), uids[1]: expected(CASES["CRLF"])}
    assert await sections(mb, uids) == want
    await store.close()
    store, mb = await reopen(tmp_path)
    assert await sections(mb, uids) == want
    await store.close()


async def test_the_file_keeps_a_bounded_number_of_selections(tmp_path: Path) -> None:
    store, mb = await open_inbox(tmp_path)
    uids = list((await mb.append([NewMessage(CASES["LF"]) for _ in range(3)])).uids)
    many = [selector((f"X-Field-{n}", "Subject"), False) for n in range(sectionfile.MAX_SPECS + 2)]
    await sections(mb, uids, (many[0],))
    for spec in many[1:]:
        await store.close()
        store, mb = await reopen(tmp_path)  # memory empty: the file answers, and notes the use
        await sections(mb, uids, (many[0],))  # used again each time: never the one to go
        await sections(mb, uids, (spec,))
    await store.close()
    keys = {k for k, _u in section_rows(section_file(tmp_path, mb))}
    assert len(keys) == sectionfile.MAX_SPECS
    assert many[0].key in keys and many[-1].key in keys
    assert many[1].key not in keys  # the one used longest ago went, with its rows
    with sqlite3.connect(section_file(tmp_path, mb)) as db:
        assert db.execute("SELECT COUNT(*) FROM spec").fetchone() == (sectionfile.MAX_SPECS,)


async def test_memory_keeps_a_bounded_number_of_selections_per_folder(tmp_path: Path) -> None:
    store, mb = await open_inbox(tmp_path)
    uids = list((await mb.append([NewMessage(CASES["LF"])])).uids)
    for n in range(sectioncache.MAX_MEMORY_SPECS + 3):
        spec = selector((f"X-Other-{n}",), False)
        assert await sections(mb, uids, (spec,)) == {uids[0]: expected(CASES["LF"], (spec,))}
    cache = headercache.existing(mb.folder)
    assert cache is not None and len(cache.section_keys) == sectioncache.MAX_MEMORY_SPECS
    await store.close()


def test_section_memory_is_bounded_first_in_first_out() -> None:
    cost = 5 + sectioncache.ENTRY_OVERHEAD
    mem = sectioncache.SectionMemory(limit=3 * cost)
    for uid in range(5):
        mem.put(1 << 32 | uid, (b"12345", 20))
    assert len(mem) == 3 and mem.used == 3 * cost
    assert mem.get(1 << 32 | 0) is None and mem.get(1 << 32 | 4) == (b"12345", 20)


async def test_delete_removes_the_sections_with_the_mailbox(tmp_path: Path) -> None:
    store, _inbox = await open_inbox(tmp_path)
    await store.create("Work")
    mb = await store.open("Work")
    (uid,) = (await mb.append([NewMessage(CASES["LF"])])).uids
    assert await sections(mb, [uid]) == {uid: expected(CASES["LF"])}
    path = section_file(tmp_path, mb)
    assert section_rows(path)
    await mb.close()
    await store.delete("Work")
    assert not path.exists()
    await store.create("Work")
    again = await store.open("Work")
    (uid2,) = (await again.append([NewMessage(CASES["CRLF"])])).uids
    assert uid2 == uid  # the same UID in a new incarnation: the new message's sections
    assert await sections(again, [uid2]) == {uid2: expected(CASES["CRLF"])}
    await store.close()


def test_put_many_equals_put_one_by_one() -> None:
    """``ByteBoundCache.put_many`` (``remember``'s bulk insert) keeps what ``put`` would, in the same
    order, with the same count, replacing entries and skipping ones larger than the bound."""
    limit = 4 * (3 + sectioncache.ENTRY_OVERHEAD)
    items = [(1 << 32 | uid % 6, (b"x" * (3 if uid != 4 else limit), uid)) for uid in range(9)]
    one, bulk = sectioncache.SectionMemory(limit), sectioncache.SectionMemory(limit)
    for key, value in items:
        one.put(key, value)
    bulk.put_many(items)
    assert list(bulk._items.items()) == list(one._items.items())
    assert bulk.used == one.used <= limit and len(bulk) == 4


async def test_two_folders_with_the_same_uids_keep_their_own_sections(tmp_path: Path) -> None:
    """Memory keys are per folder incarnation: UID 1 of INBOX is never served for UID 1 of Archive."""
    store, inbox = await open_inbox(tmp_path)
    await store.create("Archive")
    archive = await store.open("Archive")
    (a,) = (await inbox.append([NewMessage(CASES["LF"])])).uids
    (b,) = (await archive.append([NewMessage(EXTRA["nul-8bit"])])).uids
    assert a == b
    for _ in range(2):  # from the files, then from memory
        assert await sections(inbox, [a]) == {a: expected(CASES["LF"])}
        assert await sections(archive, [b]) == {b: expected(EXTRA["nul-8bit"])}
    await store.close()


async def test_a_large_read_reads_the_next_stored_sections_ahead(tmp_path: Path) -> None:
    """After a restart, a message list's first round also brings the stored sections of the folder's
    next messages into memory (one hop for the list); only what was asked is returned, and messages
    whose sections were never stored are rendered when their round comes."""
    n = sectioncache.READ_AHEAD_MIN
    raws = [CASES["LF"] + b"%d" % i for i in range(3 * n)]
    store, mb = await open_inbox(tmp_path)
    uids = list((await mb.append([NewMessage(r) for r in raws])).uids)
    await sections(mb, uids[: 2 * n], (SHORT,))  # the last third never stored
    await store.close()
    store, mb = await reopen(tmp_path)
    first = await sections(mb, uids[:n], (SHORT,))
    assert list(first) == uids[:n]
    assert await _answered_while_locked(mb, uids[n : 2 * n], (SHORT,))  # read ahead: memory
    assert not await _answered_while_locked(mb, uids[2 * n :], (SHORT,))  # never stored: rendered
    want = {u: expected(raws[i], (SHORT,)) for i, u in enumerate(uids)}
    assert await sections(mb, uids, (SHORT,)) == want
    await store.close()


def test_stored_sections_are_tied_to_the_rendering() -> None:
    """Sections stay on disk across versions: if this test has to change (another key, other octets),
    ``sectionfile.SCHEMA_VERSION`` must be bumped with it, so that old files are made again."""
    assert sectionfile.SCHEMA_VERSION == 1
    assert THUNDERBIRD.key == (
        "HEADER.FIELDS (BCC CC CONTENT-TYPE DATE FROM IN-REPLY-TO MESSAGE-ID NEWSGROUPS PRIORITY "
        "REFERENCES REPLY-TO SUBJECT TO X-PRIORITY)"
    )
    assert NOT.key == "HEADER.FIELDS.NOT (RECEIVED SUBJECT)"
    raw = b"Received: x\n y\nsubject : s\0t\nFrom: a\nX: \xff\n\nbody\n"
    assert THUNDERBIRD.section(raw) == (b"subject : s\x80t\r\nFrom: a\r\n\r\n", 49)
    assert NOT.section(raw) == (b"From: a\r\nX: \xff\r\n\r\n", 49)
    assert WHOLE_HEADER.section(raw) == (
        b"Received: x\r\n y\r\nsubject : s\x80t\r\nFrom: a\r\nX: \xff\r\n\r\n",
        49,
    )
