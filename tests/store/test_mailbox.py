"""MaildirMailbox on real tmp Maildirs through the async API."""

from __future__ import annotations

import errno
import os
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from maildird.store.base import LimitExceeded, MessageGone, NewMessage, NoSpace, PermissionDenied
from maildird.store.maildir.filenames import base_of, parse_name
from maildird.store.maildir.mailbox import MaildirMailbox
from maildird.store.maildir.store import MaildirStore
from maildird.store.maildir.uidlist import read_uidlist
from maildird.store.registry import Registry
from maildird.store.view import SelectedView

MSG = b"From: a@example.org\nSubject: hi\n\nbody line\n"


def make_store(tmp_path: Path) -> MaildirStore:
    """A fresh store object (fresh registry: like a new process) on the same Maildir and state."""
    return MaildirStore(tmp_path / "Maildir", state_dir=tmp_path / "state", registry=Registry())


def files(folder: Path) -> dict[str, list[str]]:
    return {sub: sorted(os.listdir(folder / sub)) for sub in ("new", "cur", "tmp")}


def deliver(folder: Path, base: str, data: bytes = MSG, *, link: bool = False, info: str = "") -> Path:
    """An outside MDA: write tmp/, then rename (dovecot-lda style) or link+unlink (Postfix style)."""
    tmp = folder / "tmp" / base
    tmp.write_bytes(data)
    dest = folder / ("cur" if info else "new") / (base + info)
    if link:
        os.link(tmp, dest)
        os.unlink(tmp)
    else:
        os.rename(tmp, dest)
    return dest


async def open_inbox(tmp_path: Path, *, readonly: bool = False) -> tuple[MaildirStore, MaildirMailbox]:
    store = make_store(tmp_path)
    return store, await store.open("INBOX", readonly=readonly)


# --------------------------------------------------------------------------------------------------
# APPEND, snapshot, UID stability


async def test_append_assigns_uids_and_names(tmp_path: Path) -> None:
    store, mb = await open_inbox(tmp_path)
    date = datetime(2024, 2, 3, 4, 5, 6, tzinfo=UTC)
    res = await mb.append(
        [NewMessage(MSG, internaldate=date), NewMessage(MSG.replace(b"\n", b"\r\n"), frozenset({"\\Seen"}))]
    )
    assert res.uids == (1, 2)
    root = tmp_path / "Maildir"
    listing = files(root)
    assert len(listing["new"]) == 1 and len(listing["cur"]) == 1 and listing["tmp"] == []
    plain = parse_name(listing["new"][0])
    assert (plain.size, plain.vsize, plain.has_info) == (len(MSG), len(MSG) + MSG.count(b"\n"), False)
    assert listing["cur"][0].endswith(":2,S")
    assert os.stat(root / "new" / listing["new"][0]).st_mtime == date.timestamp()
    ul = read_uidlist(root)
    assert ul is not None and ul.uidvalidity == res.uidvalidity
    assert [(r.uid, r.filename) for r in ul.records] == [
        (1, listing["new"][0]),
        (2, base_of(listing["cur"][0])),
    ]
    snap = await mb.snapshot()
    assert [(m.uid, m.flags, m.size) for m in snap.messages] == [
        (1, frozenset(), len(MSG) + MSG.count(b"\n")),
        (2, frozenset({"\\Seen"}), len(MSG) + MSG.count(b"\n")),
    ]
    assert snap.messages[0].internaldate == date
    assert snap.uidnext == 3
    assert await mb.read_message(2) == MSG.replace(b"\n", b"\r\n")
    await store.close()


async def test_uids_stable_across_reopen(tmp_path: Path) -> None:
    store, mb = await open_inbox(tmp_path)
    await mb.append([NewMessage(MSG) for _ in range(5)])
    await mb.store_flags([3], "add", frozenset({"\\Flagged"}))
    first = await mb.snapshot()
    await store.close()
    store2, mb2 = await open_inbox(tmp_path)
    second = await mb2.snapshot()
    assert second.uidvalidity == first.uidvalidity
    assert [(m.uid, m.flags, m.size, m.modseq) for m in second.messages] == [
        (m.uid, m.flags, m.size, m.modseq) for m in first.messages
    ]
    assert second.highestmodseq >= first.highestmodseq
    await store2.close()


