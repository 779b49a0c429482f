"""Header SEARCH answered from the Maildir store's search-text cache (``store.maildir.searchcache``)
gives the octet path's answers (RFC 9051 §6.4.4), from memory, from its file after a restart, and when
the file is damaged; it forgets what it must (new UIDVALIDITY, expunge, DELETE) and is never an error.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from maildird.message.search_fields import RECIPE
from maildird.store.maildir import searchcache, searchfill
from maildird.store.maildir.mailbox import MaildirMailbox
from maildird.store.maildir.store import MaildirStore
from maildird.store.registry import Registry
from tests.message.test_search_fields import HANDMADE
from tests.support.maildirs import make_maildir

from .harness import Session

BODIES = [m for m in HANDMADE if m] + [
    b"From: Frank <frank.frequent@example.com>\nTo: alice@example.org\nCc: Bob <bob@example.org>\n"
    b"Bcc: carol@example.org\nSubject: =?iso-8859-1?q?Gr=FC=DFe?= aus K\xc3\xb6ln\n"
    b"Message-ID: <m1@example.org>\n\nhello\n",
    b"From: =?utf-8?b?TcO8bGxlcg==?= <m@example.org>\nTo: Frank <frank.frequent@example.com>\n"
    b"Subject: Re: quokka\n\nhi\n",
]
FLAGS = ["S", "", "F", "", "S", "", "D", "S", "", "", "", "S", "", "F"]

SEARCHES = [
    'UID SEARCH FROM "frank.frequent@example.com"',
    "UID SEARCH FROM quokka",
    "UID SEARCH FROM quokka UNSEEN",
    "UID SEARCH OR FROM quokka FROM example",
    "UID SEARCH OR FROM frank SEEN",
    "UID SEARCH NOT TO alice",
    'UID SEARCH FROM ""',
    'UID SEARCH SUBJECT " "',
    "UID SEARCH CC bob BCC carol",
    "UID SEARCH SUBJECT strasse",
    "UID SEARCH HEADER Message-ID <m1@example.org>",
    "UID SEARCH HEADER reply-to kelvin",
    "SEARCH OR OR FROM a TO a OR CC a SUBJECT a",
    b"UID SEARCH CHARSET UTF-8 FROM {7}\r\nm\xc3\xbcller",
    b"UID SEARCH CHARSET UTF-8 SUBJECT {5}\r\nk\xc3\xb6ln",
    b"UID SEARCH CHARSET UTF-8 SUBJECT {3}\r\n\xe6\x9d\x8e",
]


@pytest.fixture(autouse=True)
def _empty_memory() -> Iterator[None]:
    searchcache.MEMORY.clear()
    yield
    searchcache.MEMORY.clear()


@pytest.fixture
def maildir(tmp_path: Path) -> Path:
    spec = {
        "INBOX": [
            {"id": f"<h{n}@x>", "raw": raw, "flags": FLAGS[n % len(FLAGS)]} for n, raw in enumerate(BODIES)
        ],
        "Other": [{"id": "<o1@x>", "raw": BODIES[-1]}],
    }
    return make_maildir(tmp_path / "Maildir", spec)


def _store(tmp_path: Path, maildir: Path) -> MaildirStore:
    """A store with its own registry: a fresh process's view (its folders are not shared)."""
    return MaildirStore(maildir, state_dir=tmp_path / "state", fsync=False, registry=Registry())


async def _answers(store: MaildirStore, searches: list[str | bytes] = SEARCHES) -> list[bytes]:
    s = Session(store)
    await s.cmd("s SELECT INBOX")
    return [await s.cmd(b"t " + (q.encode() if isinstance(q, str) else q)) for q in searches]


