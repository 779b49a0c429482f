"""Crash safety: a process killed at any step of APPEND, COPY, MOVE, EXPUNGE or a uidlist rewrite
leaves, after restart, no message lost, no UID reused and no UID changed.

The child process runs one operation with ``MAILDIRD_CRASH_AT=<step>``, which makes the store call
``os._exit`` at that step (``sync.crash_point``): no cleanup, no unlock, like a SIGKILL.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from email.parser import BytesHeaderParser
from pathlib import Path

import pytest

from maildird.store.base import NewMessage
from maildird.store.maildir.lock import LOCK_NAME
from maildird.store.maildir.store import MaildirStore
from maildird.store.maildir.sync import CRASH_ENV, CRASH_EXIT_CODE
from maildird.store.maildir.uidlist import read_uidlist
from maildird.store.registry import Registry

CHILD = r"""
import sys, trio
from pathlib import Path
from maildird.store.base import NewMessage
from maildird.store.maildir.store import MaildirStore
from maildird.store.registry import Registry

async def main(root, state, op):
    st = MaildirStore(Path(root), state_dir=Path(state), registry=Registry())
    inbox = await st.open("INBOX")
    foo = await st.open("Foo")
    await inbox.snapshot()
    await foo.snapshot()
    if op == "append":
        await inbox.append([NewMessage(b"Subject: new1\n\nx\n"),
                            NewMessage(b"Subject: new2\n\nx\n", frozenset({"\\Seen", "Kw"}))])
    elif op == "copy":
        await inbox.copy([1, 3], foo)
    elif op == "move":
        await inbox.move([1], foo)
    elif op == "expunge":
        await inbox.expunge()
    print("completed")

trio.run(main, *sys.argv[1:])
"""

CASES = [
    ("append", "append:after-tmp"),
    ("append", "append:before-rename"),
    ("append", "append:after-rename"),
    ("append", "append:after-record"),
    ("copy", "copy:after-link"),
    ("copy", "copy:before-rename"),
    ("copy", "copy:after-rename"),
    ("copy", "copy:after-record"),
    ("move", "copy:after-rename"),
    ("move", "move:after-copy"),
    ("move", "expunge:after-unlink"),
    ("move", "uidlist:before-rewrite"),
    ("move", "uidlist:after-rewrite"),
    ("expunge", "expunge:after-unlink"),
    ("expunge", "uidlist:before-rewrite"),
    ("expunge", "uidlist:after-rewrite"),
    ("append", "never"),
    ("expunge", "never"),
]


def make_store(tmp_path: Path) -> MaildirStore:
    return MaildirStore(tmp_path / "Maildir", state_dir=tmp_path / "state", registry=Registry())


async def contents(store: MaildirStore, name: str) -> dict[int, str]:
    """UID -> Subject of every message in a folder."""
    mb = await store.open(name)
    snap = await mb.snapshot(claim_recent=True)
    out = {}
    for m in snap.messages:
        header = BytesHeaderParser().parsebytes(await mb.read_message(m.uid))
        out[m.uid] = str(header["Subject"])
    return out


def max_uid_on_disk(folder: Path) -> int:
    ul = read_uidlist(folder)
    return 0 if ul is None else ul.effective_next_uid - 1


@pytest.mark.parametrize(("op", "step"), CASES, ids=[f"{o}-{s}" for o, s in CASES])
async def test_crash_at_step(tmp_path: Path, op: str, step: str) -> None:
    root = tmp_path / "Maildir"
    store = make_store(tmp_path)
    await store.create("Foo")
    inbox = await store.open("INBOX")
    foo = await store.open("Foo")
    await inbox.append([NewMessage(f"Subject: m{i}\n\nbody {i}\n".encode()) for i in (1, 2, 3)])
    await foo.append([NewMessage(b"Subject: f1\n\nx\n")])
    await inbox.store_flags([2], "add", frozenset({"\\Deleted"}))
    before_inbox = await contents(store, "INBOX")
    before_foo = await contents(store, "Foo")
    await store.close()

    env = {**os.environ, CRASH_ENV: step}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(root), str(tmp_path / "state"), op],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    if step == "never":
        assert proc.returncode == 0, proc.stderr.decode()
    else:
        assert proc.returncode == CRASH_EXIT_CODE, proc.stderr.decode()
    # The dead process's lock is stale once older than 2 s (maildir-format.md §3.4 rule a);
    # age it instead of waiting.
    for folder in (root, root / ".Foo"):
        lock = folder / LOCK_NAME
        if lock.exists():
            past = time.time() - 10
            os.utime(lock, (past, past))
    highest = {"INBOX": max_uid_on_disk(root), "Foo": max_uid_on_disk(root / ".Foo")}

    store = make_store(tmp_path)
    after_inbox = await contents(store, "INBOX")
    after_foo = await contents(store, "Foo")

    # No UID changed: a message still present keeps its UID; none appears twice in a folder.
    for before, after in ((before_inbox, after_inbox), (before_foo, after_foo)):
        for uid, subject in before.items():
            if subject in after.values():
                assert after.get(uid) == subject, (uid, subject, after)
        assert len(set(after.values())) == len(after), after
    # No message lost.
    kept = {"m1", "m3"} if op in ("expunge", "move") else {"m1", "m2", "m3"}
    if op == "move":
        assert "m1" in after_inbox.values() or "m1" in after_foo.values()
        kept = {"m3"}
    assert kept <= set(after_inbox.values())
    assert "f1" in after_foo.values()
    if op == "append" and step in ("append:after-record", "never"):
        assert {"new1", "new2"} <= set(after_inbox.values())
    # No UID reused: new UIDs go past everything ever written.
    for name, mb_name in (("INBOX", "INBOX"), ("Foo", "Foo")):
        mb = await store.open(mb_name)
        res = await mb.append([NewMessage(b"Subject: later\n\nx\n")])
        previous = after_inbox if name == "INBOX" else after_foo
        assert res.uids[0] > max([highest[name], *previous]), (res.uids, highest, previous)
    await store.close()
