"""Delivery (APPEND, COPY) without listing the folder (``Folder.refresh_for_delivery_locked``): what
other programs changed meanwhile is never lost and no UID is handed out twice."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from maildird.store.base import NewMessage
from maildird.store.maildir import sync
from maildird.store.maildir.store import MaildirStore
from maildird.store.maildir.uidlist import UIDLIST_NAME, read_uidlist
from maildird.store.registry import Registry

MSG = b"Subject: x\n\nbody\n"


def make_store(tmp_path: Path) -> MaildirStore:
    return MaildirStore(tmp_path / "Maildir", state_dir=tmp_path / "state", registry=Registry())


async def test_append_lists_nothing_when_the_control_files_are_ours(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store(tmp_path)
    inbox = await store.open("INBOX")
    await inbox.append([NewMessage(MSG)])
    await inbox.snapshot()

    def boom(folder: Path) -> object:
        raise AssertionError("listed the folder for an APPEND")

    monkeypatch.setattr(sync, "list_dir", boom)
    res = await inbox.append([NewMessage(MSG)])  # our own last rename is inside the dirty window
    assert res.uids == (2,)
    await store.close()


async def test_foreign_file_gets_its_uid_after_ours(tmp_path: Path) -> None:
    """An MDA delivers into new/ between our snapshot and our APPEND: our APPEND takes the next UID
    without seeing it, and the next snapshot numbers it after ours."""
    root = tmp_path / "Maildir"
    store = make_store(tmp_path)
    inbox = await store.open("INBOX")
    await inbox.append([NewMessage(MSG)])
    await inbox.snapshot()
    (root / "tmp" / "1700000000.M1P1.mda").write_bytes(MSG)
    os.rename(root / "tmp" / "1700000000.M1P1.mda", root / "new" / "1700000000.M1P1.mda")
    res = await inbox.append([NewMessage(MSG)])
    assert res.uids == (2,)
    snap = await inbox.snapshot()
    assert [m.uid for m in snap.messages] == [1, 2, 3]
    ul = read_uidlist(root)
    assert ul is not None
    assert [(r.uid, r.filename) for r in ul.records][2] == (3, "1700000000.M1P1.mda")
    await store.close()


async def test_uids_another_writer_assigned_are_not_reused(tmp_path: Path) -> None:
    """Dovecot numbers a new file (appends a record) between our snapshot and our APPEND: the
    uidlist's stamp changed, so the delivery re-reads it and continues after Dovecot's UID."""
    root = tmp_path / "Maildir"
    store = make_store(tmp_path)
    inbox = await store.open("INBOX")
    await inbox.append([NewMessage(MSG)])
    await inbox.snapshot()
    (root / "cur" / "1700000000.M2P2.dovecot:2,S").write_bytes(MSG)
    with open(root / UIDLIST_NAME, "ab") as f:
        f.write(b"2 :1700000000.M2P2.dovecot\n")
    res = await inbox.append([NewMessage(MSG)])
    assert res.uids == (3,)
    snap = await inbox.snapshot()
    assert {m.uid: m.flags for m in snap.messages} == {1: frozenset(), 2: {"\\Seen"}, 3: frozenset()}
    await store.close()


async def test_copy_into_a_folder_changed_by_others(tmp_path: Path) -> None:
    root = tmp_path / "Maildir"
    store = make_store(tmp_path)
    await store.create("Foo")
    inbox = await store.open("INBOX")
    foo = await store.open("Foo")
    await inbox.append([NewMessage(MSG), NewMessage(MSG)])
    await foo.append([NewMessage(MSG)])
    await foo.snapshot()
    (root / ".Foo" / "new" / "1700000000.M3P3.mda").write_bytes(MSG)
    res = await inbox.copy([1, 2], foo)
    assert [d for _, d in res.pairs] == [2, 3]
    snap = await foo.snapshot()
    assert [m.uid for m in snap.messages] == [1, 2, 3, 4]
    await store.close()