async def _reference(tmp_path: Path, maildir: Path, monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    with monkeypatch.context() as m:
        m.delattr(MaildirMailbox, "header_texts")  # the handler then matches header octets
        return await _answers(_store(tmp_path, maildir))


def _search_file(tmp_path: Path) -> Path:
    (found,) = (tmp_path / "state").rglob("*" + searchcache.CACHE_SUFFIX)
    return found


def _no_header_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    async def refuse(self: MaildirMailbox, uids: object) -> dict[int, bytes]:
        raise AssertionError("a header block was read")

    monkeypatch.setattr(MaildirMailbox, "_read_headers", refuse)


async def test_same_answers_derived_from_memory_and_from_the_file(
    tmp_path: Path, maildir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = await _reference(tmp_path, maildir, monkeypatch)
    assert sum(b"* SEARCH \r\n" not in r and b"* SEARCH\r\n" not in r for r in reference) >= 10  # hits
    store = _store(tmp_path, maildir)
    assert await _answers(store) == reference  # texts derived from the header blocks
    with monkeypatch.context() as m:
        _no_header_reads(m)
        assert await _answers(store) == reference  # from memory
        searchcache.MEMORY.clear()
        assert await _answers(_store(tmp_path, maildir)) == reference  # from the file, as after a restart


async def test_damaged_file_is_rebuilt_and_never_an_error(
    tmp_path: Path, maildir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = await _reference(tmp_path, maildir, monkeypatch)
    assert await _answers(_store(tmp_path, maildir)) == reference
    path = _search_file(tmp_path)
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.write_bytes(b"this is not a database" * 500)
    searchcache.MEMORY.clear()
    assert await _answers(_store(tmp_path, maildir)) == reference
    searchcache.MEMORY.clear()
    with monkeypatch.context() as m:
        _no_header_reads(m)
        assert await _answers(_store(tmp_path, maildir)) == reference  # rebuilt by the previous run


async def test_unusable_file_is_skipped(
    tmp_path: Path, maildir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = await _reference(tmp_path, maildir, monkeypatch)
    assert await _answers(_store(tmp_path, maildir)) == reference
    path = _search_file(tmp_path)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.mkdir()  # SQLite cannot open a directory
    searchcache.MEMORY.clear()
    assert await _answers(_store(tmp_path, maildir)) == reference
    assert path.is_dir()


async def test_emptied_message_file_is_decided_as_before(
    tmp_path: Path, maildir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    victim = next(p for p in (maildir / "cur").iterdir() if b"frank.frequent" in p.read_bytes())
    victim.write_bytes(b"")
    searches: list[str | bytes] = ["UID SEARCH NOT FROM nobody", 'UID SEARCH FROM "frank"']
    with monkeypatch.context() as m:
        m.delattr(MaildirMailbox, "header_texts")
        reference = await _answers(_store(tmp_path, maildir), searches)
    assert await _answers(_store(tmp_path, maildir), searches) == reference


async def test_expunged_messages_leave_the_file(tmp_path: Path, maildir: Path) -> None:
    store = _store(tmp_path, maildir)
    s = Session(store)
    await s.cmd("s SELECT INBOX")
    before = await s.cmd('a UID SEARCH FROM "frank.frequent"')
    assert before.startswith(b"* SEARCH ")
    victim = int(before.split(b"\r\n")[0].split()[2])
    await s.cmd(f"b UID STORE {victim} +FLAGS.SILENT (\\Deleted)")
    await s.cmd("c EXPUNGE")
    after = await s.cmd('d UID SEARCH FROM "frank.frequent"')
    assert f" {victim}".encode() not in after.split(b"\r\n")[0]
    await store.close()
    searchcache.MEMORY.clear()
    # A restart: the file is pruned the first time the process writes to it (a field not cached yet).
    again = await _answers(_store(tmp_path, maildir), ['UID SEARCH FROM "frank.frequent"', "SEARCH TO x"])
    assert again[0] == after.replace(b"d OK", b"t OK")
    with sqlite3.connect(_search_file(tmp_path)) as db:
        uids = {u for (u,) in db.execute("SELECT uid FROM text")}
    assert uids and victim not in uids


async def test_delete_removes_the_file(tmp_path: Path, maildir: Path) -> None:
    s = Session(_store(tmp_path, maildir))
    await s.cmd("s SELECT Other")
    assert (await s.cmd("a SEARCH SUBJECT quokka")).startswith(b"* SEARCH 1\r\n")
    path = _search_file(tmp_path)
    await s.cmd("u UNSELECT")
    assert (await s.cmd("d DELETE Other")).startswith(b"d OK")
    assert not path.exists()


def test_file_of_another_incarnation_is_emptied(tmp_path: Path) -> None:
    path = tmp_path / "g.search.db"
    first = searchcache.TextFile(path, ("g", 1, RECIPE.version))
    first.put([("FROM", 1, "a"), ("FROM", 2, None)])
    assert first.get("FROM", [1, 2, 3]) == {1: "a", 2: None}
    first.close()
    again = searchcache.TextFile(path, ("g", 1, RECIPE.version))
    assert again.get("FROM", [1, 2]) == {1: "a", 2: None}
    again.close()
    for ident in [("g", 2, RECIPE.version), ("h", 2, RECIPE.version), ("h", 2, "other recipe")]:
        other = searchcache.TextFile(path, ident)
        assert other.get("FROM", [1, 2]) == {}
        other.put([("FROM", 1, "b")])
        other.close()


def test_rows_of_another_shape_are_misses(tmp_path: Path) -> None:
    path = tmp_path / "x.search.db"
    f = searchcache.TextFile(path, ("g", 1, "v"))
    f.put([("FROM", 1, "a"), ("FROM", 2, "b"), ("FROM", 3, None)])
    f.close()
    with sqlite3.connect(path) as db:  # what a damaged or foreign writer could leave
        db.execute("UPDATE text SET value = 42 WHERE uid = 1")
        db.execute("UPDATE text SET value = x'ff' WHERE uid = 2")
    f = searchcache.TextFile(path, ("g", 1, "v"))
    assert f.get("FROM", [1, 2, 3]) == {3: None}
    f.close()


def test_texts_round_trip_exactly(tmp_path: Path) -> None:
    f = searchcache.TextFile(tmp_path / "x.search.db", ("g", 1, "v"))
    texts = ["", " ", "müller", "\udcff lone surrogate", "李雷", "x" * searchcache.MAX_CACHED_TEXT]
    f.put([("SUBJECT", n, t) for n, t in enumerate(texts, 1)] + [("SUBJECT", 99, "y" * 5000)])
    assert f.get("SUBJECT", list(range(1, 100))) == dict(enumerate(texts, 1))  # the long one not kept
    f.close()


def test_memory_layer_bound() -> None:
    cost = searchcache.ENTRY_OVERHEAD + 10
    mem = searchcache.MemoryLayer(limit=cost * 10)
    a, b, c = (1, ("g", 1, "v"), "FROM"), (1, ("g", 1, "v"), "TO"), (2, ("h", 1, "v"), "FROM")
    mem.add(a, {u: "x" * 10 for u in range(4)})
    mem.add(b, {u: "y" * 10 for u in range(4)})
    assert mem.used == cost * 8
    assert mem.table(a) is not None  # a is now the most recently used
    mem.add(c, {u: "z" * 10 for u in range(4)})  # over the bound: b, the least recently used, goes
    assert mem.table(b) is None and mem.table(a) is not None and mem.table(c) is not None
    assert mem.used == cost * 8
    mem.add(c, {u: "z" * 10 for u in range(4, 40)})  # alone past the bound: it stops growing
    table_c = mem.table(c)
    assert table_c is not None and len(table_c) == 10 and mem.table(a) is None
    assert mem.used == cost * 10
    mem.drop(2)
    assert mem.used == 0 and mem.table(c) is None


# -- fill-ahead (store.maildir.searchfill) ----------------------------------------------------------


async def _inbox(store: MaildirStore) -> tuple[Session, MaildirMailbox]:
    s = Session(store)
    await s.cmd("s SELECT INBOX")
    mailbox = s.ctx.selected.mailbox
    assert isinstance(mailbox, MaildirMailbox)
    return s, mailbox


def _rows(tmp_path: Path) -> dict[str, set[int]]:
    out: dict[str, set[int]] = {}
    with sqlite3.connect(_search_file(tmp_path)) as db:
        for field, uid in db.execute("SELECT field, uid FROM text"):
            out.setdefault(field, set()).add(uid)
    return out


async def test_fill_derives_every_message_ahead_of_the_first_search(
    tmp_path: Path, maildir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = await _reference(tmp_path, maildir, monkeypatch)
    monkeypatch.setattr(searchfill, "FILL_MIN_MESSAGES", 1)
    monkeypatch.setattr(searchfill, "FILL_CHUNK", 3)
    monkeypatch.setattr(searchfill, "FILL_PAUSE", 0)
    _s, mailbox = await _inbox(_store(tmp_path, maildir))
    folder = mailbox.folder
    assert not await searchfill.prepare(folder)  # no file yet, and none made for it
    assert not list((tmp_path / "state").rglob("*" + searchcache.CACHE_SUFFIX))
    assert await searchfill.fill(folder, mailbox) == len(BODIES)
    assert searchcache.MEMORY.used == 0  # the fill leaves the memory layer to the sessions
    uids = set(folder.msgs)
    assert _rows(tmp_path) == {field: uids for field in searchfill.FILL_FIELDS}
    assert await searchfill.fill(folder, mailbox) == 0  # complete: one COUNT per field, nothing read
    _s2, again = await _inbox(_store(tmp_path, maildir))
    assert await searchfill.prepare(again.folder)
    assert searchcache.for_folder(again.folder).is_open  # opened with the folder, before any SEARCH
    with monkeypatch.context() as m:
        _no_header_reads(m)
        # Searches on the filled fields read no header block, also after a restart.
        filled = [(q, r) for q, r in zip(SEARCHES, reference, strict=True) if _filled_only(q)]
        assert len(filled) >= 8
        answers = await _answers(_store(tmp_path, maildir), [q for q, _r in filled])
        assert answers == [r for _q, r in filled]


def _filled_only(search: str | bytes) -> bool:
    text = search.decode() if isinstance(search, bytes) else search
    words = {"BCC", "HEADER"}
    return not words & set(text.upper().split())


async def test_fill_leaves_small_folders_alone(tmp_path: Path, maildir: Path) -> None:
    _s, mailbox = await _inbox(_store(tmp_path, maildir))
    assert len(mailbox.folder.msgs) < searchfill.FILL_MIN_MESSAGES
    assert await searchfill.fill(mailbox.folder, mailbox) == 0
    assert not list((tmp_path / "state").rglob("*" + searchcache.CACHE_SUFFIX)) or not _rows(tmp_path)


async def test_opening_a_folder_starts_its_fill_once(
    tmp_path: Path, maildir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(searchfill, "FILL_MIN_MESSAGES", 1)
    monkeypatch.setattr(searchfill, "FILL_DELAY", 0)
    monkeypatch.setattr(searchfill, "FILL_PAUSE", 0)
    started: list[object] = []
    finished = trio.Event()
    real_fill = searchfill.fill

    async def watched(folder: object, source: searchfill.TextSource) -> int:
        started.append(folder)
        try:
            return await real_fill(folder, source)  # type: ignore[arg-type]
        finally:
            finished.set()

    monkeypatch.setattr(searchfill, "fill", watched)
    store = _store(tmp_path, maildir)
    s, mailbox = await _inbox(store)
    await Session(store).cmd("x EXAMINE INBOX")  # a second open of the same folder
    with trio.fail_after(60):
        await finished.wait()
    assert started == [mailbox.folder]
    assert _rows(tmp_path)["FROM"] == set(mailbox.folder.msgs)
    assert (await s.cmd('a SEARCH FROM "frank.frequent"')).startswith(b"* SEARCH ")


async def test_large_fill_reads_only_cached_header_blocks(
    tmp_path: Path, maildir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(searchfill, "FILL_MIN_MESSAGES", 1)
    monkeypatch.setattr(searchfill, "FILL_FILE_READS", 3)  # the folder counts as large
    monkeypatch.setattr(searchfill, "FILL_PAUSE", 0)
    _s, mailbox = await _inbox(_store(tmp_path, maildir))
    folder = mailbox.folder
    fetched = sorted(folder.msgs)[2:6]
    blocks = await mailbox.read_messages(fetched, header_only=True)  # a header FETCH of four
    assert sorted(blocks) == fetched
    assert await searchfill.fill(folder, mailbox) == len(BODIES)
    assert _rows(tmp_path) == {field: set(fetched) for field in searchfill.FILL_FIELDS}
