"""Muting a folder's message events (``TreeWatch.mute``/``unmute``, ``watchproof.quiet``) around the
server's own bulk renames: nothing of the renames is queued, events queued before stay readable,
the folder has no token while muted and a fresh one after, the listener hears of the folder, and a
new/ or cur/ replaced meanwhile is watched again. Assertions are on queued events and state."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from maildird import watchproof
from maildird.changes import folder_key, open_tree
from maildird.inotify import RawEvent
from maildird.treewatch import TreeWatch

NAMES = [f"17000{i:05d}.M1P1.h" for i in range(50)]


def make_folder(path: Path, names: list[str] = NAMES) -> Path:
    for sub in ("cur", "new", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    for n in names:
        (path / "cur" / f"{n}:2,").write_bytes(b"x")
    return path


def flag_all(folder: Path, names: list[str], letters: str) -> None:
    for n in names:
        os.rename(folder / "cur" / f"{n}:2,", folder / "cur" / f"{n}:2,{letters}")


def queued(tree: TreeWatch) -> list[RawEvent]:
    events: list[RawEvent] = []
    while batch := tree.notify.read():
        events.extend(batch)
    return events


def published(root: Path) -> tuple[TreeWatch, list[tuple[set[str], bool]]]:
    tree = open_tree(root.resolve())
    heard: list[tuple[set[str], bool]] = []
    tree.listener = lambda keys, overflow: heard.append((set(keys), overflow))
    tree.publish()
    return tree, heard


def test_muted_renames_queue_nothing_and_unmute_reports_the_folder(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "Maildir")
    make_folder(root / ".Other", [])
    tree, heard = published(root)
    key, other = folder_key(root), folder_key(root / ".Other")
    try:
        before = watchproof.token(key)
        assert before is not None
        assert tree.mute(key)
        assert watchproof.token(key) is None  # no proof while muted
        assert watchproof.token(other) is not None  # other folders keep theirs
        flag_all(root, NAMES, "F")
        assert queued(tree) == []
        (root / ".Other" / "new" / "m").write_bytes(b"x")  # another folder's events still come
        assert {e.name for e in queued(tree)} == {b"m"}
        tree.unmute(key)
        assert heard[-1] == ({key}, False)
        after = watchproof.token(key)
        assert after is not None and after != before
        os.rename(root / "cur" / f"{NAMES[0]}:2,F", root / "cur" / f"{NAMES[0]}:2,FS")
        keys, overflow = tree.handle(queued(tree))
        assert keys == {key} and not overflow  # the full mask again
    finally:
        tree.close()


def test_events_queued_before_the_mute_are_still_read(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "Maildir")
    tree, _heard = published(root)
    key = folder_key(root)
    try:
        (root / "new" / "early").write_bytes(b"x")  # queued, not read yet
        assert tree.mute(key)
        events = queued(tree)
        assert [e.name for e in events] == [b"early"]
        keys, _ = tree.handle(events)
        assert keys == {key}
        tree.unmute(key)
    finally:
        tree.close()


def test_quiet_mutes_for_the_block_only(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "Maildir")
    tree, heard = published(root)
    key = folder_key(root)
    try:
        with watchproof.quiet(key):
            assert watchproof.token(key) is None
            flag_all(root, NAMES, "S")
            assert queued(tree) == []
        assert watchproof.token(key) is not None
        assert heard == [({key}, False)]
        # No source for a key: the block runs, nothing else happens.
        with watchproof.quiet(folder_key(tmp_path / "elsewhere")):
            pass
    finally:
        tree.close()


def test_mute_refused_without_a_full_watch_or_from_another_thread(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "Maildir")
    tree, heard = published(root)
    key = folder_key(root)
    try:
        assert not tree.mute(folder_key(tmp_path / "elsewhere"))
        answers: list[bool] = []
        worker = threading.Thread(target=lambda: answers.append(tree.mute(key)))
        worker.start()
        worker.join()
        assert answers == [False]
        assert tree.mute(key)
        assert not tree.mute(key)  # already muted
        tree.unmute(key)
        tree.unmute(key)  # a second unmute changes nothing
        assert heard == [({key}, False)]
    finally:
        tree.close()


def test_cur_replaced_while_muted_is_watched_again(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "Maildir")
    tree, _heard = published(root)
    key = folder_key(root)
    try:
        assert tree.mute(key)
        os.rename(root / "cur", root / "cur.old")
        (root / "cur").mkdir()
        tree.drain()  # the folder directory's own events (cur moved away, a new cur)
        tree.unmute(key)
        queued(tree)
        (root / "cur" / "fresh:2,").write_bytes(b"x")
        keys, _ = tree.handle(queued(tree))
        assert keys == {key}
        assert watchproof.token(key) is not None
    finally:
        tree.close()


def test_cur_replaced_before_the_mute_takes_the_new_directory(tmp_path: Path) -> None:
    """The mute finds another directory under the path (its events not read yet): it gives up,
    and the new directory is watched with the full mask."""
    root = make_folder(tmp_path / "Maildir")
    tree, _heard = published(root)
    key = folder_key(root)
    try:
        os.rename(root / "cur", root / "cur.old")
        (root / "cur").mkdir()
        assert not tree.mute(key)
        (root / "cur" / "fresh:2,").write_bytes(b"x")
        events = queued(tree)
        assert b"fresh:2," in {e.name for e in events}
        keys, _ = tree.handle(events)
        assert key in keys
    finally:
        tree.close()
