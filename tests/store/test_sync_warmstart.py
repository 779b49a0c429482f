"""The restart fast path: a fresh Folder trusts its sidecar without listing new/ and cur/ only when the
stamps prove nothing changed (stamps module docstring); every change another program can make, in
every window, is still seen."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from maildird.store.base import NewMessage, Snapshot
from maildird.store.maildir import sync
from maildird.store.maildir.keywords import KEYWORDS_NAME
from maildird.store.maildir.mailbox import MaildirMailbox
from maildird.store.maildir.stamps import SyncMark
from maildird.store.maildir.state import SYNC_MARK_KEY
from maildird.store.maildir.store import MaildirStore
from maildird.store.maildir.uidlist import UIDLIST_NAME, UidRecord, read_uidlist, rewrite_uidlist
from maildird.store.registry import Registry

MSG = b"Subject: x\n\nbody\n"
PAST = 30  # seconds: directory mtimes this old are outside the dirty window


def make_store(tmp_path: Path) -> MaildirStore:
    return MaildirStore(tmp_path / "Maildir", state_dir=tmp_path / "state", registry=Registry())


def age_dirs(root: Path, seconds: float = PAST) -> None:
    """Pretend new/ and cur/ last changed ``seconds`` ago (so a sync now is settled)."""
    when = time.time() - seconds
    for sub in ("new", "cur"):
        os.utime(root / sub, (when, when))


def set_mtime(path: Path, mtime_ns: int) -> None:
    os.utime(path, ns=(mtime_ns, mtime_ns))


def file_of(root: Path, uid: int, sub: str = "cur") -> str:
    """The file name of a UID (by the uidlist: names do not sort by UID, M<usec> is unpadded)."""
    ul = read_uidlist(root)
    assert ul is not None
    base = next(r.filename for r in ul.records if r.uid == uid)
    return next(n for n in os.listdir(root / sub) if n.split(":")[0] == base)


def view(snap: Snapshot) -> tuple[Any, ...]:
    return (
        snap.uidvalidity,
        snap.uidnext,
        snap.highestmodseq,
        snap.keywords,
        tuple((m.uid, m.flags, m.size, m.internaldate, m.modseq) for m in snap.messages),
    )


def sidecar_mark(mb: MaildirMailbox) -> str:
    state = mb.folder.state
    assert state is not None
    row = state._db.execute("SELECT value FROM meta WHERE key = ?", (SYNC_MARK_KEY,)).fetchone()
    return str(row[0]) if row else ""


async def settled_folder(tmp_path: Path, count: int = 5) -> tuple[Snapshot, str]:
    """A folder with ``count`` messages (keywords too) whose last full sync left a settled mark;
    returns that sync's snapshot and the mark. The store is closed (the server "stops")."""
    store = make_store(tmp_path)
    inbox = await store.open("INBOX")
    flags = [frozenset(), frozenset({"\\Seen"}), frozenset({"\\Flagged", "Work"})]
    await inbox.append([NewMessage(MSG + b"%d\n" % i, flags[i % 3]) for i in range(count)])
    await inbox.snapshot(claim_recent=True)  # new/ -> cur/
    age_dirs(tmp_path / "Maildir")
    inbox.folder.dirty = True
    snap = await inbox.snapshot()
    mark = sidecar_mark(inbox)
    await store.close()
    assert SyncMark.decode(mark) is not None, "the settled sync must record its mark"
    return snap, mark


async def reopen(tmp_path: Path, *, claim: bool = False) -> tuple[MaildirStore, MaildirMailbox, Snapshot]:
    store = make_store(tmp_path)
    inbox = await store.open("INBOX")
    return store, inbox, await inbox.snapshot(claim_recent=claim)