async def test_claim_recent_moves_new_to_cur_only_read_write(tmp_path: Path) -> None:
    root = tmp_path / "Maildir"
    store, ro = await open_inbox(tmp_path, readonly=True)
    await ro.append([NewMessage(MSG)])
    snap = await ro.snapshot(claim_recent=True)  # EXAMINE: nothing moves, nothing is claimed
    assert snap.recent == {1}  # but it is reported recent (RFC 3501 §6.3.2), for the next SELECT too

    assert len(files(root)["new"]) == 1
    rw = await store.open("INBOX")
    before = await rw.snapshot()
    snap = await rw.snapshot(claim_recent=True)
    assert snap.recent == {1}
    assert snap.highestmodseq == before.highestmodseq  # a move to cur/ changes no flag (RFC 7162)
    assert files(root)["new"] == [] and files(root)["cur"][0].endswith(":2,")
    again = await rw.snapshot(claim_recent=True)
    assert again.recent == frozenset()  # claimed once only
    await store.close()


async def test_unchanged_snapshot_is_cached(tmp_path: Path) -> None:
    store, mb = await open_inbox(tmp_path)
    await mb.append([NewMessage(MSG)])
    await mb.snapshot()
    folder = mb.folder
    # Pretend the last scan happened well after the directories changed (outside the dirty window).
    now = folder._current_stamps()
    folder.stamps = replace(now, checked_ns=max(now.new_mtime, now.cur_mtime) + 5 * 10**9)
    assert not folder.needs_sync(claim_recent=False)
    deliver(tmp_path / "Maildir", "1700000000.M1P1.mda")
    assert folder.needs_sync(claim_recent=False)
    await store.close()


# --------------------------------------------------------------------------------------------------
# Outside writers


@pytest.mark.parametrize("link", [False, True], ids=["rename", "link"])
async def test_outside_delivery_between_snapshots(tmp_path: Path, link: bool) -> None:
    store, mb = await open_inbox(tmp_path)
    await mb.append([NewMessage(MSG)])
    before = await mb.snapshot()
    view = SelectedView(mb, before, readonly=False)
    root = tmp_path / "Maildir"
    deliver(root, "1700000020.M5P1.mda", link=link)
    deliver(root, "1700000019.M9P1.mda", link=link)
    after = await mb.snapshot()
    assert [m.uid for m in after.messages] == [1, 2, 3]
    ul = read_uidlist(root)
    assert ul is not None
    # Dovecot sort order: the earlier seconds first.
    assert [r.filename for r in ul.records[1:]] == ["1700000019.M9P1.mda", "1700000020.M5P1.mda"]
    up = view.refresh(after, allow_expunge=True)
    assert up.exists == 3
    await store.close()


async def test_outside_flag_rename_bumps_modseq(tmp_path: Path) -> None:
    store, mb = await open_inbox(tmp_path)
    root = tmp_path / "Maildir"
    path = deliver(root, "1700000000.M1P1.mda", info=":2,")
    s1 = await mb.snapshot()
    view = SelectedView(mb, s1, readonly=False)
    os.rename(path, path.with_name("1700000000.M1P1.mda:2,FS"))
    s2 = await mb.snapshot()
    assert s2.messages[0].flags == {"\\Flagged", "\\Seen"}
    assert s2.messages[0].modseq > s1.messages[0].modseq
    assert s2.highestmodseq >= s2.messages[0].modseq
    up = view.refresh(s2, allow_expunge=True)
    assert [(seq, m.flags) for seq, m in up.flags] == [(1, frozenset({"\\Flagged", "\\Seen"}))]
    await store.close()


async def test_read_message_follows_outside_rename(tmp_path: Path) -> None:
    store, mb = await open_inbox(tmp_path)
    root = tmp_path / "Maildir"
    path = deliver(root, "1700000000.M1P1.mda", info=":2,")
    await mb.snapshot()
    os.rename(path, path.with_name("1700000000.M1P1.mda:2,S"))
    assert await mb.read_message(1) == MSG
    os.unlink(path.with_name("1700000000.M1P1.mda:2,S"))
    with pytest.raises(MessageGone):
        await mb.read_message(1)
    snap = await mb.snapshot()
    assert snap.messages == ()
    await store.close()


