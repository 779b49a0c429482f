"""Crash safety of STORE on many messages (``flagstore``): a process killed after the renames (memory
and sidecar not yet written) or after the sidecar write leaves, after restart, every message with
its UID, the flags its file name carries, and a modseq above everything handed out before for each
message whose flags changed (RFC 7162 §3.1: HIGHESTMODSEQ never goes back, a change is never lost).

The child runs one STORE with ``MAILDIRD_CRASH_AT=<step>`` (``sync.crash_point``: ``os._exit``, no
cleanup, no unlock, like a SIGKILL)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from maildird.store.base import NewMessage, Snapshot
from maildird.store.maildir.lock import LOCK_NAME
from maildird.store.maildir.store import MaildirStore
from maildird.store.maildir.sync import CRASH_ENV, CRASH_EXIT_CODE
from maildird.store.registry import Registry

COUNT = 40
CHILD = r"""
import sys, trio
from pathlib import Path
from maildird.store.maildir.store import MaildirStore
from maildird.store.registry import Registry

async def main(root, state):
    st = MaildirStore(Path(root), state_dir=Path(state), registry=Registry())
    inbox = await st.open("INBOX")
    snap = await inbox.snapshot(claim_recent=True)
    await inbox.store_flags([m.uid for m in snap.messages], "add", frozenset({"\\Flagged", "Later"}))
    print("completed")

trio.run(main, *sys.argv[1:])
"""
STEPS = ["store:after-rename", "store:after-record", "never"]


def make_store(tmp_path: Path) -> MaildirStore:
    return MaildirStore(tmp_path / "Maildir", state_dir=tmp_path / "state", registry=Registry())


def disk_flags(root: Path) -> dict[str, str]:
    """Base name -> the flag letters of its file in cur/ (new/ files have none)."""
    out = {n: "" for n in os.listdir(root / "new")}
    for n in os.listdir(root / "cur"):
        base, _, info = n.partition(":")
        out[base] = info.removeprefix("2,")
    return out


async def contents(store: MaildirStore) -> tuple[Snapshot, dict[int, str]]:
    mb = await store.open("INBOX")
    snap = await mb.snapshot()
    return snap, {m.uid: mb.folder.msgs[m.uid].base for m in snap.messages}


@pytest.mark.parametrize("step", STEPS)
async def test_crash_during_a_store(tmp_path: Path, step: str) -> None:
    root = tmp_path / "Maildir"
    store = make_store(tmp_path)
    inbox = await store.open("INBOX")
    await inbox.append(
        [NewMessage(f"Subject: m{i}\n\nx\n".encode(), frozenset({"\\Seen"})) for i in range(COUNT)]
    )
    before, before_bases = await contents(store)
    await store.close()

    env = {**os.environ, CRASH_ENV: step}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(root), str(tmp_path / "state")],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    expected = 0 if step == "never" else CRASH_EXIT_CODE
    assert proc.returncode == expected, proc.stderr.decode()
    lock = root / LOCK_NAME
    if lock.exists():  # the dead child's lock: stale once older than 2 s (maildir-format.md §3.4)
        past = time.time() - 10
        os.utime(lock, (past, past))

    store = make_store(tmp_path)
    after, after_bases = await contents(store)
    assert after_bases == before_bases  # no message lost, no UID changed
    on_disk = disk_flags(root)
    keyword = "a"  # the first keyword letter dovecot-keywords hands out
    for m in after.messages:
        assert on_disk[after_bases[m.uid]] == "F" + "S" + keyword  # every rename happened
        assert m.flags == frozenset({"\\Seen", "\\Flagged", "Later"})
        assert m.modseq > before.highestmodseq  # changed, so a new modseq even after the crash
    assert after.highestmodseq >= max(m.modseq for m in after.messages)
    await store.close()
