"""The header cache's SQLite file (``<guid>.headers.db`` beside the sidecar): each message's raw header
block by UID (``headercache`` says when rows are read and written; ``cachefile`` how the file is
opened, bound to the folder's incarnation and recovered).
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Sequence
from pathlib import Path

from maildird.store.maildir.cachefile import BUSY_TIMEOUT_MS, PAGE_CACHE_KIB, BoundFile, beside

__all__ = [
    "BUSY_TIMEOUT_MS",
    "CACHE_SUFFIX",
    "MAX_CACHED_BLOCK",
    "PAGE_CACHE_KIB",
    "SELECT_CHUNK",
    "HeaderFile",
]

SCHEMA_VERSION = 2
"""Bumped when the table layout changes; a file with another version is made again (2: the
``header_uid`` index, 64 KiB pages)."""

CACHE_SUFFIX = ".headers.db"
"""The cache file's name is the sidecar's base name (the mailbox GUID) plus this suffix."""

MAX_CACHED_BLOCK = 64 * 1024
"""Header blocks longer than this (octets) are not cached, nor sections of them: rare, and they would
bloat the file."""

SELECT_CHUNK = 500
"""UIDs per ``SELECT ... IN (...)``, below SQLite's smallest bound-parameter limit (999)."""


def cache_path(state_path: Path) -> Path | None:
    """The cache file beside a sidecar file, or None for an in-memory sidecar."""
    return beside(state_path, CACHE_SUFFIX)


def chunks(uids: Sequence[int]) -> Iterable[Sequence[int]]:
    for i in range(0, len(uids), SELECT_CHUNK):
        yield uids[i : i + SELECT_CHUNK]


class HeaderFile(BoundFile):
    """One open header cache file (``cachefile.BoundFile``)."""

    VERSION = SCHEMA_VERSION
    SCHEMA = """
    CREATE TABLE IF NOT EXISTS header (uid INTEGER PRIMARY KEY, data BLOB NOT NULL);
    CREATE INDEX IF NOT EXISTS header_uid ON header (uid);
    """

    def get_many(self, uids: Sequence[int]) -> dict[int, bytes]:
        """Cached blocks of ``uids``; a row that is not a BLOB (a damaged file) is a miss."""
        out: dict[int, bytes] = {}
        for chunk in chunks(uids):
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT uid, data FROM header WHERE uid IN ({marks}) AND typeof(data) = 'blob'", chunk
            )
            out.update(rows)
        return out

    def put_many(self, rows: Sequence[tuple[int, bytes]]) -> None:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("INSERT OR REPLACE INTO header (uid, data) VALUES (?, ?)", rows)

    def delete(self, uids: Iterable[int]) -> None:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("DELETE FROM header WHERE uid = ?", [(u,) for u in uids])

    def uids(self) -> list[int]:
        """Every UID with a row, from the small ``header_uid`` index: a scan of the table itself
        would read every block (25 MB for 10,000 messages: most of a cold header fetch)."""
        return [row[0] for row in self._db.execute("SELECT uid FROM header INDEXED BY header_uid")]

    def count(self) -> int:
        (n,) = self._db.execute("SELECT COUNT(*) FROM header INDEXED BY header_uid").fetchone()
        return int(n)

    def prune(self, present: Container[int], count: int) -> None:
        """Drop rows of messages expunged by other programs (UIDs are never reused: harmless, but they
        would stay forever). Only looked for when there are more rows than the folder's ``count``
        messages (a count in C instead of every UID through Python on each open): a stale row stays
        at most while some message has none, so stale rows never outnumber the messages."""
        if self.count() > count:
            stale = [u for u in self.uids() if u not in present]
            if stale:
                self.delete(stale)
