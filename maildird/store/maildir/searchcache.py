"""The search-text cache: per message, the texts SEARCH compares a header key against (RFC 9051 §6.4.4:
FROM, TO, CC, BCC, SUBJECT... decoded and case-folded), so a header SEARCH reads and decodes no header
block once a message's texts are known (what Dovecot answers from its ``dovecot.index.cache``).

Theory of operation:

* The store does not know how a text is made: the caller passes a ``Recipe`` (``derive`` turns header
  blocks into one text per field, or None for a message without that field; ``version`` names the
  derivation). The cache keeps what ``derive`` returned per ``(mailbox GUID, UIDVALIDITY, field, UID)``.
  A Maildir message file never changes its content, so a text never goes stale; UIDs are never reused
  within one UIDVALIDITY, so a row left by an expunge can never be served for another message.
* Lookup order for one request: the memory layer (Trio thread, no I/O, no lock); then the cache file
  (one worker-thread hop for all the misses); then the header blocks of what is still missing, read by
  the caller's reader (``MaildirMailbox.read_messages(header_only=True)``: the header cache, or the
  files), derived and written to the file in one more hop. A message whose header reads as empty (gone,
  or a broken file) is left out of the answer: the caller decides those the slow way.
* Memory layer: per folder and field a dict uid -> text, in a process-wide LRU of such tables bounded
  by ``MEMORY_BYTES`` (text length plus ``ENTRY_OVERHEAD`` per entry). When the bound is passed the
  least recently used tables are dropped whole; a table that alone would pass it stops growing (its
  misses are read from the file each time). Touched from the Trio thread only.
* Disk layer: ``<guid>.search.db`` beside the sidecar (``drop_state`` removes it with the mailbox, and
  ``reindex`` with the whole state directory), WAL, ``synchronous=NORMAL``: a lost tail loses cache
  rows, nothing else. Rows are clustered by (field, uid), so one field's texts for a UID range are
  contiguous pages: a SEARCH after a restart with a cold page cache reads a few hundred KB. The ``meta``
  table holds the schema, the recipe's version, the GUID and the UIDVALIDITY; any difference empties
  the file. Rows of UIDs the folder no longer knows are deleted the first time a process writes to
  the file (a scan of the file: not on the read path of a SEARCH). Values are TEXT, read back as
  ``str`` by SQLite's own decoder; a text with lone surrogates is a BLOB of its ``surrogatepass`` form.
* Failure: the cache is never an error to the client. A file SQLite finds damaged is deleted (rebuilt
  by later searches); any other SQLite or OS error turns the file off for ``RETRY_SECONDS``, and texts
  are derived from header blocks meanwhile. Texts longer than ``MAX_CACHED_TEXT`` are not cached.
* Threads: the file is used in worker threads under the cache's own ``trio.Lock`` (not the folder's:
  a search need not wait for a sync); the folder's GUID and UIDVALIDITY are read in the Trio thread,
  and derived texts are kept only if they did not change while the blocks were read.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import trio

from maildird.store.maildir.controlfiles import MEMORY_DB
from maildird.store.maildir.sync import Folder

log = logging.getLogger("maildird.store")

SCHEMA_VERSION = 2
"""Bumped when the table layout changes; a file with another version is emptied."""

CACHE_SUFFIX = ".search.db"
"""The file's name is the sidecar's base name (the mailbox GUID) plus this suffix."""

MEMORY_BYTES = 8 * 1024 * 1024
"""Bound of the process-wide memory layer: about 50,000 typical texts (a 10,000-message folder's
From, To, Cc and Subject)."""

ENTRY_OVERHEAD = 110
"""Estimated cost of one memory entry beyond its characters (dict slot, int key, str header)."""

MAX_CACHED_TEXT = 4096
"""Texts longer than this (characters) are neither kept in memory nor written: rare, and big."""

SELECT_CHUNK = 500
"""UIDs per ``SELECT ... IN (...)``, below SQLite's smallest bound-parameter limit (999)."""

PAGE_CACHE_KIB = 256
"""SQLite's page cache per open file; the kernel caches the file too."""

BUSY_TIMEOUT_MS = 1000
"""How long a statement waits for another process's write lock before the file is skipped."""

RETRY_SECONDS = 60.0
"""After an error that leaves the file unusable, it is not tried again for this long."""

