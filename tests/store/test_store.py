"""MaildirStore: LIST attributes, special use, create/delete/rename, subscriptions, open rules."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from maildird.store.base import (
    InvalidName,
    MailboxExists,
    MailboxNotFound,
    NewMessage,
    PermissionDenied,
)
from maildird.store.maildir.store import MaildirStore
from maildird.store.maildir.uidlist import read_uidlist
from maildird.store.registry import Registry

MSG = b"Subject: x\n\nbody\n"


def make_store(tmp_path: Path, **kw: object) -> MaildirStore:
    return MaildirStore(
        tmp_path / "Maildir",
        state_dir=tmp_path / "state",
        registry=Registry(),
        **kw,  # type: ignore[arg-type]
    )


async def listing(store: MaildirStore) -> dict[str, set[str]]:
    return {m.name: set(m.attributes) for m in await store.list_mailboxes()}


async def test_list_inbox_first_implied_parents_and_children(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    for name in ("Deep.A.B", "Foo", "Foo.Bar"):
        await store.create(name)
    infos = await store.list_mailboxes()
    assert infos[0].name == "INBOX"
    got = {m.name: set(m.attributes) for m in infos}
    assert got == {
        "INBOX": {"\\HasNoChildren"},
        "Deep": {"\\Noselect", "\\HasChildren"},
        "Deep.A": {"\\Noselect", "\\HasChildren"},
        "Deep.A.B": {"\\HasNoChildren"},
        "Foo": {"\\HasChildren"},
        "Foo.Bar": {"\\HasNoChildren"},
    }
    assert not (tmp_path / "Maildir" / ".Deep").exists()  # parents never materialise (§2.1)


async def test_special_use_from_names_and_override(tmp_path: Path) -> None:
    store = make_store(tmp_path, special_use={"Outbox": "\\Sent", "Junk": "\\Archive"})
    for name in ("Sent Items", "Papierkorb", "Entwürfe", "Junk", "Outbox", "Archive", "Notes"):
        await store.create(name)
    got = await listing(store)
    assert "\\Sent" in got["Sent Items"]
    assert "\\Trash" in got["Papierkorb"]
    assert "\\Drafts" in got["Entwürfe"]
    assert "\\Archive" in got["Junk"] and "\\Junk" not in got["Junk"]
    assert "\\Sent" in got["Outbox"]
    assert "\\Archive" in got["Archive"]
    assert got["Notes"] == {"\\HasNoChildren"}
    assert (tmp_path / "Maildir" / ".Entw&APw-rfe").is_dir()  # mUTF-7 on disk like Dovecot


async def test_create_writes_uidlist_with_fresh_uidvalidity(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    await store.create("A")
    await store.create("B")
    ua = read_uidlist(tmp_path / "Maildir" / ".A")
    ub = read_uidlist(tmp_path / "Maildir" / ".B")
    assert ua is not None and ub is not None
    assert ua.records == () and ua.uidvalidity != ub.uidvalidity
    assert (tmp_path / "Maildir" / ".A" / "maildirfolder").read_bytes() == b""
    mb = await store.open("A")
    assert (await mb.snapshot()).uidvalidity == ua.uidvalidity
    with pytest.raises(MailboxExists):
        await store.create("A")
    await store.close()


@pytest.mark.parametrize("name", ["a/b", "a..b", "x\x00y", "tab\there", ".hidden", ""])
async def test_invalid_names(tmp_path: Path, name: str) -> None:
    store = make_store(tmp_path)
    with pytest.raises(InvalidName):
        await store.create(name)
    with pytest.raises(InvalidName):
        await store.open(name)


async def test_open_missing_and_noselect(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    await store.create("P.C")
    with pytest.raises(MailboxNotFound):
        await store.open("Nope")
    with pytest.raises(MailboxNotFound):
        await store.open("P")  # an implied parent is not selectable


async def test_symlink_outside_root_refused(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    await store.list_mailboxes()  # creates the root
    outside = tmp_path / "elsewhere"
    for sub in ("cur", "new", "tmp"):
        (outside / sub).mkdir(parents=True)
    os.symlink(outside, tmp_path / "Maildir" / ".Evil")
    with pytest.raises(PermissionDenied):
        await store.open("Evil")


async def test_delete_and_rename_with_children(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    for name in ("Foo", "Foo.Bar", "Other"):
        await store.create(name)
    foo = await store.open("Foo.Bar")
    await foo.append([NewMessage(MSG)])
    await store.rename("Foo", "Baz")
    got = await listing(store)
    assert "Baz" in got and "Baz.Bar" in got and "Foo" not in got and "Foo.Bar" not in got
    with pytest.raises(MailboxNotFound):
        await foo.snapshot()  # the old handle's directory is gone
    moved = await store.open("Baz.Bar")
    assert len((await moved.snapshot()).messages) == 1
    await store.delete("Other")
    assert "Other" not in await listing(store)
    with pytest.raises(MailboxNotFound):
        await store.delete("Other")
    # Deleting a parent leaves its child (Maildir++, Dovecot): the parent becomes \Noselect.
    await store.delete("Baz")
    got = await listing(store)
    assert got["Baz"] == {"\\Noselect", "\\HasChildren"}
    await store.close()


async def test_rename_inbox_moves_messages(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    inbox = await store.open("INBOX")
    await inbox.append([NewMessage(MSG), NewMessage(MSG, frozenset({"\\Seen"}))])
    await store.rename("INBOX", "Old")
    assert (await inbox.snapshot()).messages == ()
    old = await store.open("Old")
    snap = await old.snapshot()
    assert sorted(m.flags for m in snap.messages) == [frozenset(), frozenset({"\\Seen"})]
    await store.close()


async def test_subscriptions_auto_then_file(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    await store.create("A")
    await store.create("B.C")
    assert await store.subscriptions() == {"INBOX", "A", "B.C"}  # no file: everything
    await store.unsubscribe("A")
    assert await store.subscriptions() == {"INBOX", "B.C"}
    data = (tmp_path / "Maildir" / "subscriptions").read_bytes()
    assert data == b"V\t2\n\nB\tC\nINBOX\n"
    await store.subscribe("Gone")  # subscriptions to non-existent names are legal
    assert "Gone" in await store.subscriptions()


async def test_subscriptions_file_mode(tmp_path: Path) -> None:
    store = make_store(tmp_path, subscriptions="file")
    await store.create("A")
    assert await store.subscriptions() == frozenset()
    await store.subscribe("A")
    assert await store.subscriptions() == {"A"}


async def test_fs_layout(tmp_path: Path) -> None:
    store = make_store(tmp_path, layout="fs")
    assert store.delimiter == "/"
    await store.create("Foo/Bar")
    got = await listing(store)
    assert got["Foo"] == {"\\Noselect", "\\HasChildren"}
    assert got["Foo/Bar"] == {"\\HasNoChildren"}
    mb = await store.open("Foo/Bar")
    await mb.append([NewMessage(MSG)])
    assert len(os.listdir(tmp_path / "Maildir" / "Foo" / "Bar" / "new")) == 1
    await store.close()


async def test_registry_shares_and_releases(tmp_path: Path) -> None:
    reg: Registry[object] = Registry()
    store = MaildirStore(tmp_path / "Maildir", state_dir=tmp_path / "state", registry=reg)
    a = await store.open("INBOX")
    b = await store.open("INBOX")
    assert a.folder is b.folder and reg.users(a.watch_key) == 2
    await a.close()
    await a.close()  # idempotent
    assert reg.users(a.watch_key) == 1
    await b.close()
    assert len(reg) == 0
    assert b.folder.state is None  # the shared folder was closed with its last handle


async def test_registry_keeps_idle_folders_warm(tmp_path: Path) -> None:
    reg: Registry[object] = Registry(keep_idle=1)
    store = MaildirStore(tmp_path / "Maildir", state_dir=tmp_path / "state", registry=reg)
    await store.create("A")
    await store.create("B")
    a = await store.open("A")
    await a.append([NewMessage(MSG)])
    await a.close()
    assert reg.idle() == 1 and a.folder.state is not None  # kept warm
    again = await store.open("A")
    assert again.folder is a.folder
    assert [m.uid for m in (await again.snapshot()).messages] == [1]
    await again.close()
    b = await store.open("B")
    await b.close()  # pushes A out of the idle list: A is closed
    assert a.folder.state is None and reg.idle() == 1
    await store.rename("B", "C")  # forgetting an idle folder closes it
    assert b.folder.state is None and reg.idle() == 0


def test_registry_counts() -> None:
    reg: Registry[str] = Registry(keep_idle=2)
    made: list[str] = []

    def factory(name: str) -> str:
        made.append(name)
        return name

    x = reg.acquire("x", lambda: factory("x1"))
    assert reg.acquire("x", lambda: factory("x2")) == x == "x1"
    assert reg.release("x", x) == [] and reg.users("x") == 1
    assert reg.release("x", x) == [] and reg.idle() == 1
    assert reg.acquire("x", lambda: factory("x3")) == "x1"  # revived
    assert reg.forget("x") == []  # in use: its last release closes it
    assert reg.release("x", "x1") == ["x1"]
    for k in "abc":
        reg.release(k, reg.acquire(k, lambda k=k: factory(k)))
    assert reg.idle() == 2 and reg.get("a") is None  # "a" fell out first
    assert sorted(reg.drain()) == ["b", "c"]
    assert made == ["x1", "a", "b", "c"]
