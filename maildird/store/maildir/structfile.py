"""The structure cache's SQLite file (``<guid>.structs.db`` beside the sidecar): one row per message
with its serialized ENVELOPE, BODY and BODYSTRUCTURE (``store.structs.StructRow``); ``structcache``
says when it is read and written, this module only holds the file.

Tables: ``meta`` (schema version, GUID, UIDVALIDITY: when they differ from the folder's every row is
dropped) and ``struct`` (uid -> the row's columns). Reads check column types in SQLite
(``_WELL_TYPED``), so a damaged or tampered row is a miss, never a value of the wrong type.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from maildird.store.maildir.cachefile import PAGE_SIZE, connect, runs
from maildird.store.maildir.sync import MEMORY_DB
from maildird.store.structs import StructRow

SCHEMA_VERSION = 1
"""Bumped when the table layout or the meaning of a value changes; a file with another is emptied."""

CACHE_SUFFIX = ".structs.db"
"""The cache file's name is the sidecar's base name (the mailbox GUID) plus this suffix."""

_COLUMNS = "uid, envelope, size, body, bodystructure, envelope8, body8, bodystructure8"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS struct (
    uid INTEGER PRIMARY KEY, envelope BLOB NOT NULL, size INTEGER, body BLOB, bodystructure BLOB,
    envelope8 BLOB, body8 BLOB, bodystructure8 BLOB
);
"""


def struct_path(state_path: Path) -> Path | None:
    """The cache file beside a sidecar file, or None for an in-memory sidecar."""
    if str(state_path) == MEMORY_DB:
        return None
    return state_path.with_name(state_path.stem + CACHE_SUFFIX)


_WELL_TYPED = (
    "typeof(envelope) = 'blob' AND typeof(size) IN ('integer', 'null')"
    " AND typeof(body) IN ('blob', 'null') AND typeof(bodystructure) IN ('blob', 'null')"
    " AND typeof(envelope8) IN ('blob', 'null') AND typeof(body8) IN ('blob', 'null')"
    " AND typeof(bodystructure8) IN ('blob', 'null')"
)
"""Rows whose columns have a type the writer never stores (a damaged or tampered file) are misses:
checked by SQLite while it reads, not row by row in Python."""


def _values(uid: int, row: StructRow) -> tuple[object, ...]:
    return (
        uid,
        row.envelope,
        row.size,
        row.body,
        row.bodystructure,
        row.envelope8,
        row.body8,
        row.bodystructure8,
    )


class StructFile:
    """One open cache file bound to one ``(guid, uidvalidity)``. Blocking; the caller holds the
    ``FolderStructs`` lock. Raises ``sqlite3.Error``."""

    def __init__(self, path: Path, guid: str, uidvalidity: int) -> None:
        self.path = path
        self.guid = guid
        self.uidvalidity = uidvalidity
        self._db = connect(path, _SCHEMA, page_size=PAGE_SIZE)  # a new file's pages (cachefile.PAGE_SIZE)
        try:
            self._bind()
        except sqlite3.Error:
            self._db.close()
            raise

    def _bind(self) -> None:
        meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        want = {"schema": str(SCHEMA_VERSION), "guid": self.guid, "uidvalidity": str(self.uidvalidity)}
        if meta == want:
            return
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM struct")
            self._db.execute("DELETE FROM meta")
            self._db.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", list(want.items()))

    def close(self) -> None:
        self._db.close()

    def get_many(self, uids: Sequence[int]) -> dict[int, StructRow]:
        """Rows of ``uids`` (distinct) that are kept and well typed (``_WELL_TYPED``)."""
        out: dict[int, StructRow] = {}
        make = StructRow._make
        select = f"SELECT {_COLUMNS} FROM struct WHERE {_WELL_TYPED} AND uid"
        for chunk, low, high, dense in runs(uids):
            if dense:
                rows = self._db.execute(f"{select} BETWEEN ? AND ?", (low, high))
                if high - low + 1 != len(chunk):
                    wanted = set(chunk)  # the rows of UIDs between the wanted ones go
                    out.update((r[0], make(r[1:])) for r in rows if r[0] in wanted)
                    continue
                out.update((r[0], make(r[1:])) for r in rows)
            else:
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(f"{select} IN ({marks})", chunk)
                out.update((r[0], make(r[1:])) for r in rows)
        return out

    def put_many(self, rows: Mapping[int, StructRow]) -> None:
        full = [_values(uid, row) for uid, row in rows.items() if row.full]
        partial = [_values(uid, row) for uid, row in rows.items() if not row.full]
        marks = ",".join("?" * 8)
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(f"INSERT OR REPLACE INTO struct ({_COLUMNS}) VALUES ({marks})", full)
            # An envelope-only row never replaces a full one another request stored meanwhile.
            self._db.executemany(f"INSERT OR IGNORE INTO struct ({_COLUMNS}) VALUES ({marks})", partial)

    def delete(self, uids: Iterable[int]) -> None:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("DELETE FROM struct WHERE uid = ?", [(u,) for u in uids])

    def uids(self) -> list[int]:
        return [row[0] for row in self._db.execute("SELECT uid FROM struct")]
