"""FETCH of ENVELOPE/BODY/BODYSTRUCTURE answered from the structure cache (``handlers.fetch_structs``,
``store.maildir.structcache``) against the general path (``fetch_render.render`` + ``serialize``): the
same octets over a varied corpus in every mode (UTF8=ACCEPT, IMAP4rev2, CONDSTORE), cold (rows
computed), warm from the file and warm from memory; rows kept across a restart without opening a
message file; invalidation by EXPUNGE, MOVE, a new UIDVALIDITY and DELETE; a damaged file never fails a
FETCH (RFC 9051 §6.4.5, §7.5.2; RFC 6855 §3)."""

from __future__ import annotations

import itertools
import os
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from maildird.handlers import fetch as fetch_mod
from maildird.handlers.fetch_dates import internaldate_bytes
from maildird.handlers.fetch_structs import StructPlan, prefill
from maildird.handlers.updates import internaldate
from maildird.imap import commands as cmd
from maildird.store.maildir import mailbox as mailbox_mod
from maildird.store.maildir import structcache
from maildird.store.maildir.store import MaildirStore
from maildird.store.maildir.uidlist import UIDLIST_NAME
from maildird.store.registry import Registry
from tests.message.corpus import corpus
from tests.message.samples import ALTERNATIVE, HEADER_ONLY, MIXED, NO_TYPE, PLAIN
from tests.support.maildirs import make_maildir

from .harness import Session

PARTS = 3000
HUGE = (
    b"From: a@example.org\r\nTo: "
    + b", ".join(b"<u%d@example.org>" % i for i in range(PARTS))
    + b"\r\nSubject: huge\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
    + b"".join(b"--b\r\nContent-Type: text/plain\r\n\r\nx%d\r\n" % i for i in range(PARTS))
    + b"--b--\r\n"
)
MODE_DEPENDENT = (
    b'From: \xc3\xa9l\xc3\xa8ve <\xc3\xa9@example.org>\nTo: "J\xc3\xbcrgen" <j@x.org>\n'
    b"Subject: caf\xc3\xa9\nContent-Type: text/plain; na\xc3\xafve=1; charset=utf-8\n"
    b"Content-Disposition: attachment; fil\xc3\xa9name=x.txt\n\nbody\n"
)
EXTRA = [
    MODE_DEPENDENT,
    b"",
    b"Subject: no blank line\nFrom: z",
    b"\nbody only, no header\n",
    b'Subject: nul\0and "quotes" \\ here\nFrom: "Doe, J" <j@x>\n\nbody \0\n',
    b"From: a@b\nSubject: fwd\nContent-Type: message/rfc822\n\nFrom: inner@x\nSubject: inner\n"
    b"Content-Type: multipart/alternative; boundary=q\n\n--q\nContent-Type: text/plain\n\nt\n"
    b"--q\nContent-Type: text/html\n\n<p>h</p>\n--q--\n",
    b"From: group: a@b, c@d;\nCc: undisclosed-recipients:;\nSubject: =?utf-8?q?gr=C3=BC=C3=9Fe?=\n"
    b"Content-Type: text/plain; charset*0*=utf-8''a; charset*1=b\nContent-Language: en, de\n\nx\n",
]
LETTERS = ["", "S", "FRS", "T", "a"]

COMMANDS = [
    "FETCH 1:* (ENVELOPE BODYSTRUCTURE INTERNALDATE)",
    "FETCH 1:* (ENVELOPE)",
    "FETCH 1:* (UID ENVELOPE RFC822.SIZE FLAGS)",
    "FETCH 1:* (BODY)",
    "UID FETCH 1:* (BODYSTRUCTURE RFC822.SIZE)",
    "FETCH 1:* ALL",
    "FETCH 1:* FULL",
    "FETCH 2,4:6 (FLAGS BODY BODYSTRUCTURE UID ENVELOPE BODY)",
    "FETCH 1:* (MODSEQ BODYSTRUCTURE)",
    "UID FETCH 1:* (ENVELOPE) (CHANGEDSINCE 1)",
    "UID FETCH 1,20,33 (BODYSTRUCTURE ENVELOPE)",  # a sparse set: read with IN, not a range
]
SETUPS = [[], ["ENABLE UTF8=ACCEPT"], ["ENABLE IMAP4rev2"], ["ENABLE CONDSTORE"]]


def messages() -> list[bytes]:
    return [*corpus(24), PLAIN, ALTERNATIVE, MIXED, NO_TYPE, HEADER_ONLY, *EXTRA]


