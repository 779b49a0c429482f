"""The locked scan: the cache avoids reading message files, the readdir race, locks held by others."""

from __future__ import annotations

import os
import random
import socket
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from maildird.store.base import MailboxInUse, NewMessage
from maildird.store.maildir.lock import LOCK_NAME
from maildird.store.maildir.store import MaildirStore
from maildird.store.maildir.sync import crlf_size
from maildird.store.registry import Registry

MSG = b"Subject: x\n\nline one\nline two\n"


def make_store(tmp_path: Path, **kw: float) -> MaildirStore:
    return MaildirStore(tmp_path / "Maildir", state_dir=tmp_path / "state", registry=Registry(), **kw)


@pytest.mark.parametrize(
    ("data", "expected"),
    [(b"", 0), (b"a\n", 3), (b"a\r\n", 3), (b"a\nb\r\nc", 7), (b"\n\n", 4), (b"\r", 1)],
)
def test_crlf_size(data: bytes, expected: int) -> None:
    assert crlf_size(data) == expected


async def test_reopen_reads_no_message_file(tmp_path: Path) -> None:
    """Sizes of files without ,W= are computed once and then come from the sidecar."""
    root = tmp_path / "Maildir"
    store = make_store(tmp_path)
    inbox = await store.open("INBOX")
    await inbox.snapshot()
    for i in range(50):  # Postfix-style names: no ,S= / ,W=
        (root / "cur" / f"17000000{i:02d}.Vfd01I{i:x}M1.host:2,S").write_bytes(MSG * (i + 1))
    first = await inbox.snapshot()
    assert [m.size for m in first.messages] == [crlf_size(MSG * (i + 1)) for i in range(50)]
    await store.close()
    for name in os.listdir(root / "cur"):
        os.truncate(root / "cur" / name, 0)  # a re-read would now see empty files
    store = make_store(tmp_path)
    inbox = await store.open("INBOX")
    second = await inbox.snapshot()
    assert [(m.uid, m.size, m.internaldate) for m in second.messages] == [
        (m.uid, m.size, m.internaldate) for m in first.messages
    ]
    await store.close()


