"""SEARCH TEXT and BODY answered from body rows (``handlers.search_text``, ``message.search_bodies``,
kept in the search-text cache file) give the octet path's answers (RFC 9051 §6.4.4): rows derived by a
search, read back after a restart, made by the background fill, damaged, of another length than the
file, of expunged messages; messages whose row keeps their texts are not read again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from maildird.handlers import search_text
from maildird.message import search_bodies
from maildird.store.maildir import searchcache, searchfill
from maildird.store.maildir.mailbox import MaildirMailbox
from maildird.store.maildir.store import MaildirStore
from maildird.store.registry import Registry
from tests.message.test_search_bodies import ATTACHED
from tests.message.test_search_fast import _QP_TRAPS, _bench_messages
from tests.support.maildirs import make_maildir

from .harness import Session

ATTACHMENT = (
    b"From: Ann <ann@example.org>\nSubject: =?utf-8?q?the_r=C3=A9port?=\nMIME-Version: 1.0\n"
    b"Content-Type: multipart/mixed; boundary=zz\n\n--zz\nContent-Type: text/plain; charset=utf-8\n"
    b"Content-Transfer-Encoding: quoted-printable\n\nsee the quokka=\nsaurus stra=C3=9Fe\n--zz\n"
    b"Content-Type: application/pdf; name=quokkasaurus.pdf\nContent-Transfer-Encoding: base64\n\n"
    b"cXVva2thc2F1cnVzIGluIGJhc2U2NA==\n--zz--\n"
)
BODIES = [
    *_bench_messages(40),
    *_QP_TRAPS,
    ATTACHED,
    ATTACHMENT,
    b"Subject: plain\n\nnothing but quokkasaurus here\n",
    b"Subject: K\xc3\xb6ln\nContent-Type: text/plain; charset=utf-8\n\nStra\xc3\x9fe in K\xc3\xb6ln\n",
]
FLAGS = ["S", "", "F", "S"]

SEARCHES: list[str | bytes] = [
    "UID SEARCH TEXT quokkasaurus",
    "UID SEARCH BODY quokkasaurus",
    "UID SEARCH TEXT quokka",
    "UID SEARCH TEXT QUOKKA UNSEEN",
    'UID SEARCH TEXT "the meeting"',
    'UID SEARCH TEXT "inner quokka"',
    'UID SEARCH BODY "inner quokka"',
    "UID SEARCH TEXT strasse",
    "UID SEARCH BODY kelvin",
    'UID SEARCH TEXT ""',
    'UID SEARCH BODY " "',
    "UID SEARCH TEXT example",
    "SEARCH TEXT zzzz-not-there",
    "SEARCH NOT TEXT quokka",
    b"UID SEARCH CHARSET UTF-8 TEXT {7}\r\nstra\xc3\x9fe",
    b"UID SEARCH CHARSET UTF-8 BODY {5}\r\nk\xc3\xb6ln",
    b"UID SEARCH CHARSET UTF-8 TEXT {7}\r\nr\xc3\xa9port",
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
            {"id": f"<t{n}@x>", "raw": raw, "flags": FLAGS[n % len(FLAGS)]} for n, raw in enumerate(BODIES)
        ]
    }
    return make_maildir(tmp_path / "Maildir", spec)


def _store(tmp_path: Path, maildir: Path) -> MaildirStore:
    """A store with its own registry: a fresh process's view."""
    return MaildirStore(maildir, state_dir=tmp_path / "state", fsync=False, registry=Registry())


async def _answers(store: MaildirStore, searches: Sequence[str | bytes] = SEARCHES) -> list[bytes]:
    s = Session(store)
    await s.cmd("s SELECT INBOX")
    return [await s.cmd(b"t " + (q.encode() if isinstance(q, str) else q)) for q in searches]


