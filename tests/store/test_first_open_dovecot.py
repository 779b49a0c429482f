"""A folder's first open (no ``dovecot-uidlist`` of ours, no sidecar) side by side with Dovecot's own
``imap`` (PREAUTH on a pipe): the UIDs it gives every file are the ones Dovecot gives the same files
(maildir-format.md §3.3.3, Dovecot's sort order), the list it writes is one Dovecot reads as is, and
opening a Maildir Dovecot numbered (its uidlist, no sidecar) gives Dovecot's RFC822.SIZE and
INTERNALDATE for every message (§1.4, §1.8)."""

from __future__ import annotations

import os
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from maildird.store.base import Snapshot
from maildird.store.maildir.store import MaildirStore
from maildird.store.maildir.uidlist import read_uidlist
from maildird.store.registry import Registry
from tests.support.dovecot import dovecot_preauth

pytestmark = pytest.mark.interop

FETCH_RE = re.compile(rb"^\* \d+ FETCH \((.*)\)\r?$", re.M)
BASE_TIME = 1_700_000_000

# Names as different writers make them (§1.3), so the sort order is exercised: Dovecot's own, with
# and without ,S=/,W=; Postfix's (no .M); one second holding several; info on files in new/ too.
NAMES = [
    ("new", "1700000100.M500P9.dove,S={s},W={w}"),
    ("new", "1700000100.M42P9.dove,S={s},W={w}"),
    ("new", "1700000100.M42P10.dove"),
    ("cur", "1700000050.Vfd01I4242M123456.postfix:2,S"),
    ("cur", "1700000050.Vfd01I17M9.postfix:2,RS"),
    ("cur", "1699999999.M999999P1.old:2,FS"),
    ("new", "1700000200.M1P1.offlineimap:2,F"),
    ("cur", "1700000100.M7P9.dove:2,"),
    ("cur", "1800000000.M0P0.future,W={w}:2,T"),
    ("new", "999.x"),
]
BODIES = [
    b"Subject: lf %d\n\nline\nline two\n",
    b"Subject: crlf %d\r\n\r\nline\r\n",
    b"Subject: mixed %d\r\n\nbare\n\r\n",
]


def deliver(maildir: Path) -> None:
    """The files of ``NAMES``, as delivered by other programs: no uidlist, no index."""
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    for i, (sub, pattern) in enumerate(NAMES):
        body = BODIES[i % len(BODIES)] % i
        vsize = len(body) + body.count(b"\n") - body.count(b"\r\n")
        path = maildir / sub / pattern.format(s=len(body), w=vsize)
        path.write_bytes(body)
        when = BASE_TIME + i * 86_400 + 17
        os.utime(path, (when, when))


def make_store(tmp_path: Path) -> MaildirStore:
    return MaildirStore(tmp_path / "Maildir", state_dir=tmp_path / "state", registry=Registry())


async def first_select(tmp_path: Path) -> Snapshot:
    store = make_store(tmp_path)
    inbox = await store.open("INBOX")
    snap = await inbox.snapshot(claim_recent=True)
    await store.close()
    return snap


def numbering(maildir: Path) -> list[tuple[int, str]]:
    """(UID, base name) of every record of the folder's ``dovecot-uidlist``."""
    ul = read_uidlist(maildir)
    assert ul is not None
    return [(r.uid, r.base) for r in ul.records]


def dovecot_fetch(maildir: Path, open_cmd: str) -> tuple[int, dict[int, tuple[frozenset[str], int, int]]]:
    """(UIDVALIDITY, {uid: (flags, RFC822.SIZE, INTERNALDATE as epoch seconds)}) as Dovecot sees INBOX."""
    out = dovecot_preauth(
        maildir, [f"a {open_cmd} INBOX", "b UID FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE)"]
    )
    uv = re.search(rb"\[UIDVALIDITY (\d+)\]", out)
    assert uv is not None and b"b OK" in out, out
    msgs = {}
    for m in FETCH_RE.finditer(out):
        items = m.group(1).decode()
        uid = re.search(r"UID (\d+)", items)
        flags = re.search(r"FLAGS \(([^)]*)\)", items)
        size = re.search(r"RFC822\.SIZE (\d+)", items)
        date = re.search(r'INTERNALDATE "([^"]+)"', items)
        assert uid and flags and size and date, items
        when = datetime.strptime(date.group(1), "%d-%b-%Y %H:%M:%S %z")
        names = frozenset(f for f in flags.group(1).split() if f != "\\Recent")
        msgs[int(uid.group(1))] = (names, int(size.group(1)), int(when.timestamp()))
    return int(uv.group(1)), msgs


def ours(snap: Snapshot) -> dict[int, tuple[frozenset[str], int, int]]:
    return {m.uid: (m.flags, m.size, int(m.internaldate.astimezone(UTC).timestamp())) for m in snap.messages}


async def test_first_open_numbers_files_as_dovecot_does(tmp_path: Path) -> None:
    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    deliver(mine / "Maildir")
    shutil.copytree(mine / "Maildir", theirs / "Maildir", copy_function=shutil.copy2)
    snap = await first_select(mine)
    dovecot_preauth(theirs / "Maildir", ["a SELECT INBOX"])
    want = numbering(theirs / "Maildir")
    assert len(want) == len(NAMES)
    assert numbering(mine / "Maildir") == want
    assert [m.uid for m in snap.messages] == [uid for uid, _ in want]
    assert snap.uidnext == len(NAMES) + 1
    # Both moved new/ to cur/ the same way (SELECT, §1.7).
    for tree in (mine, theirs):
        assert not list((tree / "Maildir" / "new").iterdir())
    assert sorted(p.name for p in (mine / "Maildir" / "cur").iterdir()) == sorted(
        p.name for p in (theirs / "Maildir" / "cur").iterdir()
    )


async def test_dovecot_reads_the_list_a_first_open_wrote(tmp_path: Path) -> None:
    maildir = tmp_path / "Maildir"
    deliver(maildir)
    snap = await first_select(tmp_path)
    head = (maildir / "dovecot-uidlist").read_bytes().split(b"\n", 1)[0]
    assert re.fullmatch(rb"3 V%d N%d G[0-9a-f]{32}" % (snap.uidvalidity, len(NAMES) + 1), head), head
    uidvalidity, seen = dovecot_fetch(maildir, "EXAMINE")
    assert uidvalidity == snap.uidvalidity
    assert seen == ours(snap)


async def test_first_open_of_a_dovecot_maildir_has_dovecots_sizes_and_dates(tmp_path: Path) -> None:
    maildir = tmp_path / "Maildir"
    deliver(maildir)
    uidvalidity, theirs = dovecot_fetch(maildir, "SELECT")  # Dovecot numbers them; no sidecar of ours
    assert len(theirs) == len(NAMES)
    snap = await first_select(tmp_path)
    assert snap.uidvalidity == uidvalidity
    assert ours(snap) == theirs
