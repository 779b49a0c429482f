"""One per-mailbox SQLite cache file beside the sidecar, opened lazily and never an error to the client
(the header cache's ``<guid>.headers.db`` and the section cache's ``<guid>.sections.db``; the structure
and search-text caches keep their own slots but share ``is_corrupt`` and ``RETRY_SECONDS``).

Theory of operation: a ``FileSlot`` holds at most one open file object, bound to the folder's current
incarnation (GUID, UIDVALIDITY); a file of another one is recreated by the file class. A file SQLite
finds damaged (corrupt, not a database, a short read) is deleted and rebuilt; an error that says
nothing about its contents (busy, locked, read-only, cannot open, disk full: ``_PASSING``) turns the
slot off for ``RETRY_SECONDS``, and the callers read the message files meanwhile. After opening, the
file is asked to ``prune`` rows of messages the folder no longer has. Blocking: worker threads only,
under the folder lock.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable, Container, Iterator, Sequence
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from maildird.store.maildir import collector
from maildird.store.maildir.sync import MEMORY_DB, Folder

log = logging.getLogger("maildird.store")

RETRY_SECONDS = 60.0
"""After an error that leaves a file unusable (read-only or full disk, locked, cannot open), the
folder's cache file is not tried again for this long: one warning, not one per batch."""

_PASSING = (
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_READONLY",
    "SQLITE_CANTOPEN",
    "SQLITE_FULL",
    "SQLITE_PERM",
    "SQLITE_NOMEM",
    "SQLITE_INTERRUPT",
    "SQLITE_AUTH",
)
"""SQLite errors (and their extended codes) that say nothing about the file's contents: the cache
is skipped for the call. Any other error (corrupt, not a database, short read) discards the file."""


def is_corrupt(exc: BaseException) -> bool:
    """True for an error SQLite reports about the file (it carries a result code) other than the
    ``_PASSING`` ones; misuse errors without a code (a closed connection) and OS errors are not the
    file's fault. Every per-mailbox cache file (headers, sections, structures, search texts) goes by
    this one rule."""
    name = getattr(exc, "sqlite_errorname", None)
    return isinstance(name, str) and bool(name) and not name.startswith(_PASSING)


def connect(path: Path, schema: str, *, page_size: int | None = None) -> sqlite3.Connection:
    """Open a per-mailbox cache file the way all of them are opened: autocommit (transactions are
    explicit), usable from any worker thread (``check_same_thread=False``: the caller's lock
    serializes them), ``BUSY_TIMEOUT_MS``, ``PAGE_CACHE_KIB``, WAL with ``synchronous=NORMAL`` (a lost
    tail of the log after a power cut loses cache rows, nothing else), ``page_size`` for a new file,
    then ``schema``. The connection is closed if any of that fails."""
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    try:
        db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        if page_size is not None:
            db.execute(f"PRAGMA page_size={page_size}")  # only a new file takes it
        db.execute(f"PRAGMA cache_size=-{PAGE_CACHE_KIB}")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(schema)
    except BaseException:
        db.close()
        raise
    return db


def remove(path: Path) -> None:
    """Delete a cache file with its WAL and shared-memory files (those missing are fine)."""
    for suffix in ("", "-wal", "-shm"):
        try:
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        except OSError:
            pass


def beside(state_path: Path, suffix: str) -> Path | None:
    """The cache file named ``<sidecar base name><suffix>`` beside a sidecar, or None for an in-memory
    sidecar."""
    if str(state_path) == MEMORY_DB:
        return None
    return state_path.with_name(state_path.stem + suffix)


PAGE_SIZE = 65536
"""SQLite page size of a new file (its default is 4 KiB). A message list reads 1,024 rows per query:
with large pages a read after a restart (page cache dropped) is a few long reads instead of hundreds
of 4 KiB ones (10,000 Thunderbird sections, cold: 42-54 ms -> 25-31 ms; warm 42 -> 27 ms)."""

PAGE_CACHE_KIB = 256
"""SQLite's page cache per open cache file (its default is 2 MiB). Rows are read once per FETCH and
the kernel caches the file anyway; a small cache keeps a server with many folders open lean."""

BUSY_TIMEOUT_MS = 1000
"""How long a statement waits for another process's write lock before the cache is skipped."""

SELECT_CHUNK = 500
"""UIDs per ``SELECT ... IN (...)``, below SQLite's smallest bound-parameter limit (999)."""

RANGE_SLACK = 2
"""UIDs whose span is at most this many times their number are read as one ``BETWEEN`` range (one run
of the b-tree; a message list's round is a run of UIDs), others with ``IN``."""


def collector_paused() -> contextlib.AbstractContextManager[None]:
    """Pause the cyclic garbage collector while a large read builds its rows (thousands of tuples of
    octets and numbers, none in a cycle), re-enabled only if it was enabled on entry. Unlike
    ``collector.bulk_build`` nothing is promoted on the way out: the first young collection untracks
    such tuples (they hold no container), while promoted ones would stay tracked in the oldest
    generation and lengthen every full collection (10,000 sections read after a restart: a heap of
    74,000 tracked objects became 84,000). Safe with pauses in other threads (``collector.paused``)."""
    return collector.paused()


