"""The structure cache: each message's serialized ENVELOPE, BODY and BODYSTRUCTURE (``store.structs``),
so a FETCH of them reads no message file (what Dovecot answers from ``dovecot.index.cache``).

Theory of operation:

* What is cached is a ``StructRow`` of octets the protocol layer computed; the store never looks
  inside. A Maildir message file never changes its content, so a row stays right for ``(mailbox GUID,
  UIDVALIDITY, UID)`` for ever: no stat, no mtime check. UIDs are never reused within one
  UIDVALIDITY, so a row left behind by another program's expunge can never be served for another
  message; lookups serve only UIDs the folder still knows, and such rows are pruned when the file is
  next opened.
* Disk layer (``structfile``): one SQLite file per mailbox beside the sidecar (``<guid>.structs.db``
  next to ``<guid>.sqlite`` and the header cache's ``<guid>.headers.db``), WAL, ``synchronous=NORMAL``
  (a lost tail of the log loses cache rows, nothing else), one row per message. A ``meta`` table holds
  the schema version, GUID and UIDVALIDITY; when they differ from the folder's, every row is dropped.
  Rows are written in one transaction per batch by the worker thread that computed them; rows of
  more than ``MAX_CACHED_ROW`` octets are not kept (they are computed each time).
* Locking: the file belongs to this object alone, so it is guarded by its own ``threading.Lock``, not
  the folder's ``trio.Lock``: a FETCH answered from the cache never waits for another session's STORE
  or sync, and the computing thread can store its rows without a trip back to the event loop. The
  folder's incarnation and message set are read in the Trio thread per call (``_Where``).
* Failure: the cache is never an error to the client. A file SQLite finds damaged (corrupt, not a
  database) is deleted and rebuilt; an error that says nothing about its contents (busy, locked,
  read-only, cannot open, disk full) turns the file off for ``RETRY_SECONDS``; a row whose
  columns have the wrong types is a miss. Meanwhile the values are computed from the files.
* Memory layer: a process-wide LRU (``MemoryLayer``) bounded by ``MEMORY_BYTES``, filled only by
  requests of at most ``MEMORY_FILL_MAX`` messages (a client opening a message, several clients
  fetching the newest mail): a whole-folder fetch reads the file in large batches and would only
  churn it, and only they look there first. A request it fully answers needs no thread hop. Trio
  thread only, so no lock.
* Invalidation: ``MaildirMailbox`` expunge and MOVE call ``forget_locked``/``forget_memory`` with the
  removed UIDs; a new incarnation empties the file and changes the memory key; ``store.drop_state``
  deletes the file with the mailbox (``struct_path``), and ``maildird reindex`` with the state dir.
"""

from __future__ import annotations

import itertools
import logging
import sqlite3
import threading
import time
import weakref
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import trio

from maildird.bytecache import ByteBoundCache
from maildird.store.maildir.cachefile import RETRY_SECONDS, collector_paused, is_corrupt
from maildird.store.maildir.structfile import CACHE_SUFFIX, StructFile, struct_path
from maildird.store.maildir.sync import Folder
from maildird.store.structs import StructRow

log = logging.getLogger("maildird.store")

MAX_CACHED_ROW = 256 * 1024
"""Rows holding more octets than this are not kept (a To: of thousands of addresses, thousands of
MIME parts): rare, and they would bloat the file and the memory layer."""

MEMORY_BYTES = 4 * 1024 * 1024
"""Bound of the process-wide memory layer (row octets plus ``ENTRY_OVERHEAD`` each): about 4,000
typical rows of ENVELOPE, BODY and BODYSTRUCTURE (~640 octets each)."""

ENTRY_OVERHEAD = 360
"""Python's cost of one memory entry beyond its octets (the row object, its bytes objects' headers,
the key tuple, the dict slot; measured with tracemalloc on CPython 3.11: 352 octets)."""

MEMORY_FILL_MAX = 64
"""Requests of at most this many messages put the rows they find or compute into the memory layer."""


BULK_MIN = 256
"""Reads of at least this many rows run with the cyclic garbage collector paused
(``cachefile.collector_paused``): a round of a message list's FETCH builds thousands of rows, none in
a cycle (``sectioncache.BULK_MIN``)."""

THREADS = trio.CapacityLimiter(4)
"""Worker threads reading or writing structure cache files at once, server-wide."""

MemKey = tuple[int, str, int, int]


