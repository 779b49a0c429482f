"""The full sync's shortcut (``Folder._nothing_moved``): after a change of our own, the sync that the
dirty window forces compares sets of names instead of walking every file, and still finds every
change another program made in the meantime."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from maildird.store.base import NewMessage
from maildird.store.maildir import sync
from maildird.store.maildir.mailbox import MaildirMailbox
from maildird.store.maildir.store import MaildirStore
from maildird.store.maildir.uidlist import read_uidlist
from maildird.store.registry import Registry

MSG = b"Subject: x\n\nbody\n"


async def setup(tmp_path: Path, count: int = 4) -> tuple[MaildirStore, MaildirMailbox, Path]:
    store = MaildirStore(tmp_path / "Maildir", state_dir=tmp_path / "state", registry=Registry())
    inbox = await store.open("INBOX")
    await inbox.append([NewMessage(MSG, frozenset({"\\Seen"})) for _ in range(count)])
    await inbox.snapshot(claim_recent=True)
    await inbox.store_flags([1], "add", frozenset({"\\Flagged"}))  # a change of our own, just now
    return store, inbox, tmp_path / "Maildir"


def name_of(root: Path, uid: int) -> str:
    ul = read_uidlist(root)
    assert ul is not None
    base = next(r.filename for r in ul.records if r.uid == uid)
    return next(n for n in os.listdir(root / "cur") if n.split(":")[0] == base)


def count_listings(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []
    real = sync.list_dir

    def counting(folder: Path) -> Any:
        calls.append(folder)
        return real(folder)

    monkeypatch.setattr(sync, "list_dir", counting)
    return calls


async def test_own_change_then_sync_walks_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store, inbox, root = await setup(tmp_path)
    (root / "cur" / ".hidden").write_bytes(b"")  # not a message: the shortcut still applies
    os.symlink("/etc/hostname", root / "cur" / "1700000000.M9P9.link:2,S")  # never a message
    calls = count_listings(monkeypatch)
    before = inbox.folder.version
    assert inbox.folder.needs_sync(claim_recent=False)  # inside the dirty window
    snap = await inbox.snapshot()
    assert calls == [] and inbox.folder.version == before
    assert {m.uid: m.flags for m in snap.messages}[1] == {"\\Seen", "\\Flagged"}
    await store.close()


async def test_foreign_rename_after_our_change(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store, inbox, root = await setup(tmp_path)
    name = name_of(root, 2)
    os.rename(root / "cur" / name, root / "cur" / (name.split(":")[0] + ":2,ST"))
    calls = count_listings(monkeypatch)
    snap = await inbox.snapshot()
    assert calls  # the names differ: the full walk ran
    assert {m.uid: m.flags for m in snap.messages}[2] == {"\\Seen", "\\Deleted"}
    await store.close()


async def test_foreign_delivery_and_unlink_after_our_change(tmp_path: Path) -> None:
    store, inbox, root = await setup(tmp_path)
    os.unlink(root / "cur" / name_of(root, 3))
    (root / "new" / "1700000000.M1P1.mda").write_bytes(MSG)
    snap = await inbox.snapshot()
    assert [m.uid for m in snap.messages] == [1, 2, 4, 5]
    await store.close()


async def test_a_second_name_for_one_base_is_not_hidden(tmp_path: Path) -> None:
    """Someone linked a message under a second name (a duplicate base): the sets differ."""
    store, inbox, root = await setup(tmp_path)
    name = name_of(root, 2)
    os.link(root / "cur" / name, root / "cur" / (name.split(":")[0] + ":2,R"))
    snap = await inbox.snapshot()
    assert [m.uid for m in snap.messages] == [1, 2, 3, 4]
    await store.close()


async def test_claim_with_new_files_still_claims(tmp_path: Path) -> None:
    store, inbox, root = await setup(tmp_path)
    await inbox.append([NewMessage(MSG)])  # into new/, recorded in our memory
    rw = await store.open("INBOX")
    snap = await rw.snapshot(claim_recent=True)
    assert 5 in snap.recent
    assert os.listdir(root / "new") == []
    await store.close()


async def test_foreign_uidlist_change_is_not_skipped(tmp_path: Path) -> None:
    store, inbox, root = await setup(tmp_path)
    ul = read_uidlist(root)
    assert ul is not None
    (root / "cur" / "1700000000.M7P7.dovecot:2,S").write_bytes(MSG)
    with open(root / "dovecot-uidlist", "ab") as f:
        f.write(b"%d :1700000000.M7P7.dovecot\n" % ul.effective_next_uid)
    snap = await inbox.snapshot()
    assert snap.messages[-1].uid == ul.effective_next_uid
    await store.close()
