"""Change-hub watchers are per Maildir root, started on demand and stopped when no session uses them."""

from __future__ import annotations

import os
from pathlib import Path

import trio

from maildird.changes import ChangeHub, folder_key
from maildird.server import Watchers
from tests.support.maildirs import make_maildir, sample_message


async def test_a_pruned_watcher_stops_watching(tmp_path: Path, nursery: trio.Nursery) -> None:
    root = make_maildir(tmp_path / "Maildir", {"INBOX": []})
    hub = ChangeHub()
    watchers = Watchers(nursery, hub, rescan_seconds=3600)
    await watchers.ensure(root)
    await watchers.ensure(root)  # idempotent
    assert watchers.roots == {root.resolve()}
    key = folder_key(root)

    def deliver(name: str) -> None:
        (root / "tmp" / name).write_bytes(sample_message(message_id=f"<{name}@x>"))
        os.rename(root / "tmp" / name, root / "new" / name)

    seen = hub.version(key)
    deliver("one")
    with trio.fail_after(10):
        seen = await hub.wait_past(key, seen)
    watchers.prune({root.resolve()})  # still in use: kept
    assert watchers.roots == {root.resolve()}
    watchers.prune(set())
    assert watchers.roots == frozenset()
    await trio.sleep(0.5)
    seen = hub.version(key)
    deliver("two")
    with trio.move_on_after(2):
        await hub.wait_past(key, seen)
        raise AssertionError("a pruned watcher still reported a change")
    await watchers.ensure(root)  # a new login starts it again
    assert watchers.roots == {root.resolve()}
