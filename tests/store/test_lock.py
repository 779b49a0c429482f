"""The dovecot-uidlist.lock dotlock (maildir-format.md §3.4) with real processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from maildird.store.maildir import lock as lockmod
from maildird.store.maildir.lock import (
    LOCK_NAME,
    LockLost,
    LockTimeout,
    UidlistLock,
    check_held_by_us,
)

HOST = socket.gethostname()


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def age(path: Path, seconds: float) -> None:
    t = time.time() - seconds
    os.utime(path, (t, t))


def test_lock_content_and_release(tmp_path: Path) -> None:
    with UidlistLock(tmp_path) as lk:
        data = (tmp_path / LOCK_NAME).read_bytes()
        assert data == f"{os.getpid()}:{HOST}".encode()  # pid:host, no newline (E2)
        assert lk.held
        assert check_held_by_us(tmp_path)
    assert not (tmp_path / LOCK_NAME).exists()
    assert not check_held_by_us(tmp_path)


def test_lock_file_mode_follows_directory(tmp_path: Path) -> None:
    d = tmp_path / "m"
    d.mkdir(mode=0o700)
    os.chmod(d, 0o750)
    with UidlistLock(d):
        assert (os.stat(d / LOCK_NAME).st_mode & 0o777) == 0o640


def test_dead_local_pid_is_taken_over(tmp_path: Path) -> None:
    lockfile = tmp_path / LOCK_NAME
    lockfile.write_bytes(f"{dead_pid()}:{HOST}".encode())
    age(lockfile, lockmod.DEAD_PID_MIN_AGE + 1)
    lk = UidlistLock(tmp_path, timeout=5)
    with lk:
        assert lockfile.read_bytes() == f"{os.getpid()}:{HOST}".encode()
    assert lk.overrides == 1


def test_dead_pid_younger_than_two_seconds_is_respected(tmp_path: Path) -> None:
    lockfile = tmp_path / LOCK_NAME
    lockfile.write_bytes(f"{dead_pid()}:{HOST}".encode())
    with pytest.raises(LockTimeout):
        UidlistLock(tmp_path, timeout=0.3).acquire()
    assert lockfile.read_bytes() != f"{os.getpid()}:{HOST}".encode()


def test_live_foreign_host_lock_times_out(tmp_path: Path) -> None:
    lockfile = tmp_path / LOCK_NAME
    lockfile.write_bytes(b"1234:otherhost")  # E5e
    age(lockfile, 30)
    with pytest.raises(LockTimeout) as info:
        UidlistLock(tmp_path, timeout=0.5).acquire()
    assert info.value.holder == "1234:otherhost"
    assert info.value.code == "INUSE"
    assert lockfile.read_bytes() == b"1234:otherhost"


def test_live_local_process_lock_times_out(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lockfile = tmp_path / LOCK_NAME
        lockfile.write_bytes(f"{proc.pid}:{HOST}".encode())
        age(lockfile, 10)
        with pytest.raises(LockTimeout):
            UidlistLock(tmp_path, timeout=0.4).acquire()
        assert lockfile.read_bytes() == f"{proc.pid}:{HOST}".encode()
    finally:
        proc.kill()
        proc.wait()


def test_unchanged_for_stale_timeout_is_taken_over(tmp_path: Path) -> None:
    lockfile = tmp_path / LOCK_NAME
    lockfile.write_bytes(b"1234:otherhost")
    (tmp_path / "dovecot-uidlist").write_bytes(b"3 V1 N1 G00000000000000000000000000000000\n")
    age(lockfile, lockmod.STALE_TIMEOUT + 5)
    age(tmp_path / "dovecot-uidlist", lockmod.STALE_TIMEOUT + 5)
    lk = UidlistLock(tmp_path, timeout=5)
    with lk:
        assert lockfile.read_bytes() == f"{os.getpid()}:{HOST}".encode()
    assert lk.overrides == 1


def test_recent_uidlist_change_keeps_old_lock_alive(tmp_path: Path) -> None:
    lockfile = tmp_path / LOCK_NAME
    lockfile.write_bytes(b"1234:otherhost")
    age(lockfile, lockmod.STALE_TIMEOUT + 5)
    (tmp_path / "dovecot-uidlist").write_bytes(b"3 V1 N1\n")  # fresh: the holder is working
    with pytest.raises(LockTimeout):
        UidlistLock(tmp_path, timeout=0.3).acquire()


def test_stale_by_observation(tmp_path: Path) -> None:
    lockfile = tmp_path / LOCK_NAME
    lockfile.write_bytes(b"1234:otherhost")
    lk = UidlistLock(tmp_path, timeout=5, stale_timeout=0.3)
    with lk:
        assert lk.overrides == 1


HOLDER = """
import sys, time
from pathlib import Path
from maildird.store.maildir.lock import UidlistLock
with UidlistLock(Path(sys.argv[1])):
    print("locked", flush=True)
    sys.stdin.readline()
