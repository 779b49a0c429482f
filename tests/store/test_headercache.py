"""The header cache (``store.maildir.headercache``) behind ``read_messages(..., header_only=True)``:
the same octets as the files, kept across restarts, dropped on expunge, MOVE and a new UIDVALIDITY,
rebuilt when corrupt.

The probe used throughout: Maildir files never change content, so a test that overwrites a file in
place after its header was cached can tell a cache hit (the old octets) from a file read (the new).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
import trio
import trio.testing

from maildird.message.parse import header_block
from maildird.store.base import NewMessage
from maildird.store.maildir import headercache
from maildird.store.maildir.headercache import CACHE_SUFFIX, MAX_CACHED_BLOCK
from maildird.store.maildir.mailbox import MaildirMailbox
from maildird.store.maildir.store import MaildirStore
from maildird.store.maildir.uidlist import UIDLIST_NAME
from tests.store.test_mailbox import deliver, make_store, open_inbox

BODY = b"body line\n" * 200

CASES = {
    "LF": b"From: a@example.org\nSubject: lf\n\n" + BODY,
    "CRLF": b"From: a@example.org\r\nSubject: crlf\r\n\r\n" + BODY.replace(b"\n", b"\r\n"),
    "no-blank-line": b"From: a@example.org\nSubject: only a header\n",
    "empty": b"",
    "starts-blank": b"\nbody without header\n",
    "starts-blank-crlf": b"\r\nbody without header\r\n",
    "lf-then-crlf-blank": b"Subject: mixed\n\r\nbody\n\nmore\n",
    "over-cap": b"Subject: big\n" + b"X-Pad: " + b"p" * (MAX_CACHED_BLOCK + 10) + b"\n\nbody\n",
}


def cache_file(tmp_path: Path, mb: MaildirMailbox) -> Path:
    assert mb.folder.guid is not None
    return tmp_path / "state" / f"{mb.folder.guid}{CACHE_SUFFIX}"


def cached_rows(path: Path) -> dict[int, bytes]:
    with sqlite3.connect(path) as db:
        return dict(db.execute("SELECT uid, data FROM header"))


def overwrite(root: Path, data: bytes) -> None:
    """The probe: put new octets into every message file of a folder, in place."""
    for sub in ("new", "cur"):
        for name in os.listdir(root / sub):
            (root / sub / name).write_bytes(data)


async def headers(mb: MaildirMailbox, uids: list[int]) -> dict[int, bytes]:
    return await mb.read_messages(uids, header_only=True)


async def reopen(tmp_path: Path) -> tuple[MaildirStore, MaildirMailbox]:
    """A new store, registry and Folder: what a restarted server sees (nothing in memory)."""
    store = make_store(tmp_path)
    mb = await store.open("INBOX")
    await mb.snapshot()
    return store, mb


@pytest.mark.parametrize("name", sorted(CASES))
async def test_cached_octets_equal_the_files(tmp_path: Path, name: str) -> None:
    raw = CASES[name]
    root = tmp_path / "Maildir"
    store, mb = await open_inbox(tmp_path)
    deliver(root, "1700000000.M1P1.mda", raw, info=":2,S")
    await mb.snapshot()
    whole = await mb.read_message(1)
    assert whole == raw
    first = await headers(mb, [1])  # from the file
    again = await headers(mb, [1])  # from memory (or the file again, when not cacheable)
    await store.close()
    store, mb = await reopen(tmp_path)
    restarted = await headers(mb, [1])  # from the cache file
    assert first == again == restarted == {1: header_block(raw)}
    cacheable = 0 < len(header_block(raw)) <= MAX_CACHED_BLOCK
    rows = cached_rows(cache_file(tmp_path, mb)) if cache_file(tmp_path, mb).exists() else {}
    assert rows == ({1: header_block(raw)} if cacheable else {})
    await store.close()


async def test_a_restart_reads_the_cache_file_not_the_message(tmp_path: Path) -> None:
    root = tmp_path / "Maildir"
    store, mb = await open_inbox(tmp_path)
    uids = (await mb.append([NewMessage(CASES["LF"]), NewMessage(CASES["CRLF"])])).uids
    before = await headers(mb, list(uids))
    await store.close()
    overwrite(root, b"Subject: changed behind our back\n\nx\n")
    store, mb = await reopen(tmp_path)
    assert await headers(mb, list(uids)) == before
    # The whole message still comes from the file: only header blocks are cached.
    assert await mb.read_message(uids[0]) == b"Subject: changed behind our back\n\nx\n"
    await store.close()


async def test_a_file_renamed_by_another_program_is_still_served_from_the_cache(tmp_path: Path) -> None:
    root = tmp_path / "Maildir"
    store, mb = await open_inbox(tmp_path)
    path = deliver(root, "1700000000.M1P1.mda", CASES["LF"], info=":2,")
    await mb.snapshot()
    before = await headers(mb, [1])
    renamed = path.with_name("1700000000.M1P1.mda:2,FS")
    os.rename(path, renamed)  # another MUA flags it
    renamed.write_bytes(b"Subject: probe\n\n")
    snap = await mb.snapshot()
    assert snap.messages[0].flags == frozenset({"\\Flagged", "\\Seen"})
    assert await headers(mb, [1]) == before
    await store.close()
    store, mb = await reopen(tmp_path)
    assert await headers(mb, [1]) == before
    await store.close()


async def test_expunge_drops_the_rows(tmp_path: Path) -> None:
    store, mb = await open_inbox(tmp_path)
    uids = (await mb.append([NewMessage(CASES["LF"]) for _ in range(3)])).uids
    await mb.snapshot()
    await headers(mb, list(uids))
    path = cache_file(tmp_path, mb)
    assert sorted(cached_rows(path)) == list(uids)
    await mb.store_flags([uids[1]], "add", frozenset({"\\Deleted"}))
    assert await mb.expunge() == (uids[1],)
    assert sorted(cached_rows(path)) == [uids[0], uids[2]]
    assert await headers(mb, list(uids)) == {u: header_block(CASES["LF"]) for u in (uids[0], uids[2])}
    await store.close()


async def test_move_drops_the_source_rows_and_the_target_reads_its_own(tmp_path: Path) -> None:
    store, mb = await open_inbox(tmp_path)
    await store.create("Archive")
    dest = await store.open("Archive")
    uids = (await mb.append([NewMessage(CASES["LF"]), NewMessage(CASES["CRLF"])])).uids
    await mb.snapshot()
    await headers(mb, list(uids))
    result = await mb.move([uids[0]], dest)
    assert sorted(cached_rows(cache_file(tmp_path, mb))) == [uids[1]]
    assert await headers(mb, list(uids)) == {uids[1]: header_block(CASES["CRLF"])}
    await dest.snapshot()
    ((_, new_uid),) = result.pairs
    assert await headers(dest, [new_uid]) == {new_uid: header_block(CASES["LF"])}
    await store.close()


async def test_a_message_expunged_by_another_program_is_pruned_and_left_out(tmp_path: Path) -> None:
    root = tmp_path / "Maildir"
    store, mb = await open_inbox(tmp_path)
    deliver(root, "1700000000.M1P1.mda", CASES["LF"], info=":2,S")
    deliver(root, "1700000001.M1P1.mda", CASES["CRLF"], info=":2,S")
    await mb.snapshot()
    await headers(mb, [1, 2])
    await store.close()
    os.unlink(root / "cur" / "1700000000.M1P1.mda:2,S")
    store, mb = await reopen(tmp_path)
    assert await headers(mb, [1, 2]) == {2: header_block(CASES["CRLF"])}
    assert sorted(cached_rows(cache_file(tmp_path, mb))) == [2]
    await store.close()


def _set_uidvalidity(root: Path, value: int) -> None:
    path = root / UIDLIST_NAME
    lines = path.read_bytes().split(b"\n")
    fields = [b"V%d" % value if f.startswith(b"V") else f for f in lines[0].split(b" ")]
    lines[0] = b" ".join(fields)
    path.write_bytes(b"\n".join(lines))


async def test_a_new_uidvalidity_empties_the_cache(tmp_path: Path) -> None:
    root = tmp_path / "Maildir"
    store, mb = await open_inbox(tmp_path)
    deliver(root, "1700000000.M1P1.mda", CASES["LF"], info=":2,S")
    await mb.snapshot()
    await headers(mb, [1])
    guid, old = mb.folder.guid, mb.folder.uidvalidity
    overwrite(root, CASES["CRLF"])
    _set_uidvalidity(root, old + 7)  # same GUID, same cache file: only UIDVALIDITY says it is stale
    snap = await mb.snapshot()
    assert snap.uidvalidity == old + 7 and mb.folder.guid == guid
    assert await headers(mb, [1]) == {1: header_block(CASES["CRLF"])}  # same session, memory too
    with sqlite3.connect(cache_file(tmp_path, mb)) as db:
        meta = dict(db.execute("SELECT key, value FROM meta"))
    assert meta["uidvalidity"] == str(old + 7)
    assert cached_rows(cache_file(tmp_path, mb)) == {1: header_block(CASES["CRLF"])}
    await store.close()


async def test_a_recreated_uidlist_starts_a_new_cache(tmp_path: Path) -> None:
    root = tmp_path / "Maildir"
    store, mb = await open_inbox(tmp_path)
    deliver(root, "1700000000.M1P1.mda", CASES["LF"], info=":2,S")
    await mb.snapshot()
    await headers(mb, [1])
    await store.close()
    (root / UIDLIST_NAME).unlink()
    overwrite(root, CASES["CRLF"])
    store, mb = await reopen(tmp_path)
    uid = (await mb.snapshot()).messages[0].uid
    assert await headers(mb, [uid]) == {uid: header_block(CASES["CRLF"])}
    await store.close()


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
async def test_a_corrupt_cache_file_is_rebuilt(tmp_path: Path, damage: str) -> None:
    store, mb = await open_inbox(tmp_path)
    uids = list((await mb.append([NewMessage(CASES["LF"] + b"%d" % i) for i in range(50)])).uids)
    want = await headers(mb, uids)
    path = cache_file(tmp_path, mb)
    await store.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    data = path.read_bytes()
    path.write_bytes(b"this is not a database" * 100 if damage == "garbage" else data[: len(data) // 2])
    store, mb = await reopen(tmp_path)
    assert await headers(mb, uids) == want
    await store.close()
    assert cached_rows(path) == want  # rebuilt by those reads


async def test_memory_answers_without_the_folder_lock(tmp_path: Path) -> None:
    store, mb = await open_inbox(tmp_path)
    uids = list((await mb.append([NewMessage(CASES["LF"]) for _ in range(10)])).uids)
    want = await headers(mb, uids)
    other = await store.open("INBOX", readonly=True)  # another session on the same folder
    assert other.folder is mb.folder
    got: dict[int, bytes] = {}

    async def fetch() -> None:
        got.update(await headers(other, uids))

    # Another session's long STORE holds the folder lock meanwhile.
    async with mb.folder.lock, trio.open_nursery() as nursery:
        nursery.start_soon(fetch)
        await trio.testing.wait_all_tasks_blocked()
        assert got == want  # answered while the lock was held: no lock, no thread hop
    await store.close()


async def test_memory_misses_go_to_disk_in_one_request(tmp_path: Path) -> None:
    store, mb = await open_inbox(tmp_path)
    uids = list((await mb.append([NewMessage(CASES["LF"] + b"%d" % i) for i in range(6)])).uids)
    await headers(mb, uids[:3])
    got = await headers(mb, list(reversed(uids)))  # half memory, half files
    assert list(got) == list(reversed(uids))
    assert got == {u: header_block(CASES["LF"] + b"%d" % i) for i, u in enumerate(uids)}
    await store.close()


async def test_no_cache_without_an_on_disk_sidecar(tmp_path: Path) -> None:
    store, mb = await open_inbox(tmp_path)
    uids = list((await mb.append([NewMessage(CASES["LF"])])).uids)
    state = mb.folder.state
    assert state is not None
    assert headercache.cache_path(Path(":memory:")) is None
    assert headercache.cache_path(state.path) == cache_file(tmp_path, mb)
    assert await headers(mb, uids) == {uids[0]: header_block(CASES["LF"])}
    await store.close()


async def test_closing_the_folder_closes_its_cache_file(tmp_path: Path) -> None:
    store, mb = await open_inbox(tmp_path)
    uids = list((await mb.append([NewMessage(CASES["LF"])])).uids)
    await headers(mb, uids)
    cache = headercache.existing(mb.folder)
    assert cache is not None and cache.is_open
    await store.close()  # the test registry keeps no idle folders: the folder is closed
    assert mb.folder.state is None and not cache.is_open


async def test_an_unusable_cache_file_is_skipped_not_destroyed(tmp_path: Path) -> None:
    store, mb = await open_inbox(tmp_path)
    uids = list((await mb.append([NewMessage(CASES["LF"]), NewMessage(CASES["CRLF"])])).uids)
    blocker = cache_file(tmp_path, mb)
    blocker.mkdir()  # SQLite cannot open a directory: SQLITE_CANTOPEN, which says nothing of contents
    (blocker / "keep").write_bytes(b"someone else's")
    want = {uids[0]: header_block(CASES["LF"]), uids[1]: header_block(CASES["CRLF"])}
    assert await headers(mb, uids) == want
    await store.close()
    store, mb = await reopen(tmp_path)
    assert await headers(mb, uids) == want
    assert (blocker / "keep").read_bytes() == b"someone else's"
    await store.close()


async def _answered_while_locked(mb: MaildirMailbox, uids: list[int]) -> bool:
    """Whether a header read of ``uids`` completes while the folder lock is held elsewhere (the
    memory layer answered it), then lets it finish."""
    got: dict[int, bytes] = {}

    async def fetch() -> None:
        got.update(await headers(mb, uids))

    async with trio.open_nursery() as nursery, mb.folder.lock:
        nursery.start_soon(fetch)
        await trio.testing.wait_all_tasks_blocked()
        answered = bool(got)
    assert len(got) == len(uids)
    return answered


async def test_a_large_read_from_the_cache_file_does_not_fill_memory(tmp_path: Path) -> None:
    store, mb = await open_inbox(tmp_path)
    n = headercache.MEMORY_FILL_MAX + 4
    uids = list((await mb.append([NewMessage(CASES["LF"] + b"%d" % i) for i in range(n)])).uids)
    await headers(mb, uids)  # from the files: new mail, kept in memory whatever the request size
    assert await _answered_while_locked(mb, uids)
    await store.close()
    store, mb = await reopen(tmp_path)
    await headers(mb, uids)  # a message list's batch from the cache file: not worth the memory
    assert not await _answered_while_locked(mb, uids)
    small = uids[: headercache.MEMORY_FILL_MAX]
    await headers(mb, small)  # a client scrolling: kept
    assert await _answered_while_locked(mb, small)
    await store.close()
