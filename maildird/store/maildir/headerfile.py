"""The header cache's SQLite file (``<guid>.headers.db`` beside the sidecar): raw header blocks and the
header sections rendered from them (``headercache`` and ``sectioncache`` say when they are read and
written; this module only holds the file).

Tables: ``meta`` (schema version, GUID, UIDVALIDITY: when they differ from the folder's every row is
dropped), ``header`` (uid -> the raw block), ``spec`` (the field selections whose sections are kept,
at most ``MAX_SPECS``; the one used longest ago makes room for a new one) and ``section`` ((spec, uid)
-> the section's octets and the length of the CRLF header, which bounds what one FETCH may send of
the message). Every ``section`` row has a ``header`` row of the same UID: both are written in one
transaction and deleted together, so pruning by the header rows prunes the sections too.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

from maildird.store.maildir.sync import MEMORY_DB

SCHEMA_VERSION = 2
"""Bumped when the table layout changes; a file with another version is emptied (1: no sections)."""

CACHE_SUFFIX = ".headers.db"
"""The cache file's name is the sidecar's base name (the mailbox GUID) plus this suffix."""

MAX_CACHED_BLOCK = 64 * 1024
"""Header blocks longer than this (octets) are not cached, nor sections of them: rare, and they would
bloat the file."""

SELECT_CHUNK = 500
"""UIDs per ``SELECT ... IN (...)``, below SQLite's smallest bound-parameter limit (999)."""

RANGE_SLACK = 2
"""A chunk of UIDs whose span is at most this many times its length is read as one ``BETWEEN`` range
(sequential in the b-tree; a message list's batch is a run of UIDs), others with ``IN``."""

MAX_SPECS = 4
"""Field selections whose sections one file keeps (Thunderbird asks for one; another client for
another). Each costs a row per message, so a client asking for ever new field lists cannot grow
the file without bound."""

PAGE_SIZE = 65536
"""SQLite page size of a new file (its default is 4 KiB). A message list reads the sections of 256
messages per query, rows that lie between header rows written in the same transactions: with large
pages a cold read (after a restart, page cache dropped) is a few long reads instead of hundreds of
4 KiB ones (10,000 Thunderbird sections, cold: 42-54 ms -> 25-31 ms; warm 42 -> 27 ms)."""

PAGE_CACHE_KIB = 256
"""SQLite's page cache per open cache file (its default is 2 MiB). Rows are read once per FETCH and
the kernel caches the file anyway; a small cache keeps a server with many folders open lean."""