def build(tmp_path: Path, raws: list[bytes] | None = None, *, new_every: int = 0) -> Path:
    """A Maildir of ``raws`` with varied flags; with ``new_every`` every such message is in new/
    (\\Recent for the session that claims it)."""
    files = {
        (
            f"new/{1700000000 + n}.M{n}P1.host"
            if new_every and n % new_every == new_every - 1
            else f"cur/{1700000000 + n}.M{n}P1.host:2,{letters}"
        ): raw
        for n, (raw, letters) in enumerate(zip(raws or messages(), itertools.cycle(LETTERS)))
    }
    return make_maildir(tmp_path / "Maildir", {"INBOX": {"messages": [], "files": files}})


def open_store(tmp_path: Path) -> MaildirStore:
    """A store as after a restart: its own registry, the same Maildir and state directory."""
    return MaildirStore(tmp_path / "Maildir", state_dir=tmp_path / "state", fsync=False, registry=Registry())


def cache_file(tmp_path: Path) -> Path:
    found = list((tmp_path / "state").glob("*" + structcache.CACHE_SUFFIX))
    assert len(found) == 1, found
    return found[0]


def rows(tmp_path: Path) -> dict[int, tuple[Any, ...]]:
    with sqlite3.connect(cache_file(tmp_path)) as db:
        return {r[0]: r[1:] for r in db.execute("SELECT uid, envelope, body, bodystructure FROM struct")}


class Opens:
    """Counts message files opened by the store (``mailbox.open_message``)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = mailbox_mod.open_message

        def counting(path: Path | str) -> BinaryIO:
            self.count += 1
            return real(path)

        monkeypatch.setattr(mailbox_mod, "open_message", counting)


@pytest.fixture(autouse=True)
def _empty_memory() -> Iterator[None]:
    structcache.MEMORY.clear()
    yield
    structcache.MEMORY.clear()


async def both(s: Session, monkeypatch: pytest.MonkeyPatch, line: str) -> tuple[bytes, bytes]:
    fast = await s.cmd(line)
    with monkeypatch.context() as m:
        m.setattr(fetch_mod, "plan_for", lambda items, mailbox: None)
        slow = await s.cmd(line)
    return fast, slow


@pytest.mark.parametrize("select", ["SELECT", "EXAMINE"])
@pytest.mark.parametrize("setup", SETUPS, ids=lambda s: s[0] if s else "plain")
async def test_same_octets_cold_and_warm(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, setup: list[str], select: str
) -> None:
    build(tmp_path, new_every=7)
    s = Session(open_store(tmp_path))
    for n, line in enumerate([*setup, f"{select} INBOX"]):
        await s.cmd(f"s{n} {line}")
    count = len(messages())
    for n, command in enumerate(COMMANDS):
        if "MODSEQ" in command or "CHANGEDSINCE" in command:
            await s.cmd("m0 FETCH 1 (MODSEQ)")  # the first MODSEQ announces HIGHESTMODSEQ once
        for round_ in ("cold", "file", "memory"):
            if round_ == "file":
                structcache.MEMORY.clear()
            fast, slow = await both(s, monkeypatch, f"c{n} {command}")
            assert fast == slow, (command, round_)
            verb = b"UID FETCH" if command.startswith("UID") else b"FETCH"
            assert fast.endswith(b"c%d OK %s completed.\r\n" % (n, verb))
            if "1:*" in command and "CHANGEDSINCE" not in command:
                assert fast.count(b" FETCH (") == count, command
    assert len(rows(tmp_path)) == count
    recent = (await s.cmd("r FETCH 1:* (FLAGS ENVELOPE)")).count(b"\\Recent")
    # EXAMINE shows \\Recent without claiming it; IMAP4rev2 has none (RFC 9051 Appendix E).
    assert recent == (0 if "IMAP4rev2" in str(setup) else len(messages()) // 7)


async def test_prefill_keeps_full_rows(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``fetch_structs.prefill`` (for ``maildird reindex``): full rows for every message, after which a
    FETCH reads no file."""
    build(tmp_path)
    store = open_store(tmp_path)
    mailbox = await store.open("INBOX", readonly=True)
    uids = [m.uid for m in (await mailbox.snapshot()).messages]
    computed = await prefill(mailbox.structures(), mailbox.read_messages, uids)
    assert computed == len(uids) - 1  # not the empty message
    assert await prefill(mailbox.structures(), mailbox.read_messages, uids) == 0
    await mailbox.close()
    structcache.MEMORY.clear()
    s = Session(open_store(tmp_path))
    await s.cmd("a0 SELECT INBOX")
    opens = Opens(monkeypatch)
    fast = await s.cmd("a1 FETCH 1:* (ENVELOPE BODYSTRUCTURE BODY)")
    assert opens.count == 1  # the empty message: never kept by prefill, read by the FETCH
    with monkeypatch.context() as m:
        m.setattr(fetch_mod, "plan_for", lambda items, mailbox: None)
        assert await s.cmd("a1 FETCH 1:* (ENVELOPE BODYSTRUCTURE BODY)") == fast