async def test_store_follows_outside_rename(tmp_path: Path) -> None:
    store, mb = await open_inbox(tmp_path)
    root = tmp_path / "Maildir"
    path = deliver(root, "1700000000.M1P1.mda", info=":2,")
    await mb.snapshot()
    os.rename(path, path.with_name("1700000000.M1P1.mda:2,F"))  # unknown to us yet
    res = await mb.store_flags([1], "add", frozenset({"\\Seen"}))
    assert [m.flags for m in res.changed] == [frozenset({"\\Flagged", "\\Seen"})]
    assert files(root)["cur"] == ["1700000000.M1P1.mda:2,FS"]
    await store.close()


async def test_expunged_base_reappearing_gets_new_uid(tmp_path: Path) -> None:
    store, mb = await open_inbox(tmp_path)
    root = tmp_path / "Maildir"
    path = deliver(root, "1700000011.M1P999.mda", info=":2,S")
    await mb.snapshot()
    os.rename(path, tmp_path / "saved")
    assert (await mb.snapshot()).messages == ()
    os.rename(tmp_path / "saved", path)  # a backup restore
    snap = await mb.snapshot()
    assert [m.uid for m in snap.messages] == [2]
    await store.close()


async def test_duplicate_base_gets_own_uid(tmp_path: Path) -> None:
    store, mb = await open_inbox(tmp_path)
    root = tmp_path / "Maildir"
    deliver(root, "1700000000.M1P1.mda", info=":2,S")
    (root / "cur" / "1700000000.M1P1.mda:2,F").write_bytes(b"Subject: other\n\nx\n")
    snap = await mb.snapshot()
    assert [m.uid for m in snap.messages] == [1, 2]
    bases = {base_of(n) for n in files(root)["cur"]}
    assert len(bases) == 2 and "1700000000.M1P1.mda" in bases
    await store.close()


async def test_hardlinked_duplicate_is_one_message(tmp_path: Path) -> None:
    store, mb = await open_inbox(tmp_path)
    root = tmp_path / "Maildir"
    p = deliver(root, "1700000000.M1P1.mda", info=":2,S")
    os.link(p, root / "cur" / "1700000000.M1P1.mda:2,ST")
    snap = await mb.snapshot()
    assert len(snap.messages) == 1
    await store.close()


# --------------------------------------------------------------------------------------------------
# Hand-written Dovecot files (maildir-format.md Appendix A)

UIDLIST_E2B = (
    b"3 V1795836464 N5 Gf0325c03304a0a6b4863000083ecc375\n"
    b"1 :1795836464.M53864P25416.vm,S=86,W=92\n"
    b"2 :1795836464.M115755P25416.vm,S=86,W=92\n"
    b"3 :1700000000.Vfd01I4242M123456.otherhost\n"
    b"4 :1795836483.M471722P26655.vm,S=100,W=106\n"
    b"5 :1700000010.M0P999.mda\n"
    b"6 :1700000011.M1P999.mda\n"
    b"7 :1700000012.M2P999.mda\n"
)
KEYWORDS_E1 = b"0 $Label1\n1 Junk\n2 NonJunk\n16 unknown-16\n"


def dovecot_tree(root: Path) -> None:
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "dovecot-uidvalidity").write_bytes(b"6b0a4a30")
    (root / "dovecot-uidvalidity.6b0a4a30").write_bytes(b"")
    (root / "dovecot-uidlist").write_bytes(UIDLIST_E2B)
    (root / "dovecot-keywords").write_bytes(KEYWORDS_E1)
    names = [
        "cur/1795836464.M53864P25416.vm,S=86,W=92:2,DFRScq",
        "cur/1795836464.M115755P25416.vm,S=86,W=92:2,FSab",
        "new/1700000000.Vfd01I4242M123456.otherhost",
        "cur/1795836483.M471722P26655.vm,S=100,W=106:2,S",
        "new/1700000010.M0P999.mda",
        "new/1700000011.M1P999.mda",
        "cur/1700000012.M2P999.mda:2,P",
    ]
    for name in names:
        (root / name).write_bytes(MSG)