BUSY_TIMEOUT_MS = 1000
"""How long a statement waits for another process's write lock before the cache is skipped."""

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

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS header (uid INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS header_uid ON header (uid);
CREATE TABLE IF NOT EXISTS spec (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, used INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS section (
    spec INTEGER NOT NULL, uid INTEGER NOT NULL, data BLOB NOT NULL, size INTEGER NOT NULL,
    PRIMARY KEY (spec, uid)
) WITHOUT ROWID;
"""

_TYPED = "typeof(data) = 'blob' AND typeof(size) = 'integer'"
"""A row whose columns have other types (a damaged file) is a miss, tested inside SQLite."""
_SECTIONS_BETWEEN = f"SELECT uid, data, size FROM section WHERE spec = ? AND uid BETWEEN ? AND ? AND {_TYPED}"
_SECTIONS_IN = "SELECT uid, data, size FROM section WHERE spec = ? AND uid IN ({marks}) AND " + _TYPED

Section = tuple[bytes, int]
"""A rendered header section and the length of the message's CRLF header."""
SectionRow = tuple[int, int, bytes, int]
"""``(spec id, uid, data, size)``."""


def cache_path(state_path: Path) -> Path | None:
    """The cache file beside a sidecar file, or None for an in-memory sidecar."""
    if str(state_path) == MEMORY_DB:
        return None
    return state_path.with_name(state_path.stem + CACHE_SUFFIX)


def is_corrupt(exc: sqlite3.Error) -> bool:
    """True for an error SQLite reports about the file (it carries a result code) other than the
    ``_PASSING`` ones; misuse errors without a code (a closed connection) are not the file's fault."""
    name = getattr(exc, "sqlite_errorname", None)
    return isinstance(name, str) and bool(name) and not name.startswith(_PASSING)


def remove(path: Path) -> None:
    """Delete a cache file with its WAL and shared-memory files (those missing are fine)."""
    for suffix in ("", "-wal", "-shm"):
        try:
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        except OSError:
            pass


def _chunks(uids: Sequence[int]) -> Iterable[Sequence[int]]:
    for i in range(0, len(uids), SELECT_CHUNK):
        yield uids[i : i + SELECT_CHUNK]


class HeaderFile:
    """One open cache file, bound to one ``(guid, uidvalidity)``. Blocking, not thread-safe: the
    caller holds the folder lock. Raises ``sqlite3.Error``; ``FolderHeaders`` handles it."""

    def __init__(self, path: Path, guid: str, uidvalidity: int) -> None:
        self.path = path
        self.guid = guid
        self.uidvalidity = uidvalidity
        self.specs: dict[str, int] = {}
        """Spec key -> id of the selections this file keeps."""
        self._touched: set[int] = set()  # spec ids whose ``used`` this connection already bumped
        self._db = self._open(path)
        try:
            if self._meta() not in ({}, self._want()):
                # Another schema or incarnation: start a new file rather than empty this one, so the
                # space comes back and the page size is ``PAGE_SIZE`` (a WAL file keeps its own).
                self._db.close()
                remove(path)
                self._db = self._open(path)
            self._bind()
        except sqlite3.Error:
            self._db.close()
            raise

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        # check_same_thread=False: the folder lock serializes callers, which run in Trio's worker
        # threads (a different one each time). Autocommit mode: transactions are explicit.
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        try:
            db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            db.execute(f"PRAGMA page_size={PAGE_SIZE}")  # only a new file takes it
            db.execute(f"PRAGMA cache_size=-{PAGE_CACHE_KIB}")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
        except sqlite3.Error:
            db.close()
            raise
        return db

    def _want(self) -> dict[str, str]:
        return {"schema": str(SCHEMA_VERSION), "guid": self.guid, "uidvalidity": str(self.uidvalidity)}

    def _meta(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in self._db.execute("SELECT key, value FROM meta")}

    def _bind(self) -> None:
        want = self._want()
        if self._meta() != want:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                for table in ("header", "section", "spec", "meta"):
                    self._db.execute(f"DELETE FROM {table}")
                self._db.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", list(want.items()))
        self.specs = {str(k): int(i) for i, k in self._db.execute("SELECT id, key FROM spec")}

    def close(self) -> None:
        self._db.close()

    # -- header blocks -------------------------------------------------------------------------------

    def get_many(self, uids: Sequence[int]) -> dict[int, bytes]:
        """Cached blocks of ``uids``; a row that is not a BLOB (a damaged file) is a miss."""
        out: dict[int, bytes] = {}
        for chunk in _chunks(uids):
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(f"SELECT uid, data FROM header WHERE uid IN ({marks})", chunk)
            out.update((uid, data) for uid, data in rows if type(data) is bytes)
        return out

    def put_many(self, rows: Sequence[tuple[int, bytes]]) -> None:
        self.write(rows, ())

    def write(self, headers: Sequence[tuple[int, bytes]], sections: Sequence[SectionRow]) -> None:
        """Header rows and section rows in one transaction."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("INSERT OR REPLACE INTO header (uid, data) VALUES (?, ?)", headers)
            self._db.executemany(
                "INSERT OR REPLACE INTO section (spec, uid, data, size) VALUES (?, ?, ?, ?)", sections
            )

    def delete(self, uids: Iterable[int]) -> None:
        """Drop the header rows of ``uids`` and their sections."""
        gone = [(u,) for u in uids]
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("DELETE FROM header WHERE uid = ?", gone)
            for spec in self.specs.values():
                self._db.executemany(f"DELETE FROM section WHERE spec = {spec:d} AND uid = ?", gone)

    def uids(self) -> list[int]:
        """Every UID with a header row, from the small ``header_uid`` index: a scan of the table
        itself would read every block (25 MB for 10,000 messages: most of a cold header fetch)."""
        return [row[0] for row in self._db.execute("SELECT uid FROM header INDEXED BY header_uid")]

    def count(self) -> int:
        (n,) = self._db.execute("SELECT COUNT(*) FROM header INDEXED BY header_uid").fetchone()
        return int(n)

    # -- sections ------------------------------------------------------------------------------------

    def spec_id(self, key: str) -> int:
        """The id of the selection ``key``, added when new (the one used longest ago goes when
        ``MAX_SPECS`` are kept, with its rows); marked as used once per open file."""
        found = self.specs.get(key)
        if found is not None and found in self._touched:
            return found
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            (used,) = self._db.execute("SELECT COALESCE(MAX(used), 0) + 1 FROM spec").fetchone()
            if found is not None:
                self._db.execute("UPDATE spec SET used = ? WHERE id = ?", (used, found))
            else:
                while len(self.specs) >= MAX_SPECS:
                    row = self._db.execute("SELECT id, key FROM spec ORDER BY used LIMIT 1").fetchone()
                    if row is None:
                        self.specs.clear()
                        break
                    self._db.execute("DELETE FROM section WHERE spec = ?", (row[0],))
                    self._db.execute("DELETE FROM spec WHERE id = ?", (row[0],))
                    self.specs.pop(row[1], None)
                cursor = self._db.execute("INSERT INTO spec (key, used) VALUES (?, ?)", (key, used))
                found = self.specs[key] = int(cursor.lastrowid or 0)
        self._touched.add(found)
        return found

    def get_sections(self, spec: int, uids: Sequence[int]) -> dict[int, Section]:
        """Stored sections of ``uids`` for one selection; a row of the wrong types is a miss."""
        out: dict[int, Section] = {}
        for chunk in _chunks(uids):
            low, high = min(chunk), max(chunk)
            if high - low < RANGE_SLACK * len(chunk):
                # One run of the b-tree; the few rows between the wanted UIDs are dropped below.
                rows = self._db.execute(_SECTIONS_BETWEEN, (spec, low, high)).fetchall()
                if len(rows) > len(chunk):
                    wanted = set(chunk)
                    rows = [row for row in rows if row[0] in wanted]
            else:
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(_SECTIONS_IN.format(marks=marks), (spec, *chunk)).fetchall()
            out.update((uid, (data, size)) for uid, data, size in rows)
        return out

    def section_count(self) -> int:
        (n,) = self._db.execute("SELECT COUNT(*) FROM section").fetchone()
        return int(n)