async def _reference(tmp_path: Path, maildir: Path, monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    with monkeypatch.context() as m:
        m.delattr(MaildirMailbox, "search_rows")  # the handler then takes the octet path
        return await _answers(_store(tmp_path, maildir))


def _search_file(tmp_path: Path) -> Path:
    (found,) = (tmp_path / "state").rglob("*" + searchcache.CACHE_SUFFIX)
    return found


def _body_rows(tmp_path: Path) -> dict[int, bytes]:
    with sqlite3.connect(_search_file(tmp_path)) as db:
        return dict(db.execute("SELECT uid, row FROM body"))


def _count_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every UID whose whole message is read from now on."""
    read: list[int] = []
    real = MaildirMailbox.read_messages

    async def counting(
        self: MaildirMailbox, uids: Sequence[int], *, header_only: bool = False
    ) -> dict[int, bytes]:
        if not header_only:
            read.extend(uids)
        return await real(self, uids, header_only=header_only)

    monkeypatch.setattr(MaildirMailbox, "read_messages", counting)
    return read


def _kept_texts(rows: dict[int, bytes]) -> set[int]:
    """UIDs whose row decides TEXT without the message's file."""
    out = set()
    for uid, data in rows.items():
        row = search_bodies.decode(data)
        assert row is not None
        if not row.needs_octets:
            out.add(uid)
    return out


async def test_same_answers_derived_then_from_the_file(
    tmp_path: Path, maildir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = await _reference(tmp_path, maildir, monkeypatch)
    hits = [r for r in reference if not r.startswith((b"* SEARCH\r\n", b"* SEARCH \r\n"))]
    assert len(hits) >= 12
    # Rows derived by the first search, in chunks of 9 read in rounds of 5, written every 7 or so.
    monkeypatch.setattr(search_text, "TEXT_BATCH", 9)
    monkeypatch.setattr(search_text, "ROW_BATCH", 5)
    monkeypatch.setattr(search_text, "KEEP_EVERY", 7)
    assert await _answers(_store(tmp_path, maildir)) == reference
    rows = _body_rows(tmp_path)
    assert len(rows) == len(BODIES)
    kept = _kept_texts(rows)
    assert len(kept) >= 4  # the messages with attachments, at least
    assert await _answers(_store(tmp_path, maildir)) == reference  # after a restart
    text_only = [
        n for n, q in enumerate(SEARCHES) if b"BODY" not in (q if isinstance(q, bytes) else q.encode())
    ]
    with monkeypatch.context() as m:
        read = _count_reads(m)
        answers = await _answers(_store(tmp_path, maildir), [SEARCHES[n] for n in text_only])
        assert answers == [reference[n] for n in text_only]
        assert read and not kept & set(read)  # their attachments are never read again


async def test_damaged_rows_and_file_are_derived_again(
    tmp_path: Path, maildir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = await _reference(tmp_path, maildir, monkeypatch)
    assert await _answers(_store(tmp_path, maildir)) == reference
    path = _search_file(tmp_path)
    with sqlite3.connect(path) as db:  # rows of another version, truncated, not octets at all
        uids = sorted(u for (u,) in db.execute("SELECT uid FROM body"))
        db.execute("UPDATE body SET row = x'09' || substr(row, 2) WHERE uid = ?", (uids[0],))
        db.execute("UPDATE body SET row = substr(row, 1, 9) WHERE uid = ?", (uids[1],))
        db.execute("UPDATE body SET row = 'text' WHERE uid = ?", (uids[2],))
        db.execute("UPDATE body SET row = x'01' WHERE uid % 5 = 0")
    assert await _answers(_store(tmp_path, maildir)) == reference
    assert search_bodies.decode(_body_rows(tmp_path)[uids[0]]) is not None  # derived and written again
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.write_bytes(b"this is not a database" * 500)
    assert await _answers(_store(tmp_path, maildir)) == reference
    assert len(_body_rows(tmp_path)) == len(BODIES)  # rebuilt


async def test_row_of_a_file_of_another_length_is_not_used(
    tmp_path: Path, maildir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert await _answers(_store(tmp_path, maildir), ["UID SEARCH TEXT quokkasaurus"])
    victim = next(p for p in (maildir / "cur").iterdir() if p.read_bytes().startswith(b"Subject: plain\n"))
    victim.write_bytes(b"Subject: plain\n\nnothing here any more, not even a q-word\n")
    searches = ["UID SEARCH TEXT quokkasaurus", "UID SEARCH TEXT q-word"]
    with monkeypatch.context() as m:
        m.delattr(MaildirMailbox, "search_rows")
        reference = await _answers(_store(tmp_path, maildir), searches)
    assert await _answers(_store(tmp_path, maildir), searches) == reference


async def test_emptied_message_file_is_decided_as_before(
    tmp_path: Path, maildir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Maildir files never change their content (every cache relies on it): a file emptied after
    # its row was made is not looked at again, one emptied before gets no row and is decided as
    # the octet path decides it (it matches nothing, NOT either).
    for victim in (maildir / "cur").iterdir():
        if b"quokka" in victim.read_bytes():
            victim.write_bytes(b"")
    searches = ["UID SEARCH TEXT quokka", "UID SEARCH NOT BODY quokka", 'UID SEARCH TEXT ""']
    with monkeypatch.context() as m:
        m.delattr(MaildirMailbox, "search_rows")
        reference = await _answers(_store(tmp_path, maildir), searches)
    assert await _answers(_store(tmp_path, maildir), searches) == reference
    assert await _answers(_store(tmp_path, maildir), searches) == reference  # with the rows made


async def test_expunged_messages_leave_the_rows(tmp_path: Path, maildir: Path) -> None:
    store = _store(tmp_path, maildir)
    s = Session(store)
    await s.cmd("s SELECT INBOX")
    before = (await s.cmd("a UID SEARCH TEXT quokkasaurus")).split(b"\r\n")[0]
    victim = int(before.split()[2])
    await s.cmd(f"b UID STORE {victim} +FLAGS.SILENT (\\Deleted)")
    await s.cmd("c EXPUNGE")
    after = (await s.cmd("d UID SEARCH TEXT quokkasaurus")).split(b"\r\n")[0]
    assert after == before.replace(f" {victim}".encode(), b"")
    await store.close()
    # A restart: rows of UIDs the folder no longer has go the first time the process writes.
    again = Session(_store(tmp_path, maildir))
    await again.cmd("s SELECT INBOX")
    with sqlite3.connect(_search_file(tmp_path)) as db:
        db.execute("DELETE FROM body WHERE uid = (SELECT MAX(uid) FROM body)")  # something to write
    assert (await again.cmd("e UID SEARCH TEXT quokkasaurus")).split(b"\r\n")[0] == after
    rows = _body_rows(tmp_path)
    assert rows and victim not in rows


async def test_fill_gives_every_message_a_row_ahead_of_the_first_search(
    tmp_path: Path, maildir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = await _reference(tmp_path, maildir, monkeypatch)
    monkeypatch.setattr(searchfill, "FILL_MIN_MESSAGES", 1)
    monkeypatch.setattr(searchfill, "FILL_BODY_CHUNK", 7)
    monkeypatch.setattr(searchfill, "FILL_PAUSE", 0)
    s = Session(_store(tmp_path, maildir))
    await s.cmd("s SELECT INBOX")
    mailbox = s.ctx.selected.mailbox
    assert isinstance(mailbox, MaildirMailbox)
    await s.cmd("h UID SEARCH FROM nobody")  # the file exists once a search made it
    assert await searchfill.fill_bodies(mailbox.folder, mailbox) == len(BODIES)
    rows = _body_rows(tmp_path)
    assert set(rows) == set(mailbox.folder.msgs)
    assert await searchfill.fill_bodies(mailbox.folder, mailbox) == 0  # complete: nothing read
    # Rounds are bounded by octets too: with a bound of one octet, each message is a round.
    with sqlite3.connect(_search_file(tmp_path)) as db:
        db.execute("DELETE FROM body WHERE uid % 3 = 0")
    monkeypatch.setattr(searchfill, "FILL_BODY_BYTES", 1)
    rounds: list[int] = []
    real_read = MaildirMailbox.read_messages

    async def counting(
        self: MaildirMailbox, uids: Sequence[int], *, header_only: bool = False
    ) -> dict[int, bytes]:
        rounds.append(len(uids))
        return await real_read(self, uids, header_only=header_only)

    with monkeypatch.context() as m:
        m.setattr(MaildirMailbox, "read_messages", counting)
        again = await searchfill.fill_bodies(mailbox.folder, mailbox)
    assert again == len([u for u in mailbox.folder.msgs if u % 3 == 0]) == len(rounds)
    assert set(rounds) == {1}
    assert set(_body_rows(tmp_path)) == set(mailbox.folder.msgs)
    with monkeypatch.context() as m:
        read = _count_reads(m)
        answers = await _answers(_store(tmp_path, maildir), SEARCHES[:1])
        assert answers == reference[:1]
        assert not _kept_texts(rows) & set(read)


async def test_fill_leaves_small_and_large_folders_alone(
    tmp_path: Path, maildir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = Session(_store(tmp_path, maildir))
    await s.cmd("s SELECT INBOX")
    await s.cmd("h UID SEARCH FROM nobody")
    mailbox = s.ctx.selected.mailbox
    assert isinstance(mailbox, MaildirMailbox)
    assert await searchfill.fill_bodies(mailbox.folder, mailbox) == 0  # fewer than FILL_MIN_MESSAGES
    monkeypatch.setattr(searchfill, "FILL_MIN_MESSAGES", 1)
    monkeypatch.setattr(searchfill, "FILL_FILE_READS", 3)
    assert await searchfill.fill_bodies(mailbox.folder, mailbox) == 0  # more than FILL_FILE_READS
    assert not _body_rows(tmp_path)


def test_rows_of_another_incarnation_are_gone(tmp_path: Path) -> None:
    path = tmp_path / "g.search.db"
    first = searchcache.TextFile(path, ("g", 1, "v"))
    first.put_rows([(1, b"a"), (2, b"b"), (9, b"c")])
    assert first.get_rows([1, 2, 3]) == {1: b"a", 2: b"b"}
    assert first.get_rows([9, 1000]) == {9: b"c"}  # sparse: by IN lists
    assert first.row_uids() == {1, 2, 9}
    first.prune({1, 9})
    assert first.row_uids() == {1, 9}
    first.close()
    other = searchcache.TextFile(path, ("g", 2, "v"))
    assert other.get_rows([1, 9]) == {} and other.row_uids() == set()
    other.close()