def runs(uids: Sequence[int]) -> Iterator[tuple[Sequence[int], int, int, bool]]:
    """How to read the rows of ``uids``: ``(chunk, low, high, dense)`` per query. When all of them are
    dense (``RANGE_SLACK``) that is one ``BETWEEN`` query whatever their number: a message list's
    read-ahead of 10,000 sections was 20 queries of 500 (a range binds two parameters, not one per
    UID; 10,000 Thunderbird sections 14 -> 10 ms). Otherwise ``SELECT_CHUNK`` UIDs per query, each
    chunk a range when it is dense and an ``IN`` list when not. The caller drops rows of UIDs
    between the wanted ones when ``high - low + 1 != len(chunk)``."""
    if not uids:
        return
    low, high = min(uids), max(uids)
    if high - low < RANGE_SLACK * len(uids):
        yield uids, low, high, True
        return
    for i in range(0, len(uids), SELECT_CHUNK):
        chunk = uids[i : i + SELECT_CHUNK]
        low, high = min(chunk), max(chunk)
        yield chunk, low, high, high - low < RANGE_SLACK * len(chunk)


class BoundFile:
    """An open cache file bound to one ``(guid, uidvalidity)`` and schema version, recorded in its
    ``meta`` table; a file recording others is deleted and made again (its rows belong to another
    incarnation, and a new file takes ``PAGE_SIZE``). Blocking, not thread-safe: the caller holds the
    folder lock. Raises ``sqlite3.Error``; ``FileSlot`` handles it."""

    SCHEMA = ""
    """The tables besides ``meta`` (``CREATE TABLE IF NOT EXISTS`` statements)."""
    VERSION = 0
    """Bumped when the tables or the meaning of a value change."""

    def __init__(self, path: Path, guid: str, uidvalidity: int) -> None:
        self.path = path
        self.guid = guid
        self.uidvalidity = uidvalidity
        want = {"schema": str(self.VERSION), "guid": guid, "uidvalidity": str(uidvalidity)}
        self._db = self._open(path)
        try:
            meta = self._meta()
            if meta not in ({}, want):
                self._db.close()
                remove(path)
                self._db = self._open(path)
                meta = {}
            if not meta:
                with self._db:
                    self._db.execute("BEGIN IMMEDIATE")
                    self._db.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", list(want.items()))
        except sqlite3.Error:
            self._db.close()
            raise

    def _open(self, path: Path) -> sqlite3.Connection:
        return connect(
            path,
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);\n" + self.SCHEMA,
            page_size=PAGE_SIZE,
        )

    def _meta(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in self._db.execute("SELECT key, value FROM meta")}

    def close(self) -> None:
        self._db.close()


class CacheFile(Protocol):
    """What a slot needs of an open cache file."""

    path: Path
    guid: str
    uidvalidity: int

    def prune(self, present: Container[int], count: int) -> None: ...

    def close(self) -> None: ...


F = TypeVar("F", bound=CacheFile)


class FileSlot(Generic[F]):
    """The lazily opened cache file of one folder (module docstring)."""

    def __init__(self, opener: Callable[[Path, str, int], F], suffix: str, what: str) -> None:
        self._opener = opener
        self.suffix = suffix
        self.what = what
        self.file: F | None = None
        self._resting_until = 0.0  # time.monotonic() before which the file is not tried

    def path_of(self, folder: Folder) -> Path | None:
        state = folder.state
        return beside(state.path, self.suffix) if state is not None else None

    def open(self, folder: Folder) -> F | None:
        """The file for the folder's current incarnation (opened, re-bound or None)."""
        path = self.path_of(folder)
        if path is None or folder.guid is None:
            self.close()
            return None
        f = self.file
        if f is not None and (f.path, f.guid, f.uidvalidity) == (path, folder.guid, folder.uidvalidity):
            return f
        self.close()
        if time.monotonic() < self._resting_until:
            return None
        try:
            f = self._opener(path, folder.guid, folder.uidvalidity)
        except sqlite3.Error as exc:
            if not is_corrupt(exc):
                self._rest(path, exc)
                return None
            log.warning("%s %s is corrupt; rebuilding it", self.what, path, exc_info=True)
            self.discard(path)
            try:
                f = self._opener(path, folder.guid, folder.uidvalidity)
            except sqlite3.Error as again:
                self._rest(path, again)
                return None
        except OSError as exc:
            self._rest(path, exc)
            return None
        self.file = f
        try:
            f.prune(folder.msgs, len(folder.msgs))
        except sqlite3.Error as exc:
            self.failed(exc, path)
            return None
        return f

    def open_existing(self, folder: Folder) -> F | None:
        """The file if it is open or exists (no new file for a folder that never had one)."""
        if self.file is None:
            path = self.path_of(folder)
            if path is None or not path.exists():
                return None
        return self.open(folder)

    def failed(self, exc: sqlite3.Error, path: Path) -> None:
        """An SQLite error: a corrupt file is deleted (rebuilt on the next call); otherwise the slot
        rests."""
        if is_corrupt(exc):
            log.warning("%s %s is corrupt; rebuilding it", self.what, path, exc_info=True)
            self.discard(path)
        else:
            self._rest(path, exc)

    def discard(self, path: Path) -> None:
        self.close()
        remove(path)

    def _rest(self, path: Path, exc: Exception) -> None:
        log.warning("%s %s unusable for %.0f s: %s", self.what, path, RETRY_SECONDS, exc)
        self.close()
        self._resting_until = time.monotonic() + RETRY_SECONDS

    def close(self) -> None:
        if self.file is not None:
            try:
                self.file.close()
            except sqlite3.Error:
                pass
            self.file = None