@dataclass(frozen=True, slots=True)
class _Where:
    """The folder as one call sees it: its cache file (None: memory only), incarnation and the UIDs
    it knows (``Folder.msgs``: membership tests only, safe from a worker thread)."""

    path: Path | None
    guid: str
    uidvalidity: int
    known: Container[int]


def _where(folder: Folder) -> _Where | None:
    if folder.guid is None:
        return None
    state = folder.state
    path = struct_path(state.path) if state is not None else None
    return _Where(path, folder.guid, folder.uidvalidity, folder.msgs)


def _memory_cost(key: MemKey, row: StructRow) -> int:
    return row.octets() + ENTRY_OVERHEAD


class MemoryLayer(ByteBoundCache[MemKey, StructRow]):
    """A byte-bounded LRU of rows (module docstring). Trio thread only."""

    __slots__ = ()

    def __init__(self, limit: int = MEMORY_BYTES) -> None:
        super().__init__(limit, _memory_cost, lru=True)


MEMORY = MemoryLayer()
"""The process-wide memory layer, shared by every folder and session."""

_tokens = itertools.count(1)


class FolderStructs:
    """The structure cache of one ``Folder``: its file (opened lazily) and its share of ``MEMORY``."""

    def __init__(self, memory: MemoryLayer = MEMORY) -> None:
        self.memory = memory
        self.token = next(_tokens)  # tells this folder's memory entries from another's
        self._lock = threading.Lock()
        self._file: StructFile | None = None
        self._resting_until = 0.0  # time.monotonic() before which the file is not tried

    # -- Trio thread: the memory layer ------------------------------------------------------------

    def recall(self, where: _Where, uids: Sequence[int]) -> tuple[dict[int, StructRow], list[int]]:
        """Rows the memory layer holds, and the UIDs still to look up (UIDs the folder no longer
        knows are never answered: the caller reads their files and reports them gone)."""
        hits: dict[int, StructRow] = {}
        missing: list[int] = []
        get, known, token, guid, uidvalidity = (
            self.memory.get,
            where.known,
            self.token,
            where.guid,
            where.uidvalidity,
        )
        for uid in uids:
            row = get((token, guid, uidvalidity, uid)) if uid in known else None
            if row is None:
                missing.append(uid)
            else:
                hits[uid] = row
        return hits, missing

    def remember(self, where: _Where, rows: Mapping[int, StructRow]) -> None:
        for uid, row in rows.items():
            if row.octets() <= MAX_CACHED_ROW:
                self.memory.put((self.token, where.guid, where.uidvalidity, uid), row)

    def forget_memory(self, folder: Folder, uids: Iterable[int]) -> None:
        guid = folder.guid or ""
        for uid in uids:
            self.memory.pop((self.token, guid, folder.uidvalidity, uid))

    # -- worker threads: the file -----------------------------------------------------------------

    def _discard(self, path: Path) -> None:
        self._close()
        for suffix in ("", "-wal", "-shm", "-journal"):
            try:
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            except OSError:
                pass

    def _failed(self, exc: sqlite3.Error | OSError, path: Path) -> None:
        """An error: a damaged file is deleted (rebuilt on the next call); otherwise the file rests."""
        if isinstance(exc, sqlite3.Error) and is_corrupt(exc):
            log.warning("structure cache %s is damaged; rebuilding it", path, exc_info=True)
            self._discard(path)
        else:
            log.warning("structure cache %s unusable for %.0f s: %s", path, RETRY_SECONDS, exc)
            self._close()
            self._resting_until = time.monotonic() + RETRY_SECONDS

    def _open(self, where: _Where, *, create: bool = True) -> StructFile | None:
        """The file for ``where``'s incarnation (opened, re-bound or None). Lock held."""
        path = where.path
        if path is None:
            return None
        f = self._file
        if f is not None and (f.path, f.guid, f.uidvalidity) == (path, where.guid, where.uidvalidity):
            return f
        self._close()
        if time.monotonic() < self._resting_until or (not create and not path.exists()):
            return None
        for attempt in range(2):
            try:
                f = StructFile(path, where.guid, where.uidvalidity)
                # Rows of messages other programs expunged since (harmless, but they would stay).
                stale = [u for u in f.uids() if u not in where.known]
                if stale:
                    f.delete(stale)
            except (sqlite3.Error, OSError) as exc:
                if f is not None:
                    f.close()
                    f = None
                self._failed(exc, path)
                if attempt or self._resting_until > time.monotonic():
                    return None
                continue
            self._file = f
            return f
        return None  # pragma: no cover (the loop returns)

    def read_blocking(self, where: _Where, uids: Sequence[int]) -> dict[int, StructRow]:
        """The file's rows for the known ones among ``uids`` (worker thread)."""
        known = [u for u in uids if u in where.known]
        if not known:
            return {}
        with self._lock:
            f = self._open(where, create=False)
            if f is None:
                return {}
            try:
                if len(known) < BULK_MIN:
                    return f.get_many(known)
                with collector_paused():
                    return f.get_many(known)
            except sqlite3.Error as exc:
                self._failed(exc, f.path)
                return {}

    def write_blocking(self, where: _Where, rows: Mapping[int, StructRow]) -> None:
        """Store ``rows`` (those over ``MAX_CACHED_ROW`` left out) in one transaction (worker thread)."""
        kept = {uid: row for uid, row in rows.items() if row.octets() <= MAX_CACHED_ROW}
        if not kept or where.path is None:
            return
        with self._lock:
            f = self._open(where)
            if f is None:
                return
            try:
                f.put_many(kept)
            except sqlite3.Error as exc:
                self._failed(exc, f.path)

    def forget_locked(self, folder: Folder, uids: Sequence[int]) -> None:
        """Drop the rows of expunged UIDs (worker thread, folder lock held; no file: nothing to do)."""
        where = _where(folder)
        if not uids or where is None:
            return
        with self._lock:
            f = self._open(where, create=False)
            if f is None:
                return
            try:
                f.delete(uids)
            except sqlite3.Error as exc:
                self._failed(exc, f.path)

    def _close(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except sqlite3.Error:
                pass
            self._file = None

    def close(self) -> None:
        """Close the file (worker thread); the next call opens it again."""
        with self._lock:
            self._close()

    @property
    def is_open(self) -> bool:
        return self._file is not None


class FolderAccess:
    """``store.structs.StructCache`` over one folder's ``FolderStructs``: what
    ``MaildirMailbox.structures()`` hands to the protocol layer for one command."""

    __slots__ = ("_cache", "_folder", "_small", "_where")

    def __init__(self, folder: Folder, cache: FolderStructs) -> None:
        self._folder = folder
        self._cache = cache
        self._where = _where(folder)
        self._small = True  # the last ``get`` asked for at most MEMORY_FILL_MAX messages

    async def get(self, uids: Sequence[int]) -> dict[int, StructRow]:
        where = self._where = _where(self._folder)
        if where is None:
            return {}
        self._small = len(uids) <= MEMORY_FILL_MAX
        if self._small or where.path is None:
            hits, missing = self._cache.recall(where, uids)
            if not missing or where.path is None:
                return hits
        else:  # only small requests fill the memory layer: a large one finds little there
            hits, missing = {}, list(uids)
        found = await trio.to_thread.run_sync(self._cache.read_blocking, where, missing, limiter=THREADS)
        if self._small:
            self._cache.remember(where, found)
        if not hits:
            return found
        hits.update(found)
        return hits

    def put_blocking(self, rows: Mapping[int, StructRow]) -> None:
        where = self._where
        if where is not None:
            self._cache.write_blocking(where, rows)

    def remember(self, rows: Mapping[int, StructRow]) -> None:
        where = self._where
        if where is not None and self._small:
            self._cache.remember(where, rows)


_by_folder: weakref.WeakKeyDictionary[Folder, FolderStructs] = weakref.WeakKeyDictionary()


def existing(folder: Folder) -> FolderStructs | None:
    """The structure cache of ``folder`` if one was made (Trio thread)."""
    return _by_folder.get(folder)


def for_folder(folder: Folder) -> FolderStructs:
    """The structure cache of ``folder``, made on first use (Trio thread: no I/O). It lives as long
    as the ``Folder``."""
    cache = _by_folder.get(folder)
    if cache is None:
        cache = _by_folder[folder] = FolderStructs()
    return cache


def access(folder: Folder) -> FolderAccess:
    """What ``MaildirMailbox.structures()`` returns (Trio thread)."""
    return FolderAccess(folder, for_folder(folder))


__all__ = [
    "CACHE_SUFFIX",
    "MAX_CACHED_ROW",
    "MEMORY",
    "FolderAccess",
    "FolderStructs",
    "MemoryLayer",
    "access",
    "existing",
    "for_folder",
    "struct_path",
]