async def test_utf8_forms_are_kept_apart(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A parameter name with 8-bit octets is quoted under UTF8=ACCEPT and a literal without it: both
    sessions get their own form from the same cached row."""
    build(tmp_path, [MODE_DEPENDENT])
    store = open_store(tmp_path)
    plain, utf8 = Session(store), Session(store)
    await utf8.cmd("u0 ENABLE UTF8=ACCEPT")
    answers = []
    for s in (plain, utf8, plain, utf8):
        await s.cmd("a0 SELECT INBOX")
        fast, slow = await both(s, monkeypatch, "a1 FETCH 1 (BODYSTRUCTURE)")
        assert fast == slow
        answers.append(fast)
    assert answers[0] == answers[2] and answers[1] == answers[3]
    assert b'{10}\r\nna\xef\xbf\xbd\xef\xbf\xbdve "1"' in answers[0]
    assert b'("na\xef\xbf\xbd\xef\xbf\xbdve" "1"' in answers[1]


async def test_restart_reads_no_message_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    root = build(tmp_path)
    s = Session(open_store(tmp_path))
    await s.cmd("a0 SELECT INBOX")
    first = await s.cmd("a1 FETCH 1:* (ENVELOPE BODYSTRUCTURE BODY INTERNALDATE)")
    structcache.MEMORY.clear()
    opens = Opens(monkeypatch)
    s = Session(open_store(tmp_path))
    await s.cmd("a0 SELECT INBOX")
    again = await s.cmd("a1 FETCH 1:* (ENVELOPE BODYSTRUCTURE BODY INTERNALDATE)")
    assert again == first
    assert opens.count == 0
    # The probe: files never change, so new octets in place are seen only by a file read.
    for name in os.listdir(root / "cur"):
        path = root / "cur" / name
        stat = path.stat()
        path.write_bytes(b"Subject: replaced\n\nnew\n")
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # INTERNALDATE is the mtime
    assert await s.cmd("a2 FETCH 1:* (ENVELOPE BODYSTRUCTURE BODY INTERNALDATE)") == again.replace(
        b"a1 ", b"a2 "
    )
    assert opens.count == 0


async def test_envelope_rows_grow_into_full_rows(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """ENVELOPE alone reads the header only and keeps an envelope row; BODYSTRUCTURE then parses the
    whole message once and completes the row."""
    build(tmp_path)
    s = Session(open_store(tmp_path))
    await s.cmd("a0 SELECT INBOX")
    fast, slow = await both(s, monkeypatch, "a1 FETCH 1:* (ENVELOPE)")
    assert fast == slow
    assert all(r[1] is None and r[2] is None for r in rows(tmp_path).values())
    fast, slow = await both(s, monkeypatch, "a2 FETCH 1:* (RFC822.SIZE BODYSTRUCTURE)")
    assert fast == slow
    full = rows(tmp_path)
    assert all(r[1] is not None and r[2] is not None for r in full.values())
    opens = Opens(monkeypatch)
    structcache.MEMORY.clear()
    fast, slow = await both(s, monkeypatch, "a3 FETCH 1:* (ENVELOPE BODY)")
    assert fast == slow
    assert opens.count == len(messages())  # the general path's reads only


async def test_huge_message_is_answered_but_not_kept(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """3,000 parts and 3,000 addresses: computed in a worker thread each time, its row over
    ``MAX_CACHED_ROW`` not kept."""
    build(tmp_path, [PLAIN, HUGE])
    s = Session(open_store(tmp_path))
    await s.cmd("a0 SELECT INBOX")
    fast, slow = await both(s, monkeypatch, "a1 FETCH 1:* (ENVELOPE BODYSTRUCTURE)")
    assert fast == slow
    assert b"<u2999@example.org>" not in fast  # addresses are split into parts, not kept whole
    assert b'"u2999" "example.org"' in fast
    assert fast.count(b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" ') >= PARTS
    assert sorted(rows(tmp_path)) == [1]


async def test_expunge_and_move_drop_rows(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    build(tmp_path, [PLAIN, ALTERNATIVE, MIXED, NO_TYPE])
    store = open_store(tmp_path)
    await store.create("Archive")
    s = Session(store)
    await s.cmd("a0 SELECT INBOX")
    await s.cmd("a1 FETCH 1:2 (BODYSTRUCTURE)")  # 1 and 2 in memory too (a small request)
    await s.cmd("a2 FETCH 1:* (BODYSTRUCTURE)")
    assert sorted(rows(tmp_path)) == [1, 2, 3, 4]
    assert len(structcache.MEMORY) == 4
    await s.cmd("a3 STORE 1 +FLAGS.SILENT (\\Deleted)")
    await s.cmd("a4 EXPUNGE")  # UIDs 1 and 4 (built with \Deleted, LETTERS)
    assert sorted(rows(tmp_path)) == [2, 3]
    await s.cmd("a5 UID MOVE 2 Archive")
    assert sorted(rows(tmp_path)) == [3]
    assert len(structcache.MEMORY) == 1
    fast, slow = await both(s, monkeypatch, "a6 FETCH 1:* (ENVELOPE BODYSTRUCTURE)")
    assert fast == slow and fast.count(b" FETCH (") == 1


async def test_expunged_in_view_is_reported_like_the_general_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    build(tmp_path, [PLAIN, ALTERNATIVE])
    store = open_store(tmp_path)
    viewer, other = Session(store), Session(store)
    await viewer.cmd("a0 SELECT INBOX")
    await viewer.cmd("a1 FETCH 1:* (BODYSTRUCTURE)")
    await other.cmd("b0 SELECT INBOX")
    await other.cmd("b1 STORE 1 +FLAGS.SILENT (\\Deleted)")
    await other.cmd("b2 EXPUNGE")
    fast, slow = await both(viewer, monkeypatch, "a2 FETCH 1:* (ENVELOPE BODYSTRUCTURE)")
    assert fast == slow
    assert b"a2 NO [EXPUNGEISSUED]" in fast and b"* 2 FETCH (" in fast


async def test_new_uidvalidity_empties_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    root = build(tmp_path, [PLAIN, ALTERNATIVE])
    s = Session(open_store(tmp_path))
    await s.cmd("a0 SELECT INBOX")
    await s.cmd("a1 FETCH 1:* (ENVELOPE BODYSTRUCTURE)")
    assert len(rows(tmp_path)) == 2
    # Another program recreates the folder: new files, a new uidlist (new UIDVALIDITY, same GUID).
    uidlist = (root / UIDLIST_NAME).read_bytes()
    header, _, rest = uidlist.partition(b"\n")
    fields = header.split(b" ")
    fields[1] = b"V%d" % (int(fields[1][1:]) + 7)
    (root / UIDLIST_NAME).write_bytes(b" ".join(fields) + b"\n" + rest)
    for name in os.listdir(root / "cur"):
        (root / "cur" / name).write_bytes(b"From: new@example.org\nSubject: renewed\n\nx\n")
    structcache.MEMORY.clear()
    s = Session(open_store(tmp_path))
    await s.cmd("a0 SELECT INBOX")
    fast, slow = await both(s, monkeypatch, "a1 FETCH 1:* (ENVELOPE BODYSTRUCTURE)")
    assert fast == slow
    assert fast.count(b'"renewed"') == 2


async def test_delete_removes_the_file(tmp_path: Path) -> None:
    build(tmp_path, [PLAIN])
    store = open_store(tmp_path)
    await store.create("Box")
    s = Session(store)
    await s.cmd(f"a0 APPEND Box {{{len(PLAIN)}}}\r\n" + PLAIN.decode())
    await s.cmd("a1 SELECT Box")
    await s.cmd("a2 FETCH 1 (BODYSTRUCTURE)")
    assert cache_file(tmp_path).exists()
    await s.cmd("a3 UNSELECT")
    assert (await s.cmd("a4 DELETE Box")).endswith(b"a4 OK DELETE completed.\r\n")
    assert list((tmp_path / "state").glob("*" + structcache.CACHE_SUFFIX)) == []


@pytest.mark.parametrize("damage", ["garbage", "truncated", "wrong-types", "while-open"])
async def test_damaged_file_never_fails_a_fetch(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, damage: str
) -> None:
    build(tmp_path, [PLAIN, ALTERNATIVE, MIXED])
    s = Session(open_store(tmp_path))
    await s.cmd("a0 SELECT INBOX")
    good = await s.cmd("a1 FETCH 1:* (ENVELOPE BODYSTRUCTURE)")
    path = cache_file(tmp_path)
    if damage != "while-open":
        s = Session(open_store(tmp_path))  # a restart: the file is opened anew
        await s.cmd("a0 SELECT INBOX")
    structcache.MEMORY.clear()
    if damage == "wrong-types":
        with sqlite3.connect(path) as db:
            db.execute("UPDATE struct SET envelope = 'text', body = 42 WHERE uid = 2")
    elif damage == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 3])
    else:
        for suffix in ("", "-wal"):
            side = Path(f"{path}{suffix}")
            if side.exists():
                side.write_bytes(b"\xde\xad" * 4096)
    fast, slow = await both(s, monkeypatch, "a2 FETCH 1:* (ENVELOPE BODYSTRUCTURE)")
    assert fast == slow == good.replace(b"a1 ", b"a2 ")
    structcache.MEMORY.clear()
    assert await s.cmd("a3 FETCH 1:* (ENVELOPE BODYSTRUCTURE)") == good.replace(b"a1 ", b"a3 ")
    # A file damaged under an open connection may still answer from SQLite's page cache; a restart
    # finds the damage, rebuilds the file and fills it again.
    structcache.MEMORY.clear()
    s = Session(open_store(tmp_path))
    await s.cmd("a0 SELECT INBOX")
    assert await s.cmd("a4 FETCH 1:* (ENVELOPE BODYSTRUCTURE)") == good.replace(b"a1 ", b"a4 ")
    assert len(rows(tmp_path)) == 3


async def test_unusable_file_rests_and_fetch_answers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A cache file SQLite cannot open (here a directory in its place) is skipped, not removed: the
    FETCH answers from the message files and says the same."""
    build(tmp_path, [PLAIN, MIXED])
    s = Session(open_store(tmp_path))
    await s.cmd("a0 SELECT INBOX")
    good = await s.cmd("a1 FETCH 1:* (ENVELOPE BODYSTRUCTURE)")
    path = cache_file(tmp_path)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.mkdir()
    structcache.MEMORY.clear()
    s = Session(open_store(tmp_path))
    await s.cmd("a0 SELECT INBOX")
    opens = Opens(monkeypatch)
    fast, slow = await both(s, monkeypatch, "a1 FETCH 1:* (ENVELOPE BODYSTRUCTURE)")
    assert fast == slow == good
    assert opens.count == 4  # both paths read both files
    assert path.is_dir()


def test_internaldate_bytes_keeps_zones_apart() -> None:
    """One instant in two zones: equal datetimes, different INTERNALDATE strings (RFC 9051 §9)."""
    utc = datetime(2024, 3, 5, 14, 7, 9, tzinfo=UTC)
    local = utc.astimezone(timezone(timedelta(hours=-7)))
    assert utc == local
    assert internaldate_bytes(utc) == b"05-Mar-2024 14:07:09 +0000"
    assert internaldate_bytes(local) == b"05-Mar-2024 07:07:09 -0700"
    assert internaldate_bytes(utc) == internaldate(utc).encode()


def test_plan_covers_structure_and_snapshot_items_only() -> None:
    att, body = cmd.FetchAtt, cmd.FetchBody
    assert StructPlan.for_items((att("ENVELOPE"),)) is not None
    plan = StructPlan.for_items((att("UID"), att("BODY"), att("FLAGS"), att("BODY")))
    assert plan is not None and plan.items == ("BODY", "FLAGS") and plan.full
    envelope_only = StructPlan.for_items((att("ENVELOPE"), att("RFC822.SIZE")))
    assert envelope_only is not None and not envelope_only.full
    for items in [
        (att("FLAGS"), att("UID")),  # no structure: fetch_lines
        (att("ENVELOPE"), att("RFC822.HEADER")),
        (att("BODYSTRUCTURE"), body(cmd.Section(), peek=True)),
        (att("BODY"), att("SAVEDATE")),
        (att("ENVELOPE"), cmd.FetchBinary((1,), peek=True)),
    ]:
        assert StructPlan.for_items(items) is None, items


async def test_large_requests_skip_the_memory_layer(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Requests over ``MEMORY_FILL_MAX`` messages read the file only and leave memory alone; small ones
    fill it and are answered from it."""
    monkeypatch.setattr(structcache, "MEMORY_FILL_MAX", 4)
    build(tmp_path)
    s = Session(open_store(tmp_path))
    await s.cmd("a0 SELECT INBOX")
    for n, command in enumerate(["FETCH 1:* (ENVELOPE BODYSTRUCTURE)", "FETCH 1:* FULL", "FETCH 3:5 (BODY)"]):
        for _ in range(2):
            fast, slow = await both(s, monkeypatch, f"b{n} {command}")
            assert fast == slow, command
        assert len(structcache.MEMORY) == (3 if "3:5" in command else 0)
    opens = Opens(monkeypatch)
    assert await s.cmd("c0 FETCH 3:5 (BODY)") == fast.replace(b"b2 ", b"c0 ")
    assert opens.count == 0
