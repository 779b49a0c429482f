"""The watch proof of freshness (maildird.watchproof): with a live inotify watch a snapshot of an
unchanged folder makes no ``stat`` call, and every change another process makes is seen by the very
next snapshot, with no sleep in between; an overflowed queue, the watchdog fallback and no watch
at all fall back to the stats. Assertions are on snapshots and state, never on timing."""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio

from maildird import watchproof
from maildird.changes import ChangeHub, folder_key, open_tree, polling, watch
from maildird.store.base import Snapshot
from maildird.store.maildir import stamps as stamps_mod
from maildird.store.maildir import sync
from maildird.store.maildir.keywords import KEYWORDS_NAME
from maildird.store.maildir.mailbox import MaildirMailbox
from maildird.store.maildir.store import MaildirStore
from maildird.store.maildir.uidlist import UIDLIST_NAME
from maildird.store.registry import Registry
from maildird.treewatch import CONTROL_FILES

MSG = b"From: a@example.org\nSubject: hi\n\nbody\n"
SETTLE_SNAPSHOTS = 5
"""Snapshots at most until the proof holds (our own first writes change the token once or twice)."""
QUIET_SNAPSHOTS = 5


def make_folder(path: Path) -> Path:
    for sub in ("cur", "new", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    return path


def deliver(folder: Path, base: str, *, sub: str = "new", info: str = "", link: bool = False) -> Path:
    """An outside MDA: write tmp/, then rename (dovecot-lda style) or link + unlink (Postfix)."""
    tmp = folder / "tmp" / base
    tmp.write_bytes(MSG)
    dest = folder / sub / (base + info)
    if link:
        os.link(tmp, dest)
        os.unlink(tmp)
    else:
        os.rename(tmp, dest)
    return dest


class StatCounter:
    """Counts the stat checks of ``needs_sync`` (instrumentation of the real function)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        real = stamps_mod.same_on_disk

        def counting(paths: stamps_mod.StampPaths, old: stamps_mod.Stamps) -> bool:
            self.calls += 1
            return real(paths, old)

        monkeypatch.setattr(sync, "same_on_disk", counting)


@dataclass
class Env:
    root: Path
    store: MaildirStore
    box: MaildirMailbox
    hub: ChangeHub

    @property
    def key(self) -> str:
        return self.box.watch_key

    async def settle(self) -> Snapshot:
        """Snapshot until the folder's remembered token is the current one (the proof holds)."""
        for _ in range(SETTLE_SNAPSHOTS):
            snap = await self.box.snapshot()
            if self.box.folder._watch_mark == watchproof.token(self.key):
                return snap
        raise AssertionError("the watch proof never held")


@asynccontextmanager
async def served(tmp_path: Path, *, observer: bool = False, watched: bool = True) -> AsyncIterator[Env]:
    """A Maildir, a store on it and (unless ``watched`` is false) the server's watcher of its tree."""
    root = make_folder(tmp_path / "Maildir")
    make_folder(root / ".Other")
    hub = ChangeHub()
    store = MaildirStore(root, state_dir=tmp_path / "state", registry=Registry())
    async with trio.open_nursery() as nursery:
        if watched:
            await nursery.start(
                lambda task_status: watch(
                    root,
                    hub,
                    rescan_seconds=3600,
                    poll_seconds=0.05,
                    observer_factory=polling(0.05) if observer else None,
                    task_status=task_status,
                )
            )
        box = await store.open("INBOX")
        try:
            yield Env(root, store, box, hub)
        finally:
            await store.close()
            nursery.cancel_scope.cancel()


def bases(snap: Snapshot, box: MaildirMailbox) -> dict[str, frozenset[str]]:
    """Base name -> flags of every message in the snapshot."""
    msgs = box.folder.msgs
    return {msgs[m.uid].base: m.flags for m in snap.messages}


def test_control_file_names_match_the_store() -> None:
    assert (UIDLIST_NAME.encode(), KEYWORDS_NAME.encode()) == CONTROL_FILES


async def test_unchanged_folder_makes_no_stat_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with served(tmp_path) as env:
        deliver(env.root, "1700000001.M1P1.mda")
        await env.settle()
        stats = StatCounter(monkeypatch)
        for _ in range(QUIET_SNAPSHOTS):
            snap = await env.box.snapshot()
        assert stats.calls == 0
        assert list(bases(snap, env.box)) == ["1700000001.M1P1.mda"]
        # Past the trust period the stats check again, and renew the proof when nothing changed.
        env.box.folder._watch_until = 0
        await env.box.snapshot()
        renewed = stats.calls
        assert renewed >= 1
        await env.box.snapshot()
        assert stats.calls == renewed


def _rename_into_new(root: Path) -> None:
    deliver(root, "1700000100.M9P1.mda")


def _link_into_new(root: Path) -> None:
    deliver(root, "1700000100.M9P1.mda", link=True)


def _rename_into_cur(root: Path) -> None:
    deliver(root, "1700000100.M9P1.mda", sub="cur", info=":2,S")


def _flag_rename(root: Path) -> None:
    os.rename(root / "cur" / "1700000002.M2P1.mda:2,", root / "cur" / "1700000002.M2P1.mda:2,FS")


def _unlink(root: Path) -> None:
    os.unlink(root / "cur" / "1700000002.M2P1.mda:2,")


def _new_to_cur(root: Path) -> None:
    os.rename(root / "new" / "1700000001.M1P1.mda", root / "cur" / "1700000001.M1P1.mda:2,S")


def _replace_new_dir(root: Path) -> None:
    os.rename(root / "new", root / "tmp" / "old-new")
    os.mkdir(root / "new")
    deliver(root, "1700000100.M9P1.mda")


CHANGES: list[tuple[Callable[[Path], None], dict[str, frozenset[str]]]] = [
    (
        _rename_into_new,
        {
            "1700000001.M1P1.mda": frozenset(),
            "1700000002.M2P1.mda": frozenset(),
            "1700000100.M9P1.mda": frozenset(),
        },
    ),
    (
        _link_into_new,
        {
            "1700000001.M1P1.mda": frozenset(),
            "1700000002.M2P1.mda": frozenset(),
            "1700000100.M9P1.mda": frozenset(),
        },
    ),
    (
        _rename_into_cur,
        {
            "1700000001.M1P1.mda": frozenset(),
            "1700000002.M2P1.mda": frozenset(),
            "1700000100.M9P1.mda": frozenset({"\\Seen"}),
        },
    ),
    (
        _flag_rename,
        {"1700000001.M1P1.mda": frozenset(), "1700000002.M2P1.mda": frozenset({"\\Flagged", "\\Seen"})},
    ),
    (_unlink, {"1700000001.M1P1.mda": frozenset()}),
    (_new_to_cur, {"1700000001.M1P1.mda": frozenset({"\\Seen"}), "1700000002.M2P1.mda": frozenset()}),
    (_replace_new_dir, {"1700000002.M2P1.mda": frozenset(), "1700000100.M9P1.mda": frozenset()}),
]


@pytest.mark.parametrize(("change", "expected"), CHANGES, ids=[c.__name__.strip("_") for c, _ in CHANGES])
async def test_next_snapshot_sees_a_foreign_change(
    tmp_path: Path, change: Callable[[Path], None], expected: dict[str, frozenset[str]]
) -> None:
    async with served(tmp_path) as env:
        deliver(env.root, "1700000001.M1P1.mda")
        deliver(env.root, "1700000002.M2P1.mda", sub="cur", info=":2,")
        before = await env.settle()
        assert set(bases(before, env.box)) == {"1700000001.M1P1.mda", "1700000002.M2P1.mda"}
        proof = env.box.folder._watch_mark
        change(env.root)  # another process; no sleep, no event loop turn before the snapshot
        assert watchproof.token(env.key) != proof  # the watch saw it...
        snap = await env.box.snapshot()
        assert bases(snap, env.box) == expected  # ...and the very next snapshot shows it
        assert snap.version > before.version


async def test_uidlist_rewritten_by_dovecot(tmp_path: Path) -> None:
    """Dovecot rewrites the uidlist by a rename over it (maildir-format.md §3.4, §6.1); here with a
    new UIDVALIDITY, which the next snapshot must show."""
    async with served(tmp_path) as env:
        deliver(env.root, "1700000001.M1P1.mda")
        before = await env.settle()
        new_validity = before.uidvalidity + 1000
        tmp = env.root / "dovecot-uidlist.tmp"
        tmp.write_bytes(
            f"3 V{new_validity} N5 G0123456789abcdef0123456789abcdef\n5 :1700000001.M1P1.mda\n".encode()
        )
        os.rename(tmp, env.root / UIDLIST_NAME)
        snap = await env.box.snapshot()
        assert snap.uidvalidity == new_validity
        assert [m.uid for m in snap.messages] == [5]


async def test_uidlist_appended_in_place(tmp_path: Path) -> None:
    """A uidlist append (Dovecot adds records in place: IN_MODIFY, no rename) is a change too."""
    async with served(tmp_path) as env:
        deliver(env.root, "1700000001.M1P1.mda")
        before = await env.settle()
        assert before.uidnext == 2
        with open(env.root / UIDLIST_NAME, "ab") as fh:
            fh.write(b"50 :1700000050.M50P1.gone\n")  # a record whose file another process expunged
        snap = await env.box.snapshot()
        assert snap.uidnext == 51  # UIDs are never reused: the next one moved past 50


async def test_keywords_file_replaced(tmp_path: Path) -> None:
    async with served(tmp_path) as env:
        (env.root / KEYWORDS_NAME).write_bytes(b"0 Work\n")
        deliver(env.root, "1700000001.M1P1.mda", sub="cur", info=":2,a")
        before = await env.settle()
        assert before.keywords == {"Work"}
        tmp = env.root / "dovecot-keywords.tmp"
        tmp.write_bytes(b"0 Home\n")
        st = os.stat(env.root / KEYWORDS_NAME)
        os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a later write, a later mtime
        os.rename(tmp, env.root / KEYWORDS_NAME)
        snap = await env.box.snapshot()
        assert snap.keywords == {"Home"}
        assert snap.messages[0].flags == {"Home"}


async def test_overflow_falls_back_to_stats(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fill the kernel queue from another folder until it overflows; the delivery into INBOX that
    follows loses its event, so only the overflow tells: the tree is rebuilt, every token changes,
    every folder is marked dirty, and the stats find the message."""
    limit = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    if limit > 100_000:
        pytest.skip("max_queued_events too large to overflow in a test")
    async with served(tmp_path) as env:
        deliver(env.root, "1700000001.M1P1.mda")
        await env.settle()
        epoch = env.hub.version("no such folder")
        other = env.root / ".Other" / "cur"
        a, b = other / "x:2,", other / "x:2,S"
        a.write_bytes(MSG)
        for _ in range(limit // 2 + 1):  # two events a rename, none merged (the names alternate)
            os.rename(a, b)
            a, b = b, a
        deliver(env.root, "1700000100.M9P1.mda")  # its event is dropped
        stats = StatCounter(monkeypatch)
        snap = await env.box.snapshot()
        assert set(bases(snap, env.box)) == {"1700000001.M1P1.mda", "1700000100.M9P1.mda"}
        assert stats.calls >= 1
        assert env.hub.version("no such folder") > epoch  # everything marked dirty


@pytest.mark.parametrize("observer", [True, False], ids=["watchdog-fallback", "no-watch"])
async def test_without_inotify_watch_every_snapshot_stats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, observer: bool
) -> None:
    async with served(tmp_path, observer=observer, watched=observer) as env:
        deliver(env.root, "1700000001.M1P1.mda")
        for _ in range(SETTLE_SNAPSHOTS):
            await env.box.snapshot()
        assert watchproof.token(env.key) is None
        stats = StatCounter(monkeypatch)
        for _ in range(QUIET_SNAPSHOTS):
            await env.box.snapshot()
        assert stats.calls >= QUIET_SNAPSHOTS  # every snapshot (twice inside the dirty window)
        deliver(env.root, "1700000100.M9P1.mda")
        snap = await env.box.snapshot()
        assert set(bases(snap, env.box)) == {"1700000001.M1P1.mda", "1700000100.M9P1.mda"}


def test_tokens_follow_the_watches(tmp_path: Path) -> None:
    """A token exists only while the folder directory, new/ and cur/ are all watched; it changes
    with every event and watch change; a rebuild changes every token; close withdraws them."""
    root = make_folder(tmp_path / "Maildir")
    make_folder(root / ".Foo")
    tree = open_tree(root.resolve())
    inbox, foo = folder_key(root), folder_key(root / ".Foo")
    try:
        assert watchproof.token(foo) is None  # not published yet
        tree.publish()
        t1 = watchproof.token(foo)
        assert t1 is not None and watchproof.token(foo) == t1  # stable while nothing happens
        inbox_token = watchproof.token(inbox)
        deliver(root / ".Foo", "1.M1P1.h")
        t2 = watchproof.token(foo)
        assert t2 is not None and t2 != t1
        assert watchproof.token(inbox) == inbox_token  # another folder's events leave it alone
        (root / ".Foo" / "maildirfolder").write_bytes(b"")  # neither a message nor a control file
        assert watchproof.token(foo) == t2
        os.rename(root / ".Foo" / "new" / "1.M1P1.h", root / ".Foo" / "cur" / "1.M1P1.h:2,")
        os.rmdir(root / ".Foo" / "new")
        assert watchproof.token(foo) is None  # new/ unwatched: no proof
        os.mkdir(root / ".Foo" / "new")
        t3 = watchproof.token(foo)
        assert t3 is not None and t3 not in (t1, t2)
        elsewhere: list[int | None] = []
        thread = threading.Thread(target=lambda: elsewhere.append(watchproof.token(foo)))
        thread.start()
        thread.join()
        assert elsewhere == [None]  # only the thread that published the tree may drain it
        tree.rebuild()
        assert watchproof.token(foo) not in (None, t3)
        assert watchproof.token(inbox) not in (None, inbox_token)
    finally:
        tree.close()
    assert watchproof.token(foo) is None and watchproof.token(inbox) is None


@pytest.mark.parametrize(
    "change",
    ["none", "new", "cur", "uidlist", "keywords", "new-replaced", "new-gone"],
)
def test_same_on_disk_agrees_with_the_stamps(tmp_path: Path, change: str) -> None:
    folder = make_folder(tmp_path / "f")
    (folder / UIDLIST_NAME).write_bytes(b"3 V1 N1\n")
    paths = stamps_mod.StampPaths.of(folder, uidlist=UIDLIST_NAME, keywords=KEYWORDS_NAME)
    old = stamps_mod.read_stamps(paths)
    future = old.checked_ns + 10 * 10**9
    if change in ("new", "cur"):
        os.utime(folder / change, ns=(future, future))
    elif change == "uidlist":
        (folder / UIDLIST_NAME).write_bytes(b"3 V1 N2\n")
    elif change == "keywords":
        (folder / KEYWORDS_NAME).write_bytes(b"0 Work\n")
    elif change == "new-replaced":
        st = os.stat(folder / "new")
        os.rename(folder / "new", folder / "tmp" / "old")
        os.mkdir(folder / "new")
        os.utime(folder / "new", ns=(st.st_atime_ns, st.st_mtime_ns))  # same mtime, other inode
    elif change == "new-gone":
        os.rmdir(folder / "new")
    now = stamps_mod.read_stamps(paths)
    assert stamps_mod.same_on_disk(paths, old) == now.same_disk(old) == (change == "none")


def test_a_watch_that_cannot_be_added_gives_up_the_proof(tmp_path: Path) -> None:
    """ENOSPC (past max_user_watches) while a new folder is watched counts as an overflow; when
    the rebuild fails as well, the tree gives no token any more and the stats decide, and no
    exception reaches the snapshot that drained the queue."""
    root = make_folder(tmp_path / "Maildir")
    tree = open_tree(root.resolve())
    told: list[tuple[set[str], bool]] = []
    tree.listener = lambda keys, overflow: told.append((keys, overflow))
    inbox = folder_key(root)
    try:
        tree.publish()
        assert watchproof.token(inbox) is not None

        def refuse(path: str, mask: int) -> int:
            raise OSError(errno.ENOSPC, "inotify_add_watch: No space left on device", path)

        tree.notify.add_watch = refuse  # type: ignore[method-assign]
        make_folder(root / ".New")
        assert watchproof.token(inbox) is None
        assert tree.degraded and told[0] == (set(), True)  # then the IN_IGNORED of the dropped watches
        deliver(root, "1.M1P1.h")
        assert watchproof.token(inbox) is None
    finally:
        tree.close()


async def test_folder_directory_replaced(tmp_path: Path) -> None:
    """A folder's whole directory replaced (moved away, a new one with other messages put in its
    place): its watches go and come back, and the next snapshot shows the new directory."""
    async with served(tmp_path) as env:
        other = env.root / ".Other"
        deliver(other, "1700000001.M1P1.mda")
        box = await env.store.open("Other")
        try:
            for _ in range(SETTLE_SNAPSHOTS):
                before = await box.snapshot()
                if box.folder._watch_mark == watchproof.token(box.watch_key):
                    break
            assert box.folder._watch_mark == watchproof.token(box.watch_key)
            assert set(bases(before, box)) == {"1700000001.M1P1.mda"}
            os.rename(other, env.root / ".Old")
            make_folder(other)
            deliver(other, "1700000200.M7P1.mda")
            snap = await box.snapshot()
            assert set(bases(snap, box)) == {"1700000200.M7P1.mda"}
        finally:
            await box.close()