THREADS = 4
"""Worker threads doing search-cache work at once, over all folders of the process."""
LIMITER = trio.CapacityLimiter(THREADS)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS text (
    field TEXT NOT NULL, uid INTEGER NOT NULL, value, PRIMARY KEY (field, uid)
) WITHOUT ROWID;
"""

_CORRUPT = ("SQLITE_CORRUPT", "SQLITE_NOTADB", "SQLITE_IOERR_SHORT_READ")
"""SQLite errors that say the file's contents are bad: it is deleted. Others only rest it."""

Texts = dict[int, str | None]
"""uid -> text (None: the message has no such field)."""
Ident = tuple[str, int, str]
"""(GUID, UIDVALIDITY, recipe version): what a text belongs to besides its field and UID."""
HeaderReader = Callable[[Sequence[int]], Awaitable[dict[int, bytes]]]


class Recipe(Protocol):
    """How texts are made from header blocks (``message.search_fields.RECIPE``)."""

    @property
    def version(self) -> str: ...

    def derive(self, blocks: Mapping[int, bytes], fields: Sequence[str]) -> dict[str, Texts]: ...


def cache_path(state_path: Path) -> Path | None:
    """The cache file beside a sidecar file, or None for an in-memory sidecar."""
    if str(state_path) == MEMORY_DB:
        return None
    return state_path.with_name(state_path.stem + CACHE_SUFFIX)


def _encode(text: str | None) -> str | bytes | None:
    """A text as a TEXT value (read back as ``str`` by SQLite's own decoder, the fast case), or as a
    BLOB of its ``surrogatepass`` encoding when it holds lone surrogates, which TEXT refuses."""
    if text is None:
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")
    return text


def _decode(value: str | bytes | None) -> str | None:
    return value.decode("utf-8", "surrogatepass") if isinstance(value, bytes) else value


def _cost(text: str | None) -> int:
    return ENTRY_OVERHEAD + (len(text) if text is not None else 0)


# -- memory layer (Trio thread) ---------------------------------------------------------------------


class MemoryLayer:
    """Tables of texts by (folder token, ident, field), least recently used dropped first."""

    def __init__(self, limit: int = MEMORY_BYTES) -> None:
        self.limit = limit
        self.used = 0
        self._tables: OrderedDict[tuple[int, Ident, str], Texts] = OrderedDict()
        self._costs: dict[tuple[int, Ident, str], int] = {}

    def table(self, key: tuple[int, Ident, str]) -> Texts | None:
        found = self._tables.get(key)
        if found is not None:
            self._tables.move_to_end(key)
        return found

    def add(self, key: tuple[int, Ident, str], texts: Mapping[int, str | None]) -> None:
        table = self._tables.get(key)
        if table is None:
            table = self._tables[key] = {}
            self._costs[key] = 0
        self._tables.move_to_end(key)
        spent = 0
        for uid, text in texts.items():
            if uid in table or (text is not None and len(text) > MAX_CACHED_TEXT):
                continue
            cost = _cost(text)
            if self._costs[key] + spent + cost > self.limit:
                break  # this table alone would pass the bound: it stops growing
            table[uid] = text
            spent += cost
        self._costs[key] += spent
        self.used += spent
        while self.used > self.limit and len(self._tables) > 1:
            old, _ = self._tables.popitem(last=False)
            self.used -= self._costs.pop(old)

    def drop(self, token: int) -> None:
        """Forget every table of one folder cache."""
        for key in [k for k in self._tables if k[0] == token]:
            del self._tables[key]
            self.used -= self._costs.pop(key)

    def clear(self) -> None:
        self._tables.clear()
        self._costs.clear()
        self.used = 0


MEMORY = MemoryLayer()
"""The process-wide memory layer, shared by every folder."""


# -- disk layer (worker thread, cache lock held) ----------------------------------------------------