async def test_reads_dovecot_files(tmp_path: Path) -> None:
    root = tmp_path / "Maildir"
    dovecot_tree(root)
    store, mb = await open_inbox(tmp_path, readonly=True)
    snap = await mb.snapshot()
    assert snap.uidvalidity == 1795836464
    assert snap.uidnext == 8  # max(N5, last record + 1)
    flags = {m.uid: m.flags for m in snap.messages}
    assert flags == {
        1: {"\\Draft", "\\Flagged", "\\Answered", "\\Seen", "NonJunk", "unknown-16"},
        2: {"\\Flagged", "\\Seen", "$Label1", "Junk"},
        3: frozenset(),
        4: {"\\Seen"},
        5: frozenset(),
        6: frozenset(),
        7: {"$Forwarded"},
    }
    sizes = {m.uid: m.size for m in snap.messages}
    assert sizes[1] == 92 and sizes[4] == 106 and sizes[3] == len(MSG) + MSG.count(b"\n")
    assert snap.keywords == {"$Label1", "Junk", "NonJunk", "unknown-16"}
    # Untouched: nothing rewritten, new/ not moved (read-only), N still stale.
    assert (root / "dovecot-uidlist").read_bytes() == UIDLIST_E2B
    assert (root / "dovecot-keywords").read_bytes() == KEYWORDS_E1
    deliver(root, "1700000020.M5P1.mda")
    deliver(root, "1700000019.M9P1.mda")
    snap = await mb.snapshot()
    assert [m.uid for m in snap.messages][-2:] == [8, 9]
    assert (root / "dovecot-uidlist").read_bytes() == UIDLIST_E2B + (
        b"8 :1700000019.M9P1.mda\n9 :1700000020.M5P1.mda\n"
    )
    await store.close()


async def test_unknown_letter_becomes_unknown_n(tmp_path: Path) -> None:
    store, mb = await open_inbox(tmp_path)
    root = tmp_path / "Maildir"
    deliver(root, "1700000000.M1P1.mda", info=":2,Sk")
    snap = await mb.snapshot()
    assert snap.messages[0].flags == {"\\Seen", "unknown-10"}
    assert (root / "dovecot-keywords").read_bytes() == b"10 unknown-10\n"
    await store.close()


async def test_corrupt_uidlist_new_uidvalidity_and_quarantine(tmp_path: Path) -> None:
    store, mb = await open_inbox(tmp_path)
    await mb.append([NewMessage(MSG), NewMessage(MSG)])
    old = (await mb.snapshot()).uidvalidity
    await store.close()
    root = tmp_path / "Maildir"
    (root / "dovecot-uidlist").write_bytes(b"garbage\n1 :x\n")
    store, mb = await open_inbox(tmp_path)
    snap = await mb.snapshot()
    assert snap.uidvalidity != old
    assert [m.uid for m in snap.messages] == [1, 2]
    broken = [n for n in os.listdir(root) if n.startswith("dovecot-uidlist.broken.")]
    assert len(broken) == 1 and (root / broken[0]).read_bytes() == b"garbage\n1 :x\n"
    await store.close()


async def test_missing_uidlist_new_uidvalidity(tmp_path: Path) -> None:
    store, mb = await open_inbox(tmp_path)
    await mb.append([NewMessage(MSG)])
    old = (await mb.snapshot()).uidvalidity
    await store.close()
    os.unlink(tmp_path / "Maildir" / "dovecot-uidlist")
    store, mb = await open_inbox(tmp_path)
    assert (await mb.snapshot()).uidvalidity != old
    await store.close()


# --------------------------------------------------------------------------------------------------
# STORE, keywords, EXPUNGE


