"""The header cache: each message's raw top-level header block, so a header FETCH or SEARCH reads
no message file (what Dovecot's ``dovecot.index.cache`` does for the fields a client fetched).

Theory of operation:

* What is cached is exactly what ``MaildirMailbox.read_messages(..., header_only=True)`` returns: the
  file's octets up to and including the first empty line (all of it when there is none), line
  endings as on disk. A Maildir message file never changes its content, only its name (flags), so
  a block stays valid for ``(mailbox GUID, UIDVALIDITY, UID)`` forever: no stat, no mtime check.
  UIDs are never reused within one UIDVALIDITY (``sync`` module docstring), so a row left behind by
  an expunge another program made is stale but can never be served for another message; reads
  serve only UIDs the folder still knows, and such rows are pruned when the cache is next opened.
* Disk layer: one SQLite file per mailbox beside the sidecar (``<guid>.headers.db`` next to
  ``<guid>.sqlite``; not ``*.sqlite``, which names sidecars), WAL, ``synchronous=NORMAL`` (a lost
  tail of the log after a power cut loses cache rows, nothing else). A ``meta`` table holds the
  schema version, GUID and UIDVALIDITY; when they differ from the folder's (the uidlist was
  recreated) every row is dropped. Rows are written on the first header-only read of a message,
  in the same worker-thread hop, one transaction per batch. Blocks of more than
  ``MAX_CACHED_BLOCK`` octets and empty reads are not cached (they are read from the file each time).
  The file is opened lazily in a worker thread and only when the folder has an on-disk sidecar.
* Failure: the cache is never an error to the client. A file SQLite finds damaged (corrupt, not a
  database, a short read) is deleted and rebuilt; an error that says nothing about its contents
  (busy, locked, read-only, cannot open, disk full: ``_PASSING``) turns the folder's cache file
  off for ``RETRY_SECONDS``, and the messages are read from their files meanwhile.
* Memory layer: a process-wide LRU (``MemoryLayer``) of recently read blocks, bounded by
  ``MEMORY_BYTES`` including a per-entry overhead estimate, keyed by the folder's cache object and
  ``(guid, uidvalidity, uid)``; a large request fills it only with blocks read from message files
  (``MEMORY_FILL_MAX``), so a full header fetch does not churn it. It is touched from the Trio
  thread only, so it needs no lock, and a request it fully answers needs no folder lock and no
  thread hop (one client's FETCH of 10 message headers while other sessions hold the folder).
* Invalidation: ``MaildirMailbox.expunge``/``move`` drop the UIDs they removed from both layers
  (``forget_locked``, ``forget_memory``); a new incarnation (GUID or UIDVALIDITY) empties the file
  and changes the memory key.
* Threads: ``FolderHeaders``' blocking methods run in worker threads under the folder's lock, like
  ``state.MailboxState``; ``recall``/``remember``/``forget_memory`` and ``for_folder`` run in the
  Trio thread.
"""

from __future__ import annotations

import itertools
import logging
import sqlite3
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from maildird.bytecache import ByteBoundCache
from maildird.store.base import MessageGone
from maildird.store.maildir.headerfile import (
    BUSY_TIMEOUT_MS,
    CACHE_SUFFIX,
    MAX_CACHED_BLOCK,
    PAGE_CACHE_KIB,
    SCHEMA_VERSION,
    SELECT_CHUNK,
    HeaderFile,
    SectionRow,
    cache_path,
    is_corrupt,
    remove,
)
from maildird.store.maildir.sectioncache import MAX_MEMORY_SPECS, SECTION_MEMORY, SectionMemory
from maildird.store.maildir.sync import Entry, Folder

log = logging.getLogger("maildird.store")

MEMORY_BYTES = 2 * 1024 * 1024
"""Bound of the process-wide memory layer (block octets plus ``ENTRY_OVERHEAD`` per entry): about
1,700 typical headers, enough for every session's view of the newest messages."""

ENTRY_OVERHEAD = 220
"""Python's cost of one memory entry beyond its octets (bytes object, key tuple, ordered-dict slot;
measured with tracemalloc: 212 octets on CPython 3.11)."""

MEMORY_FILL_MAX = 16
"""Requests of at most this many messages put every block they read into the memory layer; larger
ones (FETCH reads a message list in batches of 32) only the blocks read from message files."""

RETRY_SECONDS = 60.0
"""After an error that leaves the file unusable (read-only or full disk, locked, cannot open), the
folder's cache is not tried again for this long: one warning, not one per batch."""

Reader = Callable[[Path, Entry], bytes]
MemKey = tuple[int, str, int, int]
Blocks = tuple[dict[int, bytes], list[int], list[tuple[int, bytes]]]
"""Header blocks by UID, the UIDs read from message files, and the rows to store for them."""

