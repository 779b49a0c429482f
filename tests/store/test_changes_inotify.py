"""The raw inotify change stream (maildird.inotify + changes.TreeWatch): what each Maildir operation
marks dirty, folders appearing, moving and going, overflow, and the fallback to polling."""

from __future__ import annotations

import errno
import os
import struct
from pathlib import Path
from typing import Any

import pytest
import trio

from maildird import changes
from maildird import inotify as ino
from maildird.changes import ChangeHub, folder_key, open_tree, watch
from maildird.inotify import RawEvent, parse_events

WAIT = 10  # generous upper bound for an event to arrive; not a timing assertion


def make_folder(path: Path) -> Path:
    for sub in ("cur", "new", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    return path


def deliver(folder: Path, name: str) -> None:
    (folder / "tmp" / name).write_bytes(b"Subject: x\n\nbody\n")
    os.rename(folder / "tmp" / name, folder / "new" / name)


def pack(wd: int, mask: int, cookie: int, name: bytes, pad: int) -> bytes:
    body = name + b"\0" * pad
    return struct.pack("iIII", wd, mask, cookie, len(body)) + body


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", []),
        (pack(1, ino.IN_CREATE, 0, b"x", 3), [RawEvent(1, ino.IN_CREATE, 0, b"x")]),
        (
            pack(2, ino.IN_MOVED_FROM, 7, b"a:2,", 12) + pack(2, ino.IN_MOVED_TO, 7, b"a:2,S", 11),
            [RawEvent(2, ino.IN_MOVED_FROM, 7, b"a:2,"), RawEvent(2, ino.IN_MOVED_TO, 7, b"a:2,S")],
        ),
        (pack(-1, ino.IN_Q_OVERFLOW, 0, b"", 0), [RawEvent(-1, ino.IN_Q_OVERFLOW, 0, b"")]),
        (pack(3, ino.IN_DELETE, 0, b"y", 0)[:10], []),  # a torn header is not an event
    ],
)
def test_parse_events(data: bytes, expected: list[RawEvent]) -> None:
    assert parse_events(data) == expected


def test_tree_watches_no_tmp_and_nothing_inside_message_dirs(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "Maildir")
    make_folder(root / ".Foo")
    make_folder(root / "Deep" / "Er")  # FS-layout nesting
    (root / "cur" / "odd-subdir").mkdir()
    tree = open_tree(root.resolve())
    try:
        paths = sorted(os.path.relpath(p, root.resolve()) for p, _, _ in tree.watches.values())
        assert paths == sorted(
            [
                ".",
                "cur",
                "new",
                ".Foo",
                ".Foo/cur",
                ".Foo/new",
                "Deep",
                "Deep/Er",
                "Deep/Er/cur",
                "Deep/Er/new",
            ]
        )
        keys = {p: k for p, k, _ in tree.watches.values()}
        assert keys[f"{tree.root}/.Foo/cur"] == folder_key(root / ".Foo")
        assert keys[f"{tree.root}/Deep/Er/new"] == folder_key(root / "Deep" / "Er")
    finally:
        tree.close()


def test_a_burst_of_renames_is_one_key(tmp_path: Path) -> None:
    """A STORE's 1,000 renames in cur/ (the server's own echo) come down to one key per batch."""
    root = make_folder(tmp_path / "Maildir")
    names = [f"17000{i:05d}.M1P1.h" for i in range(1000)]
    for n in names:
        (root / "cur" / f"{n}:2,").write_bytes(b"x")
    tree = open_tree(root.resolve())
    try:
        for n in names:
            os.rename(root / "cur" / f"{n}:2,", root / "cur" / f"{n}:2,F")
        events: list[RawEvent] = []
        while batch := tree.notify.read():
            events.extend(batch)
        assert len(events) == 2 * len(names)
        keys, overflow = tree.handle(events)
        assert keys == {folder_key(root)} and not overflow
    finally:
        tree.close()