async def test_store_ops_and_unchangedsince(tmp_path: Path) -> None:
    store, mb = await open_inbox(tmp_path)
    await mb.append([NewMessage(MSG), NewMessage(MSG, frozenset({"\\Seen"}))])
    s0 = await mb.snapshot()
    res = await mb.store_flags([1, 2, 99], "add", frozenset({"\\Flagged", "Work"}))
    assert {m.uid: m.flags for m in res.changed} == {
        1: {"\\Flagged", "Work"},
        2: {"\\Flagged", "Work", "\\Seen"},
    }
    assert all(m.modseq > s0.highestmodseq for m in res.changed)
    res = await mb.store_flags([2], "remove", frozenset({"\\Seen", "Nope"}))
    assert [m.flags for m in res.changed] == [frozenset({"\\Flagged", "Work"})]
    res = await mb.store_flags([1], "replace", frozenset({"\\Answered"}))
    assert [m.flags for m in res.changed] == [frozenset({"\\Answered"})]
    # No change: no modseq bump, nothing reported.
    res = await mb.store_flags([1], "add", frozenset({"\\Answered"}))
    assert res.changed == ()
    s1 = await mb.snapshot()
    res = await mb.store_flags(
        [1, 2], "add", frozenset({"\\Draft"}), unchanged_since=min(m.modseq for m in s1.messages) - 1
    )
    assert res.failed == (1, 2)
    res = await mb.store_flags(
        [1, 2], "add", frozenset({"\\Draft"}), unchanged_since=max(m.modseq for m in s1.messages)
    )
    assert res.failed == () and len(res.changed) == 2
    names = files(tmp_path / "Maildir")["cur"]
    assert sorted(n.split(":2,")[1] for n in names) == ["DF" + "a", "DR"]
    await store.close()


async def test_27th_keyword_refused(tmp_path: Path) -> None:
    store, mb = await open_inbox(tmp_path)
    await mb.append([NewMessage(MSG)])
    await mb.store_flags([1], "add", frozenset(f"kw{i:02d}" for i in range(26)))
    snap = await mb.snapshot()
    assert len(snap.messages[0].flags) == 26 and not snap.can_create_keywords
    before = files(tmp_path / "Maildir")
    kw_before = (tmp_path / "Maildir" / "dovecot-keywords").read_bytes()
    with pytest.raises(LimitExceeded):
        await mb.store_flags([1], "add", frozenset({"kw26", "\\Seen"}))
    assert files(tmp_path / "Maildir") == before
    assert (tmp_path / "Maildir" / "dovecot-keywords").read_bytes() == kw_before
    with pytest.raises(LimitExceeded):
        await mb.append([NewMessage(MSG), NewMessage(MSG, frozenset({"another"}))])
    assert files(tmp_path / "Maildir") == before  # all or nothing, tmp/ cleaned
    # Existing keywords still work, case-insensitively.
    res = await mb.store_flags([1], "remove", frozenset({"KW00"}))
    assert "kw00" not in res.changed[0].flags
    await store.close()


async def test_expunge_only_deleted(tmp_path: Path) -> None:
    store, mb = await open_inbox(tmp_path)
    await mb.append([NewMessage(MSG) for _ in range(4)])
    s0 = await mb.snapshot()
    await mb.store_flags([2, 3], "add", frozenset({"\\Deleted"}))
    assert await mb.expunge([3, 4]) == (3,)
    assert await mb.expunge() == (2,)
    snap = await mb.snapshot()
    assert [m.uid for m in snap.messages] == [1, 4]
    ul = read_uidlist(tmp_path / "Maildir")
    assert ul is not None and [r.uid for r in ul.records] == [1, 4]
    assert ul.effective_next_uid == 5
    assert await mb.expunged_since(s0.highestmodseq) == (2, 3)
    gone = await mb.expunged_since(snap.highestmodseq)
    assert gone == ()
    res = await mb.append([NewMessage(MSG)])
    assert res.uids == (5,)
    await store.close()


async def test_readonly_handle_refuses_changes(tmp_path: Path) -> None:
    store, mb = await open_inbox(tmp_path, readonly=True)
    await mb.append([NewMessage(MSG)])  # APPEND does not need a read-write selection
    with pytest.raises(PermissionDenied):
        await mb.store_flags([1], "add", frozenset({"\\Seen"}))
    with pytest.raises(PermissionDenied):
        await mb.expunge()
    await store.close()


