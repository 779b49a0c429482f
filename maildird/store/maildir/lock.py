"""The ``dovecot-uidlist.lock`` dotlock, compatible with Dovecot's ``file_dotlock`` (maildir-format.md §3.4).

Theory of operation:

* Acquire: ``open(lock, O_RDWR|O_CREAT|O_EXCL)`` in the mailbox's control directory and write
  ``"<pid>:<host>"`` with no newline (Dovecot's default ``dotlock_use_excl=yes``). A lock made
  Dovecot's other way (a temp file ``link()``-ed to the lock name) looks the same once it exists, so
  both are honoured alike.
* A waiter overrides an existing lock only when it is stale:
  (a) it is older than ``DEAD_PID_MIN_AGE`` seconds, names OUR host, and ``kill(pid, 0)`` says the
      process is gone; or
  (b) neither the lock (inode, size, mtime, ctime) nor ``dovecot-uidlist`` changed for
      ``STALE_TIMEOUT`` seconds, either by their mtimes or by our own observation while waiting.
  After an override it sleeps ``OVERRIDE_SLEEP`` (0.1-0.2 s) so that two overriders do not race.
* A live foreign lock is never overridden: after ``timeout`` seconds ``LockTimeout`` is raised
  (the protocol answers ``NO [INUSE]``).
* The holder touches the lock at least every ``TOUCH_SECS`` during long operations, so that rule
  (b) never fires against a live holder: call ``maybe_refresh()`` in loops, or wrap the work in
  ``with lock.keep_fresh():`` which touches from the process's toucher thread.
* Release unlinks the lock only if it is still ours (same inode); a lock taken over meanwhile is
  left alone.

This module is synchronous; the store runs it in worker threads (``trio.to_thread.run_sync``).
It also holds the small file helpers shared by the control-file modules (mode and group from the
directory, directory fsync).
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import socket
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from maildird.store.base import MailboxInUse, StoreError

LOCK_NAME = "dovecot-uidlist.lock"
UIDLIST_NAME = "dovecot-uidlist"

STALE_TIMEOUT = 120.0
"""``MAILDIR_UIDLIST_LOCK_STALE_TIMEOUT``: a lock unchanged (with the uidlist) this long is stale."""
DEFAULT_TIMEOUT = STALE_TIMEOUT + 2
"""Dovecot waits ``stale_timeout + 2`` seconds (or ``mail_max_lock_timeout``) before giving up."""
TOUCH_SECS = 10.0
"""``MAILDIR_LOCK_TOUCH_SECS``: the holder refreshes the lock's mtime at least this often."""
TOUCH_INTERVAL = TOUCH_SECS / 2
"""How often ``keep_fresh`` touches: well inside ``TOUCH_SECS``."""
DEAD_PID_MIN_AGE = 2.0
"""A lock of a dead local pid is overridden only once it is older than this (Dovecot's rule)."""
OVERRIDE_SLEEP = (0.1, 0.2)
"""Random pause after overriding a stale lock, before creating ours."""
POLL_MIN, POLL_MAX = 0.01, 0.25
"""Wait between attempts while a lock is held: starts small, doubles up to the maximum."""
FILE_MODE_MASK = 0o666


class LockTimeout(MailboxInUse):
    """A live lock held by someone else did not go away within the timeout."""

    def __init__(self, path: Path, holder: str) -> None:
        super().__init__(f"timeout while waiting for lock {path} (held by {holder or 'unknown'})")
        self.path = path
        self.holder = holder


class LockLost(StoreError):
    """Our lock file was removed or replaced by someone who judged it stale."""


# --------------------------------------------------------------------------------------------------
# File helpers shared by the control-file modules


def dir_file_mode(dirpath: Path) -> int:
    """Mode for files created in ``dirpath``: the directory's mode ``& 0666`` (Dovecot
    ``mailbox_get_permissions``)."""
    return stat.S_IMODE(os.stat(dirpath).st_mode) & FILE_MODE_MASK


def adopt_dir_permissions(fd: int, dirpath: Path) -> None:
    """Give a new file the directory's permission bits, and its group when the directory is setgid."""
    st = os.stat(dirpath)
    with contextlib.suppress(OSError):
        os.fchmod(fd, stat.S_IMODE(st.st_mode) & FILE_MODE_MASK)
        if st.st_mode & stat.S_ISGID:
            os.fchown(fd, -1, st.st_gid)