def test_overflow_is_reported(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "Maildir")
    tree = open_tree(root.resolve())
    try:
        keys, overflow = tree.handle([RawEvent(-1, ino.IN_Q_OVERFLOW, 0, b"")])
        assert overflow and keys == set()
        before = len(tree.watches)
        tree.rebuild()
        assert len(tree.watches) == before
    finally:
        tree.close()


def test_control_files_and_tmp_mark_nothing(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "Maildir")
    tree = open_tree(root.resolve())
    try:
        (root / "tmp" / "x").write_bytes(b"partial")
        (root / "dovecot-uidlist.tmp").write_bytes(b"3 V1 N1\n")
        os.rename(root / "dovecot-uidlist.tmp", root / "dovecot-uidlist")
        (root / "maildirfolder").write_bytes(b"")
        keys, overflow = tree.handle(tree.notify.read())
        assert keys == set() and not overflow
    finally:
        tree.close()


async def wait_for(hub: ChangeHub, key: str, seen: int) -> int:
    with trio.fail_after(WAIT):
        return await hub.wait_past(key, seen)


async def test_folders_created_renamed_and_deleted(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "Maildir")
    hub = ChangeHub()
    async with trio.open_nursery() as nursery:
        await nursery.start(
            lambda task_status: watch(root, hub, rescan_seconds=3600, task_status=task_status)
        )
        foo, bar = folder_key(root / ".Foo"), folder_key(root / ".Bar")

        seen = hub.version(foo)
        make_folder(root / ".Foo")  # mkdir then its children at once: the walk catches up
        seen = await wait_for(hub, foo, seen)
        deliver(root / ".Foo", "1.M1P1.h")
        seen = await wait_for(hub, foo, seen)

        bar_seen = hub.version(bar)
        os.rename(root / ".Foo", root / ".Bar")  # RENAME: both names change
        await wait_for(hub, foo, seen)
        bar_seen = await wait_for(hub, bar, bar_seen)
        deliver(root / ".Bar", "2.M2P1.h")
        await wait_for(hub, bar, bar_seen)

        seen = hub.version(foo)
        make_folder(root / ".Foo")  # a new folder under the old name is watched on its own
        seen = await wait_for(hub, foo, seen)
        deliver(root / ".Foo", "3.M3P1.h")
        await wait_for(hub, foo, seen)

        bar_seen = hub.version(bar)
        for sub in ("cur", "new", "tmp"):
            for f in (root / ".Bar" / sub).iterdir():
                f.unlink()
            (root / ".Bar" / sub).rmdir()
        (root / ".Bar").rmdir()
        await wait_for(hub, bar, bar_seen)
        nursery.cancel_scope.cancel()


async def test_nested_fs_layout_folder(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "Maildir")
    hub = ChangeHub()
    async with trio.open_nursery() as nursery:
        await nursery.start(
            lambda task_status: watch(root, hub, rescan_seconds=3600, task_status=task_status)
        )
        key = folder_key(root / "Work" / "2024")
        seen = hub.version(key)
        make_folder(root / "Work" / "2024")
        seen = await wait_for(hub, key, seen)
        deliver(root / "Work" / "2024", "4.M4P1.h")
        await wait_for(hub, key, seen)
        nursery.cancel_scope.cancel()


async def test_falls_back_to_polling_without_inotify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_folder(tmp_path / "Maildir")

    def no_inotify(*args: Any) -> Any:
        raise OSError(errno.EMFILE, "too many inotify instances")

    monkeypatch.setattr(changes, "Inotify", no_inotify)
    hub = ChangeHub()
    inbox = folder_key(root)
    async with trio.open_nursery() as nursery:
        await nursery.start(
            lambda task_status: watch(
                root, hub, rescan_seconds=3600, poll_seconds=0.05, task_status=task_status
            )
        )
        seen = hub.version(inbox)
        deliver(root, "5.M5P1.h")
        await wait_for(hub, inbox, seen)
        nursery.cancel_scope.cancel()