async def test_append_enospc_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store, mb = await open_inbox(tmp_path)
    await mb.append([NewMessage(MSG)])
    root = tmp_path / "Maildir"
    before = files(root)
    uidlist_before = (root / "dovecot-uidlist").read_bytes()
    real_rename = os.rename
    calls = {"n": 0}

    def rename(src: object, dst: object) -> None:
        if "/tmp/" in str(src):
            calls["n"] += 1
            if calls["n"] == 2:
                raise OSError(errno.ENOSPC, "No space left on device")
        real_rename(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(NoSpace):
        await mb.append([NewMessage(MSG), NewMessage(MSG, frozenset({"\\Seen"})), NewMessage(MSG)])
    monkeypatch.undo()
    assert files(root) == before
    assert (root / "dovecot-uidlist").read_bytes() == uidlist_before
    assert (await mb.append([NewMessage(MSG)])).uids == (2,)
    await store.close()


# --------------------------------------------------------------------------------------------------
# COPY / MOVE


async def test_copy_translates_keywords_and_keeps_sizes(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    await store.create("Foo")
    inbox = await store.open("INBOX")
    foo = await store.open("Foo")
    await inbox.append([NewMessage(MSG, frozenset({"$Label1", "Junk"}))])
    await inbox.store_flags([1], "add", frozenset({"NonJunk", "\\Answered"}))
    await foo.append([NewMessage(MSG, frozenset({"NonJunk"}))])
    res = await inbox.copy([1, 7], foo)
    assert res.pairs == ((1, 2),)
    snap = await foo.snapshot()
    assert snap.messages[1].flags == {"$Label1", "Junk", "NonJunk", "\\Answered"}
    assert snap.uidvalidity == res.uidvalidity
    foo_dir = tmp_path / "Maildir" / ".Foo"
    assert (foo_dir / "dovecot-keywords").read_bytes() == b"0 NonJunk\n1 $Label1\n2 Junk\n"
    src_name = files(tmp_path / "Maildir")["cur"][0]
    copy_name = next(n for n in files(foo_dir)["cur"] if n.endswith("Rabc"))
    assert base_of(copy_name) != base_of(src_name)  # a fresh base name ...
    assert parse_name(copy_name).size == parse_name(src_name).size  # ... keeping ,S= and ,W=
    assert parse_name(copy_name).vsize == parse_name(src_name).vsize
    assert (
        os.stat(foo_dir / "cur" / copy_name).st_ino == os.stat(tmp_path / "Maildir" / "cur" / src_name).st_ino
    )
    assert await foo.read_message(2) == MSG
    # GUID continuity: the copy's uidlist record names the source's base as its G extension.
    ul = read_uidlist(foo_dir)
    assert ul is not None and ul.records[1].ext("G") == base_of(src_name)
    await store.close()


async def test_move(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    await store.create("Archive")
    inbox = await store.open("INBOX")
    arch = await store.open("Archive")
    await inbox.append([NewMessage(MSG), NewMessage(MSG, frozenset({"\\Seen"}))])
    res = await inbox.move([2], arch)
    assert res.pairs == ((2, 1),)
    assert [m.uid for m in (await inbox.snapshot()).messages] == [1]
    assert [(m.uid, m.flags) for m in (await arch.snapshot()).messages] == [(1, frozenset({"\\Seen"}))]
    await store.close()


async def test_shared_folder_between_handles(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    a = await store.open("INBOX")
    b = await store.open("inbox", readonly=True)
    assert a.folder is b.folder and b.name == "INBOX"
    await a.append([NewMessage(MSG)])
    assert [m.uid for m in (await b.snapshot()).messages] == [1]
    await store.close()


async def test_copy_falls_back_to_a_real_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = make_store(tmp_path)
    await store.create("Other")
    inbox = await store.open("INBOX")
    other = await store.open("Other")
    date = datetime(2023, 5, 6, 7, 8, 9, tzinfo=UTC)
    await inbox.append([NewMessage(MSG, frozenset({"\\Seen"}), date)])

    def no_link(src: object, dst: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_link)
    res = await inbox.copy([1], other)
    monkeypatch.undo()
    assert res.pairs == ((1, 1),)
    snap = await other.snapshot()
    assert [(m.flags, m.internaldate) for m in snap.messages] == [(frozenset({"\\Seen"}), date)]
    name = files(tmp_path / "Maildir" / ".Other")["cur"][0]
    src = files(tmp_path / "Maildir")["cur"][0]
    assert (
        os.stat(tmp_path / "Maildir" / ".Other" / "cur" / name).st_ino
        != os.stat(tmp_path / "Maildir" / "cur" / src).st_ino
    )
    assert await other.read_message(1) == MSG
    await store.close()