def fsync_dir(dirpath: Path) -> None:
    """fsync a directory so that a rename or create in it is durable."""
    fd = os.open(dirpath, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def lock_content() -> str:
    """What our lock files contain: ``"<pid>:<hostname>"`` (E2: ``b'26655:vm'``)."""
    return f"{os.getpid()}:{socket.gethostname()}"


def read_holder(path: Path) -> str:
    """The content of a lock file ('' if unreadable or gone)."""
    try:
        with open(path, "rb") as f:
            return f.read(256).decode("utf-8", "replace").strip()
    except OSError:
        return ""


def pid_is_dead(pid: int) -> bool:
    """True only if no process with this pid exists (``kill(pid, 0)`` fails with ESRCH)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # EPERM: it exists, owned by someone else
    return False


def _state(path: Path) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


# --------------------------------------------------------------------------------------------------


class UidlistLock:
    """``with UidlistLock(dirpath):`` holds ``<dirpath>/dovecot-uidlist.lock``.

    ``dirpath`` is the mailbox's control directory (the folder directory; the Maildir root for INBOX).
    The same class serves other Dovecot dotlocks through ``name``/``watched``.
    """

    def __init__(
        self,
        dirpath: Path,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        stale_timeout: float = STALE_TIMEOUT,
        name: str = LOCK_NAME,
        watched: str = UIDLIST_NAME,
    ) -> None:
        self.dirpath = Path(dirpath)
        self.path = self.dirpath / name
        self.watched = self.dirpath / watched
        self.timeout = timeout
        self.stale_timeout = stale_timeout
        self._ino: int | None = None
        self._last_touch = 0.0
        self.overrides = 0
        """How many stale locks this object overrode (for logging and tests)."""

    @property
    def held(self) -> bool:
        return self._ino is not None

    # -- acquire / release ---------------------------------------------------------------------

    def acquire(self) -> None:
        """Take the lock, overriding stale ones; raise ``LockTimeout`` after ``self.timeout`` seconds."""
        if self.held:
            raise RuntimeError(f"{self.path} is already held by this object")
        deadline = time.monotonic() + self.timeout
        seen: tuple[tuple[int, int, int, int] | None, tuple[int, int, int, int] | None] | None = None
        seen_since = time.monotonic()
        poll = POLL_MIN
        while True:
            if self._try_create():
                return
            lock_state = _state(self.path)
            if lock_state is None:
                continue  # released between our open() and stat(): try again at once
            now = time.monotonic()
            current = (lock_state, _state(self.watched))
            if current != seen:
                seen, seen_since = current, now
            if self._is_stale(lock_state, now - seen_since):
                self._override(lock_state)
                continue
            if now >= deadline:
                raise LockTimeout(self.path, read_holder(self.path))
            time.sleep(min(poll, max(0.0, deadline - now)))
            poll = min(poll * 2, POLL_MAX)

    def _try_create(self) -> bool:
        flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(self.path, flags, dir_file_mode(self.dirpath))
        except FileExistsError:
            return False
        try:
            adopt_dir_permissions(fd, self.dirpath)
            os.write(fd, lock_content().encode())
            self._ino = os.fstat(fd).st_ino
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(self.path)
            raise
        os.close(fd)
        self._last_touch = time.monotonic()
        return True

    def _is_stale(self, lock_state: tuple[int, int, int, int], unchanged_for: float) -> bool:
        lock_mtime = lock_state[2] / 1e9
        age = time.time() - lock_mtime
        holder = read_holder(self.path)
        pid_s, sep, host = holder.partition(":")
        if (
            sep
            and pid_s.isdigit()
            and host == socket.gethostname()
            and age > DEAD_PID_MIN_AGE
            and pid_is_dead(int(pid_s))
        ):
            return True  # rule (a)
        if unchanged_for >= self.stale_timeout:
            return True  # rule (b), by observation
        watched = _state(self.watched)
        newest = max(lock_mtime, (watched[2] / 1e9) if watched else 0.0)
        return time.time() - newest >= self.stale_timeout  # rule (b), by the files' own mtimes

    def _override(self, lock_state: tuple[int, int, int, int]) -> None:
        # Only remove the lock we judged: if it was replaced meanwhile, leave the new one alone.
        if _state(self.path) == lock_state:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            self.overrides += 1
        time.sleep(random.uniform(*OVERRIDE_SLEEP))

    def release(self) -> None:
        """Unlink the lock if it is still ours."""
        if self._ino is None:
            return
        ino, self._ino = self._ino, None
        try:
            if self._still_ours(ino):
                os.unlink(self.path)
        except FileNotFoundError:
            pass

    def _still_ours(self, ino: int) -> bool:
        # The inode alone is not enough: a replacement may reuse the number of our unlinked file.
        return os.stat(self.path).st_ino == ino and read_holder(self.path) == lock_content()

    def __enter__(self) -> UidlistLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    # -- keeping it fresh ----------------------------------------------------------------------

    def refresh(self) -> None:
        """Touch the lock (``utime``), so rule (b) does not fire; raise ``LockLost`` if it is gone."""
        if self._ino is None:
            raise LockLost(f"{self.path} is not held")
        try:
            if not self._still_ours(self._ino):
                raise LockLost(f"{self.path} was replaced by another process")
            os.utime(self.path)
        except FileNotFoundError:
            raise LockLost(f"{self.path} was removed by another process")
        self._last_touch = time.monotonic()

    def maybe_refresh(self) -> None:
        """Cheap to call in loops: touches only when ``TOUCH_INTERVAL`` passed since the last touch."""
        if time.monotonic() - self._last_touch >= TOUCH_INTERVAL:
            self.refresh()

    @contextlib.contextmanager
    def keep_fresh(self, interval: float = TOUCH_INTERVAL) -> Iterator[None]:
        """Touch the lock every ``interval`` seconds while the block runs (from the process's one
        toucher thread: a thread per lock cost more than a short APPEND itself)."""
        key = _TOUCHER.add(self, interval)
        try:
            yield
        finally:
            _TOUCHER.remove(key)


class _Toucher:
    """One daemon thread that touches every lock held inside a ``keep_fresh`` block when due.

    It touches while holding its condition's lock, and ``remove`` takes that lock too, so once
    ``remove`` returns no touch of that lock is running or will run: the lock may then be released
    (a touch after the release could otherwise land on the next holder's file).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._due: dict[int, tuple[UidlistLock, float, float]] = {}
        self._next_key = 0
        self._thread: threading.Thread | None = None
        self._wake_at = 0.0  # when the thread wakes by itself (inf: only when notified)

    def add(self, lock: UidlistLock, interval: float) -> int:
        with self._cond:
            self._next_key += 1
            when = time.monotonic() + interval
            self._due[self._next_key] = (lock, interval, when)
            if self._thread is None or not self._thread.is_alive():  # first use, or after fork()
                self._thread = threading.Thread(target=self._run, name="uidlist lock toucher", daemon=True)
                self._thread.start()
            elif when < self._wake_at:
                self._cond.notify()  # only when it sleeps past this one's first touch (no GIL ping-pong)
            return self._next_key

    def remove(self, key: int) -> None:
        with self._cond:
            self._due.pop(key, None)

    def _run(self) -> None:
        with self._cond:
            while True:
                if not self._due:
                    self._wake_at = math.inf
                    self._cond.wait()
                    continue
                key, (lock, interval, when) = min(self._due.items(), key=lambda kv: kv[1][2])
                now = time.monotonic()
                if when > now:
                    self._wake_at = when
                    self._cond.wait(when - now)
                    continue
                try:
                    lock.refresh()
                    self._due[key] = (lock, interval, now + interval)
                except (LockLost, OSError):
                    self._due.pop(key, None)  # gone or taken over: the holder finds out on release


_TOUCHER = _Toucher()


def check_held_by_us(dirpath: Path, name: str = LOCK_NAME) -> bool:
    """True if ``<dirpath>/<name>`` exists and names this process (used to assert "under the lock")."""
    holder = read_holder(Path(dirpath) / name)
    return holder == lock_content()