__all__ = [
    "BUSY_TIMEOUT_MS",
    "CACHE_SUFFIX",
    "MAX_CACHED_BLOCK",
    "PAGE_CACHE_KIB",
    "SCHEMA_VERSION",
    "SELECT_CHUNK",
    "FolderHeaders",
    "HeaderFile",
    "MemoryLayer",
    "cache_path",
    "existing",
    "for_folder",
]


def _memory_cost(key: MemKey, data: bytes) -> int:
    return len(data) + ENTRY_OVERHEAD


class MemoryLayer(ByteBoundCache[MemKey, bytes]):
    """A byte-bounded LRU of header blocks (module docstring). Trio thread only."""

    __slots__ = ()

    def __init__(self, limit: int = MEMORY_BYTES) -> None:
        super().__init__(limit, _memory_cost, lru=True)


MEMORY = MemoryLayer()
"""The process-wide memory layer, shared by every folder and session."""

_tokens = itertools.count(1)


class FolderHeaders:
    """The header cache of one ``Folder``: its file (opened lazily) and its share of ``MEMORY``."""

    def __init__(self, memory: MemoryLayer = MEMORY, sections: SectionMemory = SECTION_MEMORY) -> None:
        self.memory = memory
        self.sections = sections
        """Rendered sections (``sectioncache``), process-wide like ``memory``."""
        self.section_keys: set[str] = set()
        """Selections this folder may have entries of in ``sections`` (at most ``MAX_MEMORY_SPECS``):
        what ``forget_memory`` pops for an expunged UID."""
        self.token = next(_tokens)  # tells this folder's memory entries from another's
        self._file: HeaderFile | None = None
        self._resting_until = 0.0  # time.monotonic() before which the file is not tried (RETRY_SECONDS)

    # -- Trio thread: the memory layer ------------------------------------------------------------

    def _mem_key(self, folder: Folder, uid: int) -> MemKey:
        return (self.token, folder.guid or "", folder.uidvalidity, uid)

    def recall(self, folder: Folder, uids: Sequence[int]) -> tuple[dict[int, bytes], list[int]]:
        """Blocks the memory layer holds, and the UIDs still to read. UIDs the folder no longer
        knows are left to the reader, which reports them gone as the uncached path does."""
        hits: dict[int, bytes] = {}
        missing: list[int] = []
        msgs = folder.msgs
        for uid in uids:
            data = self.memory.get(self._mem_key(folder, uid)) if uid in msgs else None
            if data is None:
                missing.append(uid)
            else:
                hits[uid] = data
        return hits, missing

    def remember(self, folder: Folder, blocks: dict[int, bytes], files: Sequence[int]) -> None:
        """Keep blocks just read in memory: all of them for a small request (a client scrolling,
        or several sessions fetching the newest messages), only those that came from message files
        (new mail) for a large one (a batch of a whole message list's header fetch would only
        push everything else out of the LRU)."""
        chosen = blocks if len(blocks) <= MEMORY_FILL_MAX else {u: blocks[u] for u in files if u in blocks}
        for uid, data in chosen.items():
            if 0 < len(data) <= MAX_CACHED_BLOCK:
                self.memory.put(self._mem_key(folder, uid), data)

    def forget_memory(self, folder: Folder, uids: Iterable[int]) -> None:
        """Drop the blocks and sections of expunged UIDs from the memory layers."""
        token, guid, uidvalidity = self.token, folder.guid or "", folder.uidvalidity
        for uid in uids:
            self.memory.pop((token, guid, uidvalidity, uid))
            for key in self.section_keys:
                self.sections.pop((token, guid, uidvalidity, uid, key))

    def may_remember_sections(self, key: str) -> bool:
        """Whether sections of selection ``key`` may go into memory (noted for ``forget_memory``)."""
        if key in self.section_keys:
            return True
        if len(self.section_keys) >= MAX_MEMORY_SPECS:
            return False
        self.section_keys.add(key)
        return True

    # -- worker thread, folder lock held: the file ------------------------------------------------

    def _discard(self, path: Path) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        remove(path)

    def failed(self, exc: sqlite3.Error, path: Path) -> None:
        """An SQLite error: a corrupt file is deleted (rebuilt on the next call); otherwise the
        cache is skipped for this call."""
        if is_corrupt(exc):
            log.warning("header cache %s is corrupt; rebuilding it", path, exc_info=True)
            self._discard(path)
        else:
            self._rest(path, exc)

    def _rest(self, path: Path, exc: Exception) -> None:
        log.warning("header cache %s unusable for %.0f s: %s", path, RETRY_SECONDS, exc)
        self.close()
        self._resting_until = time.monotonic() + RETRY_SECONDS

    def open_file(self, folder: Folder) -> HeaderFile | None:
        """The cache file for the folder's current incarnation (opened, re-bound or None)."""
        state = folder.state
        path = cache_path(state.path) if state is not None else None
        if path is None or folder.guid is None:
            self.close()
            return None
        f = self._file
        if f is not None and (f.path, f.guid, f.uidvalidity) == (path, folder.guid, folder.uidvalidity):
            return f
        self.close()
        if time.monotonic() < self._resting_until:
            return None
        try:
            f = HeaderFile(path, folder.guid, folder.uidvalidity)
        except sqlite3.Error as exc:
            if not is_corrupt(exc):
                self._rest(path, exc)
                return None
            log.warning("header cache %s is corrupt; rebuilding it", path, exc_info=True)
            self._discard(path)
            try:
                f = HeaderFile(path, folder.guid, folder.uidvalidity)
            except sqlite3.Error as again:
                self._rest(path, again)
                return None
        except OSError as exc:
            self._rest(path, exc)
            return None
        self._file = f
        try:
            # Rows of messages expunged by other programs since (UIDs are never reused: harmless,
            # but they would stay forever). Only looked for when there are more rows than messages
            # (a count, in C, instead of 10,000 UIDs through Python on every open): a stale row
            # stays at most while some message has none, so they never outnumber the messages.
            if f.count() > len(folder.msgs):
                stale = [u for u in f.uids() if u not in folder.msgs]
                if stale:
                    f.delete(stale)
        except sqlite3.Error as exc:
            self.failed(exc, path)
            return None
        return f

    def blocks_locked(
        self, folder: Folder, f: HeaderFile | None, uids: Sequence[int], reader: Reader
    ) -> Blocks:
        """Header blocks of ``uids`` (gone ones left out): rows of ``f`` first, then the files; also
        the UIDs read from files and the rows to store for them (the caller writes them)."""
        cached: dict[int, bytes] = {}
        known = [u for u in uids if u in folder.msgs]
        if f is not None and known:
            try:
                cached = f.get_many(known)
            except sqlite3.Error as exc:
                self.failed(exc, f.path)
        out: dict[int, bytes] = {}
        files: list[int] = []
        fill: list[tuple[int, bytes]] = []
        for uid in uids:
            data = cached.get(uid)
            if data is None:
                try:
                    data = folder.locate(uid, reader)
                except MessageGone:
                    continue
                files.append(uid)
                if 0 < len(data) <= MAX_CACHED_BLOCK:
                    fill.append((uid, data))
            out[uid] = data
        return out, files, fill

    def read_locked(
        self, folder: Folder, uids: Sequence[int], reader: Reader
    ) -> tuple[dict[int, bytes], list[int]]:
        """Header blocks of ``uids`` (gone ones left out): cached rows first, then the files,
        whose blocks are stored in one transaction. Also returns the UIDs read from files."""
        f = self.open_file(folder)
        out, files, fill = self.blocks_locked(folder, f, uids, reader)
        if fill:
            self.store_locked(folder, fill, ())
        return out, files

    def store_locked(
        self, folder: Folder, headers: Sequence[tuple[int, bytes]], sections: Sequence[SectionRow]
    ) -> None:
        """Write header and section rows in one transaction (nothing when the file is unusable)."""
        f = self._file
        if f is None or (f.guid, f.uidvalidity) != (folder.guid, folder.uidvalidity):
            return
        try:
            f.write(headers, sections)
        except sqlite3.Error as exc:
            self.failed(exc, f.path)

    def forget_locked(self, folder: Folder, uids: Sequence[int]) -> None:
        """Drop the rows of expunged UIDs (nothing to do when no cache file exists)."""
        if not uids:
            return
        if self._file is None:
            state = folder.state
            path = cache_path(state.path) if state is not None else None
            if path is None or not path.exists():
                return
        f = self.open_file(folder)
        if f is None:
            return
        try:
            f.delete(uids)
        except sqlite3.Error as exc:
            self.failed(exc, f.path)

    @property
    def is_open(self) -> bool:
        return self._file is not None

    def close(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except sqlite3.Error:
                pass
            self._file = None


_by_folder: weakref.WeakKeyDictionary[Folder, FolderHeaders] = weakref.WeakKeyDictionary()


def existing(folder: Folder) -> FolderHeaders | None:
    """The header cache of ``folder`` if one was made (Trio thread)."""
    return _by_folder.get(folder)


def for_folder(folder: Folder) -> FolderHeaders:
    """The header cache of ``folder``, made on first use (Trio thread: no I/O). It lives as long as
    the ``Folder``; its file is closed when the folder is garbage-collected or closed."""
    cache = _by_folder.get(folder)
    if cache is None:
        cache = _by_folder[folder] = FolderHeaders()
    return cache