class TextFile:
    """One open cache file bound to one ``Ident``. Blocking; raises ``sqlite3.Error``."""

    def __init__(self, path: Path, ident: Ident) -> None:
        self.path = path
        self.ident = ident
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        try:
            self._db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            self._db.execute(f"PRAGMA cache_size=-{PAGE_CACHE_KIB}")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._bind()
        except BaseException:
            self._db.close()
            raise

    def _bind(self) -> None:
        guid, uidvalidity, version = self.ident
        want = {
            "schema": str(SCHEMA_VERSION),
            "guid": guid,
            "uidvalidity": str(uidvalidity),
            "recipe": version,
        }
        if dict(self._db.execute("SELECT key, value FROM meta").fetchall()) == want:
            return
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM text")
            self._db.execute("DELETE FROM meta")
            self._db.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", list(want.items()))

    def close(self) -> None:
        self._db.close()

    def get(self, field: str, uids: Sequence[int]) -> Texts:
        out: dict[int, str | bytes | None] = {}
        for i in range(0, len(uids), SELECT_CHUNK):
            chunk = uids[i : i + SELECT_CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT uid, value FROM text WHERE field = ? AND uid IN ({marks})", (field, *chunk)
            )
            out.update(rows)
        blobs = [uid for uid, value in out.items() if isinstance(value, bytes)]
        for uid in blobs:
            out[uid] = _decode(out[uid])
        return out  # type: ignore[return-value]  # every bytes value was decoded just above

    def put(self, rows: Iterable[tuple[str, int, str | None]]) -> None:
        data = [(f, u, _encode(t)) for f, u, t in rows if t is None or len(t) <= MAX_CACHED_TEXT]
        if not data:
            return
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("INSERT OR REPLACE INTO text (field, uid, value) VALUES (?, ?, ?)", data)

    def count(self, field: str) -> int:
        (n,) = self._db.execute("SELECT COUNT(*) FROM text WHERE field = ?", (field,)).fetchone()
        return int(n)

    def prune(self, live: set[int]) -> None:
        """Delete the rows of UIDs not in ``live`` (expunged since: harmless, but they would stay)."""
        stale = [(u,) for (u,) in self._db.execute("SELECT DISTINCT uid FROM text") if u not in live]
        if stale:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany("DELETE FROM text WHERE uid = ?", stale)


def _will_need(path: Path) -> None:
    advise = getattr(os, "posix_fadvise", None)
    if advise is None:
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        advise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
    except OSError:
        pass
    finally:
        os.close(fd)


def _is_corrupt(exc: BaseException) -> bool:
    name = getattr(exc, "sqlite_errorname", None)
    return isinstance(name, str) and name.startswith(_CORRUPT)


class FolderTexts:
    """The search-text cache of one ``Folder``: its file (opened lazily) and its memory tables."""

    def __init__(self, token: int, memory: MemoryLayer = MEMORY) -> None:
        self.token = token
        self.memory = memory
        self.lock = trio.Lock()
        self._file: TextFile | None = None
        self._resting_until = 0.0
        self._pruned = False

    # worker thread, ``lock`` held

    def _open(self, path: Path | None, ident: Ident) -> TextFile | None:
        f = self._file
        if f is not None and (f.path, f.ident) == (path, ident):
            return f
        self.close()
        if path is None or time.monotonic() < self._resting_until:
            return None
        try:
            f = TextFile(path, ident)
        except (sqlite3.Error, OSError) as exc:
            if f is not None:
                f.close()
            self._failed(exc, path)
            return None
        self._file = f
        return f

    def _failed(self, exc: BaseException, path: Path) -> None:
        self.close()
        if _is_corrupt(exc):
            log.warning("search cache %s is corrupt; rebuilding it", path, exc_info=True)
            for suffix in ("", "-wal", "-shm", "-journal"):
                try:
                    Path(f"{path}{suffix}").unlink(missing_ok=True)
                except OSError:
                    pass
        else:
            log.warning("search cache %s unusable for %.0f s: %s", path, RETRY_SECONDS, exc)
            self._resting_until = time.monotonic() + RETRY_SECONDS

    def load_locked(
        self, path: Path | None, ident: Ident, fields: Sequence[str], uids: Sequence[int]
    ) -> dict[str, Texts]:
        f = self._open(path, ident)
        if f is None:
            return {}
        try:
            return {field: f.get(field, uids) for field in fields}
        except sqlite3.Error as exc:
            self._failed(exc, f.path)
            return {}

    def prepare_locked(self, path: Path | None, ident: Ident) -> bool:
        """Open the file ahead of the first SEARCH and ask the kernel to read it in the background
        (``posix_fadvise`` WILLNEED: no wait, no CPU), as a folder is opened: that SEARCH then finds
        the file open and its pages cached. True when the file is usable."""
        f = self._open(path, ident)
        if f is None:
            return False
        for suffix in ("", "-wal"):
            _will_need(Path(f"{f.path}{suffix}"))
        return True

    def least_count_locked(self, path: Path | None, ident: Ident, fields: Sequence[str]) -> int:
        """The fewest rows any of ``fields`` has in the file (0 without a usable file)."""
        f = self._open(path, ident)
        if f is None:
            return 0
        try:
            return min(f.count(field) for field in fields)
        except sqlite3.Error as exc:
            self._failed(exc, f.path)
            return 0

    def derive_locked(
        self,
        path: Path | None,
        ident: Ident,
        live: Callable[[], set[int]],
        recipe: Recipe,
        blocks: Mapping[int, bytes],
        fields: Sequence[str],
    ) -> dict[str, Texts]:
        derived = recipe.derive(blocks, fields)
        f = self._open(path, ident)
        if f is not None:
            try:
                f.put((field, uid, text) for field, texts in derived.items() for uid, text in texts.items())
                if not self._pruned:  # once per process, in a hop that writes anyway (not on reads)
                    f.prune(live())
                    self._pruned = True
            except sqlite3.Error as exc:
                self._failed(exc, f.path)
        return derived

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


