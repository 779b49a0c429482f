"""The search-text cache's file (``searchcache``): ``<guid>.search.db`` beside the sidecar. One row per
(field, uid), clustered by that key (``WITHOUT ROWID``), so one field's texts for a UID range are
contiguous pages; values are TEXT, read back as ``str`` by SQLite's own decoder, and a text with lone
surrogates is a BLOB of its ``surrogatepass`` form. The ``meta`` table holds the schema, GUID,
UIDVALIDITY and recipe version; any difference empties the file. The ``body`` table holds one opaque
row per UID for SEARCH TEXT/BODY (``message.search_bodies`` makes and reads them; the store only keeps
them), clustered by UID. Blocking, not thread-safe: callers hold ``FolderTexts.lock`` and run in worker
threads.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from maildird.store.maildir.cachefile import connect
from maildird.store.maildir.controlfiles import MEMORY_DB

SCHEMA_VERSION = 3
"""Bumped when the table layout changes; a file with another version is emptied."""

CACHE_SUFFIX = ".search.db"
"""The file's name is the sidecar's base name (the mailbox GUID) plus this suffix."""

SELECT_CHUNK = 500
"""UIDs per ``SELECT ... IN (...)``, below SQLite's smallest bound-parameter limit (999)."""

RANGE_DENSITY = 4
"""``get_rows`` reads a UID range when the UIDs asked for are at least a quarter of it."""

MAX_CACHED_TEXT = 4096
"""Texts longer than this (characters) are neither kept in memory nor written: rare, and big."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS text (
    field TEXT NOT NULL, uid INTEGER NOT NULL, value, PRIMARY KEY (field, uid)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS body (uid INTEGER PRIMARY KEY, row BLOB NOT NULL);
"""

Ident = tuple[str, int, str]
"""(GUID, UIDVALIDITY, recipe version)."""
Texts = dict[int, str | None]


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


class TextFile:
    """One open cache file bound to one ``Ident``. Blocking; raises ``sqlite3.Error``."""

    def __init__(self, path: Path, ident: Ident) -> None:
        self.path = path
        self.ident = ident
        self._db = connect(path, _SCHEMA)
        try:
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
            self._db.execute("DELETE FROM body")
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
        odd = [uid for uid, value in out.items() if value is not None and type(value) is not str]
        for uid in odd:
            value = out[uid]
            if isinstance(value, bytes):
                try:
                    out[uid] = _decode(value)
                    continue
                except UnicodeDecodeError:
                    pass
            del out[uid]  # not a value this module wrote (another program's): a miss, derived again
        return out  # type: ignore[return-value]  # every bytes value was decoded just above

    def put(self, rows: Iterable[tuple[str, int, str | None]]) -> None:
        data = [(f, u, _encode(t)) for f, u, t in rows if t is None or len(t) <= MAX_CACHED_TEXT]
        if not data:
            return
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("INSERT OR REPLACE INTO text (field, uid, value) VALUES (?, ?, ?)", data)

    def get_rows(self, uids: Sequence[int]) -> dict[int, bytes]:
        """The body rows of ``uids`` the file holds. A dense set (most of a folder: a SEARCH TEXT of
        all) is read as one UID range and filtered, a sparse one by ``IN`` lists."""
        if not uids:
            return {}
        low, high = min(uids), max(uids)
        out: dict[int, bytes] = {}
        if len(uids) * RANGE_DENSITY >= high - low + 1:
            wanted = set(uids)
            rows = self._db.execute(
                "SELECT uid, CAST(row AS BLOB) FROM body WHERE uid BETWEEN ? AND ?", (low, high)
            )
            out.update((u, r) for u, r in rows if u in wanted)
        else:
            for i in range(0, len(uids), SELECT_CHUNK):
                chunk = uids[i : i + SELECT_CHUNK]
                marks = ",".join("?" * len(chunk))
                out.update(
                    self._db.execute(f"SELECT uid, CAST(row AS BLOB) FROM body WHERE uid IN ({marks})", chunk)
                )
        # Values are read as octets whatever their type (another program's TEXT could hold bad UTF-8);
        # NULL is no row.
        return {u: r for u, r in out.items() if type(r) is bytes}

    def put_rows(self, rows: Iterable[tuple[int, bytes]]) -> None:
        data = list(rows)
        if not data:
            return
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("INSERT OR REPLACE INTO body (uid, row) VALUES (?, ?)", data)

    def row_uids(self) -> set[int]:
        """The UIDs the file holds a body row for."""
        return {u for (u,) in self._db.execute("SELECT uid FROM body")}

    def count(self, field: str) -> int:
        (n,) = self._db.execute("SELECT COUNT(*) FROM text WHERE field = ?", (field,)).fetchone()
        return int(n)

    def prune(self, live: set[int]) -> None:
        """Delete the rows of UIDs not in ``live`` (expunged since: harmless, but they would stay)."""
        stale = [(u,) for (u,) in self._db.execute("SELECT DISTINCT uid FROM text") if u not in live]
        gone = [(u,) for (u,) in self._db.execute("SELECT uid FROM body") if u not in live]
        if stale or gone:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany("DELETE FROM text WHERE uid = ?", stale)
                self._db.executemany("DELETE FROM body WHERE uid = ?", gone)


def will_need(path: Path) -> None:
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