async def test_lost_sidecar_keeps_uids_and_raises_modseqs(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    inbox = await store.open("INBOX")
    await inbox.append([NewMessage(MSG), NewMessage(MSG)])
    first = await inbox.snapshot()
    await store.close()
    for p in (tmp_path / "state").iterdir():
        p.unlink()
    store = make_store(tmp_path)
    inbox = await store.open("INBOX")
    second = await inbox.snapshot()
    assert second.uidvalidity == first.uidvalidity
    assert [m.uid for m in second.messages] == [1, 2]
    assert second.highestmodseq > first.highestmodseq  # never backwards (RFC 7162 §3.1)
    assert await inbox.expunged_since(first.highestmodseq) is None  # that history is gone
    await store.close()


async def test_readdir_race_never_expunges(tmp_path: Path) -> None:
    """An outside program flips flags by rename() while we scan (maildir-format.md §5.2, E9): no
    message may be reported expunged and no UID may change."""
    root = tmp_path / "Maildir"
    store = make_store(tmp_path)
    inbox = await store.open("INBOX")
    await inbox.snapshot()
    count = 3000
    names = [f"1700{i:06d}.M{i}P1.host,S=10,W=10" for i in range(count)]
    for base in names:
        (root / "cur" / (base + ":2,")).write_bytes(b"x")
    first = await inbox.snapshot()
    assert len(first.messages) == count
    uid_of = {m.uid for m in first.messages}
    stop = threading.Event()

    def flipper() -> None:
        rng = random.Random(7)
        state = dict.fromkeys(names, "")
        while not stop.is_set():
            base = rng.choice(names)
            new = "" if state[base] else "S"
            try:
                os.rename(root / "cur" / f"{base}:2,{state[base]}", root / "cur" / f"{base}:2,{new}")
                state[base] = new
            except FileNotFoundError:
                pass

    thread = threading.Thread(target=flipper)
    thread.start()
    try:
        for _ in range(15):
            inbox.folder.dirty = True
            snap = await inbox.snapshot()
            assert {m.uid for m in snap.messages} == uid_of
    finally:
        stop.set()
        thread.join()
    final = await inbox.snapshot()
    on_disk = {n.split(":")[0]: n.split(":2,")[1] for n in os.listdir(root / "cur")}
    assert len(on_disk) == count
    inbox.folder.dirty = True
    final = await inbox.snapshot()
    flags = {m.uid: m.flags for m in final.messages}
    ul_bases = {uid: base for base, uid in inbox.folder.by_base.items()}
    for uid, base in ul_bases.items():
        assert ("\\Seen" in flags[uid]) == ("S" in on_disk[base])
    await store.close()


async def test_live_foreign_lock(tmp_path: Path) -> None:
    """A live lock of another host is never overridden: the snapshot keeps the old state, a change
    fails with INUSE (maildir-format.md §3.4, E5e)."""
    root = tmp_path / "Maildir"
    store = make_store(tmp_path, lock_timeout=0.3)
    inbox = await store.open("INBOX")
    await inbox.append([NewMessage(MSG)])
    await inbox.snapshot()
    (root / LOCK_NAME).write_bytes(f"1234:not-{socket.gethostname()}".encode())
    (root / "new" / "1700000000.M1P1.mda").write_bytes(MSG)
    inbox.folder.dirty = True
    snap = await inbox.snapshot()
    assert [m.uid for m in snap.messages] == [1]  # "showing only old mails"
    with pytest.raises(MailboxInUse):
        await inbox.append([NewMessage(MSG)])
    assert (root / LOCK_NAME).read_bytes().startswith(b"1234:")
    os.unlink(root / LOCK_NAME)
    snap = await inbox.snapshot()
    assert [m.uid for m in snap.messages] == [1, 2]
    await store.close()


async def test_dead_local_lock_is_overridden(tmp_path: Path) -> None:
    root = tmp_path / "Maildir"
    store = make_store(tmp_path, lock_timeout=5)
    inbox = await store.open("INBOX")
    await inbox.snapshot()
    lock = root / LOCK_NAME
    lock.write_bytes(f"999999999:{socket.gethostname()}".encode())
    os.utime(lock, (1, 1))  # old, and the pid does not exist
    res = await inbox.append([NewMessage(MSG)])
    assert res.uids == (1,)
    assert not lock.exists()
    await store.close()


async def test_unchanged_snapshot_lists_no_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside the 1-second dirty window, a snapshot of an unchanged folder only stat()s."""
    store = make_store(tmp_path)
    inbox = await store.open("INBOX")
    await inbox.append([NewMessage(MSG)])
    first = await inbox.snapshot()
    folder = inbox.folder
    now = folder._current_stamps()
    folder.stamps = replace(now, checked_ns=max(now.new_mtime, now.cur_mtime) + 5 * 10**9)

    def no_listdir(path: object) -> list[str]:
        raise AssertionError(f"listdir({path}) on an unchanged folder")

    monkeypatch.setattr(os, "listdir", no_listdir)
    monkeypatch.setattr(os, "scandir", no_listdir)
    again = await inbox.snapshot()
    assert again == first
    monkeypatch.undo()
    (tmp_path / "Maildir" / "new" / "1700000000.M1P1.mda").write_bytes(MSG)
    assert [m.uid for m in (await inbox.snapshot()).messages] == [1, 2]
    await store.close()


@pytest.mark.parametrize("data", [b"a\r\nb\nc", b"\r\n" * 5, b"\n\r\n\r", b"x" * 7 + b"\r\n"])
@pytest.mark.parametrize("chunk", [1, 2, 3, 1 << 20])
def test_file_vsize_across_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes, chunk: int
) -> None:
    from maildird.store.maildir import listing as sync

    monkeypatch.setattr(sync, "READ_CHUNK", chunk)
    path = tmp_path / "m"
    path.write_bytes(data)
    assert sync.file_vsize(path) == crlf_size(data)


async def test_symlinked_message_is_not_served(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(b"Subject: not yours\n\nsecret\n")
    store = make_store(tmp_path)
    inbox = await store.open("INBOX")
    await inbox.append([NewMessage(MSG)])
    os.symlink(secret, tmp_path / "Maildir" / "cur" / "1700000000.M1P1.evil:2,S")
    snap = await inbox.snapshot()
    assert [m.uid for m in snap.messages] == [1]
    await store.close()


async def test_unwritable_state_dir_falls_back_to_memory(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_bytes(b"")
    store = MaildirStore(tmp_path / "Maildir", state_dir=blocker / "state", registry=Registry())
    inbox = await store.open("INBOX")
    res = await inbox.append([NewMessage(MSG)])
    assert [m.uid for m in (await inbox.snapshot()).messages] == list(res.uids)
    await store.close()