_by_folder: weakref.WeakKeyDictionary[Folder, FolderTexts] = weakref.WeakKeyDictionary()
_next_token = iter(range(1, 1 << 62))


def for_folder(folder: Folder) -> FolderTexts:
    """The search-text cache of ``folder``, made on first use (Trio thread: no I/O)."""
    cache = _by_folder.get(folder)
    if cache is None:
        cache = _by_folder[folder] = FolderTexts(next(_next_token))
    return cache


def existing(folder: Folder) -> FolderTexts | None:
    return _by_folder.get(folder)


def ident_of(folder: Folder, recipe: Recipe) -> Ident:
    """What the folder's texts belong to now (Trio thread)."""
    return (folder.guid or "", folder.uidvalidity, recipe.version)


def file_of(folder: Folder) -> Path | None:
    """The folder's cache file, or None (no on-disk sidecar, or no GUID yet)."""
    state = folder.state
    return cache_path(state.path) if state is not None and folder.guid is not None else None


async def header_texts(
    folder: Folder,
    fields: Sequence[str],
    uids: Sequence[int],
    recipe: Recipe,
    read: HeaderReader,
    *,
    remember: bool = True,
) -> dict[str, Texts]:
    """The texts of ``fields`` for ``uids`` (module docstring): for every field, a dict holding each
    UID whose header could be read; gone or empty ones are left out of every field's dict. Without
    ``remember`` (the background fill, ``searchfill``) the memory layer is only read, not filled."""
    cache = for_folder(folder)
    ident = ident_of(folder, recipe)
    out: dict[str, Texts] = {}
    missing: set[int] = set()
    for field in fields:
        table = cache.memory.table((cache.token, ident, field))
        if table is None:
            out[field] = {}
            missing.update(uids)
            continue
        found = out[field] = {}
        for uid in uids:
            if uid in table:
                found[uid] = table[uid]
            else:
                missing.add(uid)
    if not missing:
        return out
    path = file_of(folder)

    def live() -> set[int]:
        return set(folder.msgs)  # one C-level copy: atomic under the GIL

    wanted = sorted(missing)
    if path is not None:
        async with cache.lock:
            loaded = await trio.to_thread.run_sync(
                cache.load_locked, path, ident, fields, wanted, limiter=LIMITER
            )
        for field, texts in loaded.items():
            out[field].update(texts)
            if remember:
                cache.memory.add((cache.token, ident, field), texts)
        wanted = [u for u in wanted if any(u not in out[f] for f in fields)]
    if not wanted:
        return out
    blocks = {uid: raw for uid, raw in (await read(wanted)).items() if raw}
    if not blocks:
        return out
    # Blocks read after a new incarnation began are derived for this answer but not kept.
    keep = ident_of(folder, recipe) == ident
    async with cache.lock:
        derived = await trio.to_thread.run_sync(
            cache.derive_locked, path if keep else None, ident, live, recipe, blocks, fields, limiter=LIMITER
        )
    for field, texts in derived.items():
        out[field].update(texts)
        if keep and remember:
            cache.memory.add((cache.token, ident, field), texts)
    return out