print("released", flush=True)
"""


def test_waits_for_another_process(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    try:
        assert proc.stdout.readline().strip() == "locked"
        assert (tmp_path / LOCK_NAME).read_bytes() == f"{proc.pid}:{HOST}".encode()
        with pytest.raises(LockTimeout):
            UidlistLock(tmp_path, timeout=0.3).acquire()
        proc.stdin.write("go\n")
        proc.stdin.flush()
        lk = UidlistLock(tmp_path, timeout=30)
        with lk:
            assert (tmp_path / LOCK_NAME).read_bytes() == f"{os.getpid()}:{HOST}".encode()
        assert lk.overrides == 0
    finally:
        proc.kill()
        proc.wait()


def test_killed_holder_is_taken_over(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    proc.kill()
    proc.wait()
    age(tmp_path / LOCK_NAME, lockmod.DEAD_PID_MIN_AGE + 1)
    lk = UidlistLock(tmp_path, timeout=5)
    with lk:
        assert lk.overrides == 1


def test_hardlink_style_lock_is_honoured(tmp_path: Path) -> None:
    # dotlock_use_excl=no: Dovecot writes tmp/temp.<host>.<pid>.<rand> and link()s it to the lock name
    (tmp_path / "tmp").mkdir()
    temp = tmp_path / "tmp" / f"temp.{HOST}.1234.abcd"
    temp.write_bytes(b"1234:otherhost")
    os.link(temp, tmp_path / LOCK_NAME)
    with pytest.raises(LockTimeout):
        UidlistLock(tmp_path, timeout=0.3).acquire()
    temp.unlink()
    os.unlink(tmp_path / LOCK_NAME)
    with UidlistLock(tmp_path, timeout=1):
        assert (tmp_path / LOCK_NAME).read_bytes() == f"{os.getpid()}:{HOST}".encode()


def test_refresh_touches_and_detects_loss(tmp_path: Path) -> None:
    lk = UidlistLock(tmp_path)
    with lk:
        age(lk.path, 100)
        lk.refresh()
        assert time.time() - os.stat(lk.path).st_mtime < 50
        age(lk.path, 100)
        lk.maybe_refresh()  # just touched: no-op
        assert time.time() - os.stat(lk.path).st_mtime > 50
        os.unlink(lk.path)
        with pytest.raises(LockLost):
            lk.refresh()
        (tmp_path / LOCK_NAME).write_bytes(b"1:someone")
    # a lock taken over by someone else is not removed on release
    assert (tmp_path / LOCK_NAME).read_bytes() == b"1:someone"


def test_keep_fresh_touches_from_a_thread(tmp_path: Path) -> None:
    lk = UidlistLock(tmp_path)
    with lk:
        age(lk.path, 100)
        before = os.stat(lk.path).st_mtime
        with lk.keep_fresh(interval=0.05):
            deadline = time.monotonic() + 10
            while os.stat(lk.path).st_mtime == before and time.monotonic() < deadline:
                time.sleep(0.02)
        assert os.stat(lk.path).st_mtime > before


def test_keep_fresh_stops_touching_when_the_block_ends(tmp_path: Path) -> None:
    """After ``keep_fresh`` exits nothing touches the lock any more (the shared toucher thread has
    forgotten it), so a release can never be followed by a touch of the next holder's file."""
    lk = UidlistLock(tmp_path)
    with lk:
        with lk.keep_fresh(interval=0.01):
            pass
        age(lk.path, 100)
        before = os.stat(lk.path).st_mtime
        time.sleep(0.2)
        assert os.stat(lk.path).st_mtime == before
    (tmp_path / "sub").mkdir()
    other = UidlistLock(tmp_path / "sub")
    with other, other.keep_fresh(interval=0.05):  # the shared thread still serves the next lock
        age(other.path, 100)
        first = os.stat(other.path).st_mtime
        deadline = time.monotonic() + 10
        while os.stat(other.path).st_mtime == first and time.monotonic() < deadline:
            time.sleep(0.02)
        assert os.stat(other.path).st_mtime > first
