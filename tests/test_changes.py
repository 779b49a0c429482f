"""The change hub and the watchdog bridge (architecture.md §4.7), on a real temporary Maildir."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
from watchdog.events import FileCreatedEvent

from maildird.changes import ChangeHub, _Handler, folder_key, folder_of, watch

WAIT = 10  # generous upper bound for an event to arrive; not a timing assertion


def make_maildir(tmp_path: Path) -> Path:
    root = tmp_path / "Maildir"
    for d in (root, root / ".Foo"):
        for sub in ("cur", "new", "tmp"):
            (d / sub).mkdir(parents=True)
    return root


def deliver_rename(folder: Path, name: str) -> None:
    tmp = folder / "tmp" / name
    tmp.write_bytes(b"Subject: x\n\nbody\n")
    os.rename(tmp, folder / "new" / name)


def deliver_link(folder: Path, name: str) -> None:
    tmp = folder / "tmp" / name
    tmp.write_bytes(b"Subject: y\n\nbody\n")
    os.link(tmp, folder / "new" / name)
    os.unlink(tmp)


def test_folder_of_table(tmp_path: Path) -> None:
    root = make_maildir(tmp_path)
    inbox, foo = folder_key(root), folder_key(root / ".Foo")
    table = [
        (root / "new" / "1.M1P1.h", False, inbox),
        (root / "cur" / "1.M1P1.h:2,S", False, inbox),
        (root / ".Foo" / "cur" / "1.M1P1.h:2,S", False, foo),
        (root / ".Foo" / "new", True, foo),
        (root / ".Foo", True, foo),
        (root / ".New", True, folder_key(root / ".New")),
        (root / "tmp" / "1.M1P1.h", False, None),
        (root / ".Foo" / "tmp" / "x", False, None),
        (root / ".Foo" / "tmp", True, None),
        (root / "dovecot-uidlist", False, None),
        (root / "dovecot-uidlist.lock", False, None),
        (root / "dovecot-uidlist.tmp", False, None),
        (root / ".Foo" / "dovecot-keywords", False, None),
        (root / ".Foo" / "dovecot.index.log", False, None),
        (root / "subscriptions", False, None),
        (root / ".Foo" / "maildirfolder", False, None),
    ]
    for path, is_dir, expected in table:
        assert folder_of(str(path), is_dir) == expected, path


async def test_hub_versions() -> None:
    hub = ChangeHub()
    assert hub.version("a") == 0
    hub.mark_dirty("a")
    assert (hub.version("a"), hub.version("b")) == (1, 0)
    hub.mark_all_dirty()
    assert (hub.version("a"), hub.version("b")) == (2, 1)
    with trio.fail_after(WAIT):
        assert await hub.wait_past("a", 0) == 2  # already past: no wait


async def test_hub_broadcasts_to_every_waiter() -> None:
    hub = ChangeHub()
    results: list[int] = []

    async def waiter(key: str) -> None:
        results.append(await hub.wait_past(key, hub.version(key)))

    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(waiter, "k")
        await trio.testing.wait_all_tasks_blocked()
        hub.mark_dirty("other")  # another key: nobody returns
        await trio.testing.wait_all_tasks_blocked()
        assert results == []
        hub.mark_dirty("k")
    assert results == [1, 1, 1]


async def wait_for(hub: ChangeHub, key: str, seen: int) -> int:
    with trio.fail_after(WAIT):
        return await hub.wait_past(key, seen)


async def test_watch_real_maildir(tmp_path: Path) -> None:
    root = make_maildir(tmp_path)
    hub = ChangeHub()
    inbox, foo = folder_key(root), folder_key(root / ".Foo")
    async with trio.open_nursery() as nursery:
        await nursery.start(
            lambda task_status: watch(root, hub, rescan_seconds=3600, task_status=task_status)
        )

        seen = hub.version(inbox)
        deliver_rename(root, "1.M1P1.h")
        seen = await wait_for(hub, inbox, seen)

        deliver_link(root, "2.M2P1.h")
        seen = await wait_for(hub, inbox, seen)

        os.rename(root / "new" / "1.M1P1.h", root / "cur" / "1.M1P1.h:2,")
        seen = await wait_for(hub, inbox, seen)

        os.rename(root / "cur" / "1.M1P1.h:2,", root / "cur" / "1.M1P1.h:2,S")  # a flag change
        seen = await wait_for(hub, inbox, seen)

        os.unlink(root / "cur" / "1.M1P1.h:2,S")  # an expunge
        seen = await wait_for(hub, inbox, seen)

        # tmp/ writes and control-file rewrites alone do not wake INBOX. A delivery to Foo acts as a
        # marker: events arrive in order, so once Foo woke, everything before it has been handled.
        # (One move can bump INBOX twice, src and dest, so settle with a first marker.)
        foo_seen = hub.version(foo)
        deliver_link(root / ".Foo", "3a.M3P1.h")
        await wait_for(hub, foo, foo_seen)
        seen = hub.version(inbox)
        (root / "tmp" / "3.M3P1.h").write_bytes(b"partial")
        os.unlink(root / "tmp" / "3.M3P1.h")
        (root / "dovecot-uidlist.tmp").write_bytes(b"3 V1 N1\n")
        os.rename(root / "dovecot-uidlist.tmp", root / "dovecot-uidlist")
        foo_seen = hub.version(foo)
        deliver_link(root / ".Foo", "4.M4P1.h")
        await wait_for(hub, foo, foo_seen)
        assert hub.version(inbox) == seen

        # a new folder is announced under its own key
        new_key = folder_key(root / ".New")
        new_seen = hub.version(new_key)
        (root / ".New").mkdir()
        await wait_for(hub, new_key, new_seen)
        nursery.cancel_scope.cancel()


async def test_periodic_tick_marks_everything(tmp_path: Path) -> None:
    root = make_maildir(tmp_path)
    hub = ChangeHub()
    async with trio.open_nursery() as nursery:
        await nursery.start(
            lambda task_status: watch(root, hub, rescan_seconds=0.05, task_status=task_status)
        )
        await wait_for(hub, "never-touched-key", 0)
        nursery.cancel_scope.cancel()


class _BrokenInotify:
    """An observer whose start fails like inotify_add_watch past the watch limit."""

    def schedule(self, *args: Any, **kwargs: Any) -> None:
        pass

    def start(self) -> None:
        raise OSError(errno.ENOSPC, "inotify watch limit reached")


async def test_falls_back_to_polling(tmp_path: Path) -> None:
    root = make_maildir(tmp_path)
    hub = ChangeHub()
    inbox = folder_key(root)
    async with trio.open_nursery() as nursery:
        await nursery.start(
            lambda task_status: watch(
                root,
                hub,
                rescan_seconds=3600,
                poll_seconds=0.05,
                observer_factory=_BrokenInotify,
                task_status=task_status,
            )
        )
        seen = hub.version(inbox)
        deliver_rename(root, "5.M5P1.h")
        await wait_for(hub, inbox, seen)
        nursery.cancel_scope.cancel()


def test_handler_survives_a_finished_run(tmp_path: Path) -> None:
    hub_box: list[Any] = []

    async def grab() -> None:
        hub_box.append((trio.lowlevel.current_trio_token(), ChangeHub()))

    trio.run(grab)
    token, hub = hub_box[0]
    handler = _Handler(token, hub)
    handler.dispatch(FileCreatedEvent(str(tmp_path / "new" / "x")))  # must not raise
    assert hub.version(folder_key(tmp_path)) == 0


@pytest.mark.parametrize("style", ["rename", "link"])
async def test_each_delivery_style_wakes_a_waiter(tmp_path: Path, style: str) -> None:
    root = make_maildir(tmp_path)
    hub = ChangeHub()
    foo = folder_key(root / ".Foo")
    woke: list[int] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(
            lambda task_status: watch(root, hub, rescan_seconds=3600, task_status=task_status)
        )
        seen = hub.version(foo)

        async def idle() -> None:
            woke.append(await wait_for(hub, foo, seen))

        nursery.start_soon(idle)
        await trio.testing.wait_all_tasks_blocked()
        (deliver_rename if style == "rename" else deliver_link)(root / ".Foo", "6.M6P1.h")
        with trio.fail_after(WAIT):
            while not woke:
                await trio.sleep(0.01)
        nursery.cancel_scope.cancel()
    assert woke and woke[0] > seen