def forbid_listing(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(folder: Path) -> Any:
        raise AssertionError(f"listed {folder} although the sidecar's mark matched")

    monkeypatch.setattr(sync, "list_dir", boom)


async def test_restart_trusts_a_settled_mark_and_lists_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before, _ = await settled_folder(tmp_path)
    forbid_listing(monkeypatch)
    store, inbox, snap = await reopen(tmp_path, claim=True)
    assert view(snap) == view(before)
    assert inbox.folder._ul_deferred  # the uidlist's records were not even parsed
    assert not inbox.folder.needs_sync(claim_recent=True)
    await store.close()


async def test_warm_state_equals_a_full_sync(tmp_path: Path) -> None:
    """Same snapshot, and the same in-memory records, as a restart that lists everything."""
    await settled_folder(tmp_path, count=12)
    store, warm, snap = await reopen(tmp_path)
    warm_msgs, warm_bases = dict(warm.folder.msgs), dict(warm.folder.by_base)
    await store.close()
    cold_store = make_store(tmp_path)
    cold = await cold_store.open("INBOX")
    cold.folder._warm_start = lambda *a, **k: False  # type: ignore[method-assign]
    full = await cold.snapshot()
    assert view(full) == view(snap)
    assert cold.folder.msgs == warm_msgs and cold.folder.by_base == warm_bases
    assert cold.folder.uidlist == read_uidlist(tmp_path / "Maildir")
    await cold_store.close()


async def test_unsettled_sync_records_no_mark(tmp_path: Path) -> None:
    """The same-second race: a sync within 1 s of the directories' last change records no mark, so a
    later change that left the mtime as it was (same clock tick) is still found by listing."""
    root = tmp_path / "Maildir"
    store = make_store(tmp_path)
    inbox = await store.open("INBOX")
    await inbox.append([NewMessage(MSG), NewMessage(MSG)])
    await inbox.snapshot(claim_recent=True)
    inbox.folder.dirty = True
    await inbox.snapshot()  # the directories changed just now: not settled
    assert sidecar_mark(inbox) == ""
    await store.close()
    # Another program flags a message; the tick did not move, so cur/ keeps its mtime.
    cur_mtime = os.stat(root / "cur").st_mtime_ns
    name = file_of(root, 1)
    os.rename(root / "cur" / name, root / "cur" / (name.split(":")[0] + ":2,FS"))
    set_mtime(root / "cur", cur_mtime)
    store, _, snap = await reopen(tmp_path)
    assert snap.messages[0].flags == {"\\Flagged", "\\Seen"}
    await store.close()


@pytest.mark.parametrize("sub", ["new", "cur"])
async def test_mark_needs_both_directories_settled(tmp_path: Path, sub: str) -> None:
    root = tmp_path / "Maildir"
    store = make_store(tmp_path)
    inbox = await store.open("INBOX")
    await inbox.append([NewMessage(MSG)])
    await inbox.snapshot(claim_recent=True)
    age_dirs(root)
    os.utime(root / sub)  # this one changed just now
    inbox.folder.dirty = True
    await inbox.snapshot()
    assert sidecar_mark(inbox) == ""
    await store.close()


async def test_plain_rename_after_the_mark_is_seen(tmp_path: Path) -> None:
    """A flag change by a program that takes no lock (mutt, mbsync): cur/'s mtime moves."""
    root = tmp_path / "Maildir"
    await settled_folder(tmp_path)
    name = file_of(root, 1)
    os.rename(root / "cur" / name, root / "cur" / (name.split(":")[0] + ":2,T"))
    store, _, snap = await reopen(tmp_path)
    assert snap.messages[0].flags == {"\\Deleted"}
    await store.close()


async def test_delivery_and_unlink_after_the_mark_are_seen(tmp_path: Path) -> None:
    root = tmp_path / "Maildir"
    before, _ = await settled_folder(tmp_path)
    (root / "tmp" / "1700000000.M1P1.mda").write_bytes(MSG)
    os.rename(root / "tmp" / "1700000000.M1P1.mda", root / "new" / "1700000000.M1P1.mda")
    ul = read_uidlist(root)
    assert ul is not None
    last = ul.records[-1].filename  # the newest message (names do not sort by UID: M<usec> is unpadded)
    os.unlink(root / "cur" / next(n for n in os.listdir(root / "cur") if n.split(":")[0] == last))
    store, _, snap = await reopen(tmp_path)
    uids = [m.uid for m in snap.messages]
    assert uids == [*[m.uid for m in before.messages][:-1], before.uidnext]
    await store.close()


async def test_change_with_the_mtime_put_back_but_directory_replaced(tmp_path: Path) -> None:
    """A restore with ``cp -a`` keeps directory mtimes; the new inode still gives it away."""
    root = tmp_path / "Maildir"
    await settled_folder(tmp_path)
    cur_mtime = os.stat(root / "cur").st_mtime_ns
    shutil.copytree(root / "cur", root / "cur.restored")
    victim = file_of(root, 1, "cur.restored")
    os.unlink(root / "cur.restored" / victim)
    set_mtime(root / "cur.restored", cur_mtime)
    os.rename(root / "cur", root / "cur.old")
    os.rename(root / "cur.restored", root / "cur")
    shutil.rmtree(root / "cur.old")
    store, _, snap = await reopen(tmp_path)
    assert 1 not in [m.uid for m in snap.messages]
    await store.close()


async def test_foreign_uidlist_rewrite_is_seen(tmp_path: Path) -> None:
    """Dovecot recreating the uidlist (new UIDVALIDITY) while the directories stay as they were."""
    root = tmp_path / "Maildir"
    before, _ = await settled_folder(tmp_path)
    stamps = {sub: os.stat(root / sub).st_mtime_ns for sub in ("new", "cur")}
    os.unlink(root / UIDLIST_NAME)
    for sub, m in stamps.items():
        set_mtime(root / sub, m)
    store, _, snap = await reopen(tmp_path)
    assert snap.uidvalidity != before.uidvalidity
    assert len(snap.messages) == len(before.messages)
    await store.close()


async def test_foreign_uidlist_renumbering_is_seen(tmp_path: Path) -> None:
    """Dovecot giving a message a new UID ("Expunged message reappeared") changes only the uidlist:
    the directories are untouched, yet the fast path must not serve the old UID."""
    root = tmp_path / "Maildir"
    before, _ = await settled_folder(tmp_path)
    ul = read_uidlist(root)
    assert ul is not None
    first, *rest = ul.records
    moved = UidRecord(ul.effective_next_uid, first.filename)
    rewrite_uidlist(root, ul.with_records([*rest, moved]), fsync=False)
    store, _, snap = await reopen(tmp_path)
    assert [m.uid for m in snap.messages] == [*[m.uid for m in before.messages][1:], moved.uid]
    await store.close()


async def test_foreign_keywords_change_is_seen(tmp_path: Path) -> None:
    root = tmp_path / "Maildir"
    await settled_folder(tmp_path)
    text = (root / KEYWORDS_NAME).read_bytes()
    assert b"Work" in text
    (root / KEYWORDS_NAME).write_bytes(text.replace(b"Work", b"Home"))
    store, _, snap = await reopen(tmp_path)
    assert "Home" in snap.keywords and "Work" not in snap.keywords
    assert any("Home" in m.flags for m in snap.messages)
    await store.close()


async def test_claim_with_files_in_new_lists(tmp_path: Path) -> None:
    """A SELECT must move new/ files to cur/ (§1.7): the sidecar alone cannot do that."""
    root = tmp_path / "Maildir"
    store = make_store(tmp_path)
    inbox = await store.open("INBOX")
    await inbox.append([NewMessage(MSG), NewMessage(MSG)])
    age_dirs(root)
    inbox.folder.dirty = True
    await inbox.snapshot()  # EXAMINE-like: leaves new/ alone, settled mark
    assert sidecar_mark(inbox) != ""
    await store.close()
    store, _, snap = await reopen(tmp_path, claim=True)
    assert snap.recent == {1, 2}
    assert os.listdir(root / "new") == []
    await store.close()


async def test_writes_after_a_warm_start(tmp_path: Path) -> None:
    """APPEND, COPY, STORE and EXPUNGE on a folder whose uidlist is still deferred."""
    root = tmp_path / "Maildir"
    before, _ = await settled_folder(tmp_path, count=6)
    store, inbox, _ = await reopen(tmp_path)
    assert inbox.folder._ul_deferred
    res = await inbox.append([NewMessage(MSG)])
    assert res.uids == (before.uidnext,)
    await inbox.store_flags([2], "add", frozenset({"\\Deleted"}))
    assert sidecar_mark(inbox) == ""  # any change clears the mark
    assert await inbox.expunge() == (2,)
    await store.create("Foo")
    foo = await store.open("Foo")
    copied = await inbox.copy([1], foo)
    assert copied.pairs == ((1, 1),)
    ul = read_uidlist(root)
    assert ul is not None
    assert [r.uid for r in ul.records] == [1, 3, 4, 5, 6, before.uidnext]
    snap = await inbox.snapshot()
    assert [m.uid for m in snap.messages] == [1, 3, 4, 5, 6, before.uidnext]
    await store.close()


async def test_change_after_a_warm_start_is_seen(tmp_path: Path) -> None:
    root = tmp_path / "Maildir"
    await settled_folder(tmp_path)
    store, inbox, snap = await reopen(tmp_path)
    (root / "new" / "1700000000.M1P1.mda").write_bytes(MSG)
    again = await inbox.snapshot()
    assert len(again.messages) == len(snap.messages) + 1
    await store.close()


async def test_damaged_mark_is_not_trusted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "Maildir"
    await settled_folder(tmp_path)
    store = make_store(tmp_path)
    inbox = await store.open("INBOX")
    calls: list[Path] = []
    real = sync.list_dir

    def counting(folder: Path) -> Any:
        calls.append(folder)
        return real(folder)

    monkeypatch.setattr(sync, "list_dir", counting)
    state_file = next((tmp_path / "state").glob("*.sqlite"))
    import sqlite3

    db = sqlite3.connect(state_file)
    with db:
        db.execute("UPDATE meta SET value = 'garbage' WHERE key = ?", (SYNC_MARK_KEY,))
    db.close()
    await inbox.snapshot()
    assert calls == [root]
    await store.close()


@pytest.mark.interop
async def test_dovecot_changes_while_we_are_down(tmp_path: Path) -> None:
    """Dovecot flags, expunges and appends between our settled sync and our restart."""
    from tests.support.dovecot import dovecot_preauth

    root = tmp_path / "Maildir"
    before, _ = await settled_folder(tmp_path)
    uids = [m.uid for m in before.messages]
    literal = b"Subject: from dovecot\r\n\r\nhi\r\n"
    dovecot_preauth(
        root,
        [
            "a SELECT INBOX",
            f"b UID STORE {uids[0]} +FLAGS (\\Answered)",
            f"c UID STORE {uids[1]} +FLAGS (\\Deleted)",
            "d EXPUNGE",
            f"e APPEND INBOX (\\Seen) {{{len(literal)}+}}".encode() + b"\r\n" + literal + b"\r\n",
        ],
    )
    store, _, snap = await reopen(tmp_path)
    got = {m.uid: m.flags for m in snap.messages}
    assert uids[1] not in got
    assert "\\Answered" in got[uids[0]]
    assert max(got) >= before.uidnext and got[max(got)] == {"\\Seen"}
    await store.close()
