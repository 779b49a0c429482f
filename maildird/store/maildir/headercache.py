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
  recreated) the file is made again (``cachefile``, ``headerfile``). Rows are written on the first
  header-only read of a message,
  in the same worker-thread hop, one transaction per batch. Blocks of more than
  ``MAX_CACHED_BLOCK`` octets and empty reads are not cached (they are read from the file each time).
  The file is opened lazily in a worker thread and only when the folder has an on-disk sidecar.
* Failure: the cache is never an error to the client. A file SQLite finds damaged (corrupt, not a
  database, a short read) is deleted and rebuilt; an error that says nothing about its contents
  (busy, locked, read-only, cannot open, disk full) turns the folder's cache file off for
  ``RETRY_SECONDS``, and the messages are read from their files meanwhile (``cachefile.FileSlot``).
* Sections: ``FolderHeaders`` also holds the folder's section file and its share of the section
  memory layer (``sectioncache``), so that one ``forget_locked``/``forget_memory`` drops both.
* Memory layer: a process-wide LRU (``MemoryLayer``) of recently read blocks, bounded by
  ``MEMORY_BYTES`` including a per-entry overhead estimate, keyed by the folder's cache object and
  ``(guid, uidvalidity, uid)``; a large request fills it only with blocks read from message files
  (``MEMORY_FILL_MAX``), so a full header fetch does not churn it. It is touched from the Trio
  thread only, so it needs no lock, and a request it fully answers needs no folder lock and no
  thread hop (one client's FETCH of 10 message headers while other sessions hold the folder).
* Invalidation: ``MaildirMailbox.expunge``/``move`` drop the UIDs they removed from both layers
  (``forget_locked``, ``forget_memory``), sections too; a new incarnation (GUID or UIDVALIDITY)
  makes the files again and changes the memory key.
* Threads: ``FolderHeaders``' blocking methods run in worker threads under the folder's lock, like
  ``state.MailboxState``; ``recall``/``remember``/``forget_memory`` and ``for_folder`` run in the
  Trio thread.
"""

from __future__ import annotations

import itertools
import sqlite3
import weakref
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from maildird.bytecache import ByteBoundCache
from maildird.store.base import MessageGone
from maildird.store.maildir.cachefile import (
    BUSY_TIMEOUT_MS,
    PAGE_CACHE_KIB,
    RETRY_SECONDS,
    FileSlot,
)
from maildird.store.maildir.headerfile import (
    CACHE_SUFFIX,
    MAX_CACHED_BLOCK,
    SCHEMA_VERSION,
    SELECT_CHUNK,
    HeaderFile,
    cache_path,
)
from maildird.store.maildir.sectioncache import MAX_MEMORY_SPECS, SECTION_MEMORY, SectionMemory
from maildird.store.maildir.sectionfile import SECTIONS_SUFFIX, SectionFile
from maildird.store.maildir.sync import Entry, Folder

__all__ = [
    "BUSY_TIMEOUT_MS",
    "CACHE_SUFFIX",
    "MAX_CACHED_BLOCK",
    "PAGE_CACHE_KIB",
    "RETRY_SECONDS",
    "SCHEMA_VERSION",
    "SELECT_CHUNK",
    "FolderHeaders",
    "HeaderFile",
    "MemoryLayer",
    "cache_path",
    "existing",
    "for_folder",
]

MEMORY_BYTES = 2 * 1024 * 1024
"""Bound of the process-wide memory layer (block octets plus ``ENTRY_OVERHEAD`` per entry): about
1,700 typical headers, enough for every session's view of the newest messages."""

ENTRY_OVERHEAD = 220
"""Python's cost of one memory entry beyond its octets (bytes object, key tuple, ordered-dict slot;
measured with tracemalloc: 212 octets on CPython 3.11)."""

MEMORY_FILL_MAX = 16
"""Requests of at most this many messages put every block they read into the memory layer; larger
ones (FETCH reads a message list in batches of 32) only the blocks read from message files."""

Reader = Callable[[Path, Entry], bytes]
MemKey = tuple[int, str, int, int]
Blocks = tuple[dict[int, bytes], list[int], list[tuple[int, bytes]]]
"""Header blocks by UID, the UIDs read from message files, and the rows to store for them."""


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
_section_ids = itertools.count(1)

UID_BITS = 32
"""UIDs are 32-bit unsigned numbers (RFC 9051 §2.3.1.1): a section memory key is ``base | uid``."""


class FolderHeaders:
    """The header cache of one ``Folder``: its files (opened lazily) and its share of the memory
    layers."""

    def __init__(self, memory: MemoryLayer = MEMORY, sections: SectionMemory = SECTION_MEMORY) -> None:
        self.memory = memory
        self.sections = sections
        """Rendered sections (``sectioncache``), process-wide like ``memory``."""
        self.section_keys: set[str] = set()
        """Selections this folder may have entries of in ``sections`` (at most ``MAX_MEMORY_SPECS``):
        what ``forget_memory`` pops for an expunged UID."""
        self.cut_ahead: set[str] = set()
        """Selections whose sections ``sectioncache.read_locked`` has already cut for the whole folder
        from a wider stored selection (done once per folder; worker thread, folder lock held)."""
        self.unpacked: dict[str, int] = {}
        """Per selection, the folder's message count when ``sectioncache`` last found too few rows to
        write its pack: not tried again (a read of every row) until the count changes (worker
        thread, folder lock held)."""
        self.token = next(_tokens)  # tells this folder's memory entries from another's
        self._bases: dict[tuple[str, int, str], int] = {}  # (GUID, UIDVALIDITY, selection) -> base
        self.headers: FileSlot[HeaderFile] = FileSlot(HeaderFile, CACHE_SUFFIX, "header cache")
        self.section_file: FileSlot[SectionFile] = FileSlot(SectionFile, SECTIONS_SUFFIX, "section cache")

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
        bases = [self.section_base(folder, key) for key in self.section_keys]
        for uid in uids:
            self.memory.pop((token, guid, uidvalidity, uid))
            for base in bases:
                self.sections.pop(base | uid)

    def section_base(self, folder: Folder, key: str) -> int:
        """The section memory key of UID 0 of this folder's incarnation and selection ``key``: the key
        of a message's section is ``base | uid``, one int (no tuple to build and hash per message;
        the bases are unique in the process, so no other folder's entry can match)."""
        name = (folder.guid or "", folder.uidvalidity, key)
        base = self._bases.get(name)
        if base is None:
            base = self._bases[name] = next(_section_ids) << UID_BITS
        return base

    def may_remember_sections(self, key: str) -> bool:
        """Whether sections of selection ``key`` may go into memory (noted for ``forget_memory``)."""
        if key in self.section_keys:
            return True
        if len(self.section_keys) >= MAX_MEMORY_SPECS:
            return False
        self.section_keys.add(key)
        return True

    # -- worker thread, folder lock held: the files ----------------------------------------------

    def open_file(self, folder: Folder) -> HeaderFile | None:
        """The header file for the folder's current incarnation (opened, re-bound or None)."""
        return self.headers.open(folder)

    def failed(self, exc: sqlite3.Error, path: Path) -> None:
        """An SQLite error of the header file (``FileSlot.failed``)."""
        self.headers.failed(exc, path)

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
            self.store_locked(folder, fill)
        return out, files

    def store_locked(self, folder: Folder, rows: Sequence[tuple[int, bytes]]) -> None:
        """Write header rows in one transaction (nothing when the file is unusable)."""
        f = self.headers.file
        if f is None or (f.guid, f.uidvalidity) != (folder.guid, folder.uidvalidity):
            return
        try:
            f.put_many(rows)
        except sqlite3.Error as exc:
            self.failed(exc, f.path)

    def forget_locked(self, folder: Folder, uids: Sequence[int]) -> None:
        """Drop the header and section rows of expunged UIDs (nothing to do without the files)."""
        if not uids:
            return
        for slot in (self.headers, self.section_file):
            f = slot.open_existing(folder)
            if f is None:
                continue
            try:
                f.delete(uids)
            except sqlite3.Error as exc:
                slot.failed(exc, f.path)

    @property
    def is_open(self) -> bool:
        return self.headers.file is not None or self.section_file.file is not None

    def close(self) -> None:
        self.headers.close()
        self.section_file.close()


_by_folder: weakref.WeakKeyDictionary[Folder, FolderHeaders] = weakref.WeakKeyDictionary()


def existing(folder: Folder) -> FolderHeaders | None:
    """The header cache of ``folder`` if one was made (Trio thread)."""
    return _by_folder.get(folder)


def for_folder(folder: Folder) -> FolderHeaders:
    """The header cache of ``folder``, made on first use (Trio thread: no I/O). It lives as long as
    the ``Folder``; its files are closed when the folder is garbage-collected or closed."""
    cache = _by_folder.get(folder)
    if cache is None:
        cache = _by_folder[folder] = FolderHeaders()
    return cache
