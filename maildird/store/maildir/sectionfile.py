"""The section cache's SQLite file (``<guid>.sections.db`` beside the sidecar): rendered header sections
by (selection, UID) (``sectioncache`` says when rows are read and written; ``cachefile`` how the file
is opened, bound to the folder's incarnation and recovered).

A file of its own, not a table of the header cache file: rows written together with header rows
would lie between them (a header block is five times a section), and a message list read after a
restart, with the page cache dropped, would read pages scattered over the whole header file. Alone,
a selection's rows are one run of pages: 10,000 Thunderbird sections cold, 35-43 ms -> 12-18 ms.

Tables: ``spec`` (the selections kept, at most ``MAX_SPECS``; the one used longest ago makes room for
a new one, with its rows and pack), ``section`` ((spec, uid) -> the section's octets and the length of
the message's CRLF header, which bounds what one FETCH may send of the message) and ``pack`` (spec ->
a copy of its rows in one blob, ``sectionpack``; the table was added without a version change: a file
made before gets it, empty, when it is next opened).
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping, Sequence
from pathlib import Path

from maildird.store.maildir import sectionpack
from maildird.store.maildir.cachefile import BoundFile, beside, runs

SCHEMA_VERSION = 1
"""Bumped when the table layout or the meaning of a value changes; a file with another is made again.
A stored section is what ``message.header_fields`` rendered when it was written: a change there that
changes any section's octets (or ``FieldSelector.key``) must bump this too."""

SECTIONS_SUFFIX = ".sections.db"
"""The file's name is the sidecar's base name (the mailbox GUID) plus this suffix."""

MAX_SPECS = 4
"""Selections whose sections one file keeps (Thunderbird asks for one; another client for another).
Each costs a row per message, so a client asking for ever new field lists cannot grow the file
without bound."""

Section = tuple[bytes, int]
"""A rendered header section and the length of the message's CRLF header."""
SectionRow = tuple[int, int, bytes, int]
"""``(spec id, uid, data, size)``."""

_TYPED = "typeof(data) = 'blob' AND typeof(size) = 'integer'"
"""A row whose columns have other types (a damaged file) is a miss, tested inside SQLite."""
_BETWEEN = f"SELECT uid, data, size FROM section WHERE spec = ? AND uid BETWEEN ? AND ? AND {_TYPED}"
_IN = "SELECT uid, data, size FROM section WHERE spec = ? AND uid IN ({marks}) AND " + _TYPED
_ALL = f"SELECT uid, data, size FROM section WHERE spec = ? AND {_TYPED}"


def section_path(state_path: Path) -> Path | None:
    """The section file beside a sidecar file, or None for an in-memory sidecar."""
    return beside(state_path, SECTIONS_SUFFIX)


class SectionFile(BoundFile):
    """One open section file (``cachefile.BoundFile``)."""

    VERSION = SCHEMA_VERSION
    SCHEMA = """
    CREATE TABLE IF NOT EXISTS spec (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, used INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS section (
        spec INTEGER NOT NULL, uid INTEGER NOT NULL, data BLOB NOT NULL, size INTEGER NOT NULL,
        PRIMARY KEY (spec, uid)
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS section_keys ON section (spec, uid);
    CREATE TABLE IF NOT EXISTS pack (spec INTEGER PRIMARY KEY, key TEXT NOT NULL, data BLOB NOT NULL);
    """

    def __init__(self, path: Path, guid: str, uidvalidity: int) -> None:
        super().__init__(path, guid, uidvalidity)
        self._touched: set[int] = set()  # spec ids whose ``used`` this connection already noted
        self.specs: dict[str, int] = {}
        self._used: dict[int, int] = {}
        try:
            for spec, key, used in self._db.execute("SELECT id, key, used FROM spec"):
                self.specs[str(key)] = int(spec)
                self._used[int(spec)] = int(used)
        except (ValueError, TypeError):
            self.specs.clear()
            self._used.clear()

    def spec_id(self, key: str) -> int:
        """The id of the selection ``key``, added when new (the one used longest ago goes when
        ``MAX_SPECS`` are kept, with its rows); its use noted once per open file, with no write
        when it already is the latest used."""
        found = self.specs.get(key)
        if found is not None and (found in self._touched or self._used[found] == max(self._used.values())):
            self._touched.add(found)
            return found
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            used = max(self._used.values(), default=0) + 1
            if found is not None:
                self._db.execute("UPDATE spec SET used = ? WHERE id = ?", (used, found))
            else:
                while self.specs and len(self.specs) >= MAX_SPECS:
                    old = min(self._used, key=self._used.__getitem__)
                    self._db.execute("DELETE FROM section WHERE spec = ?", (old,))
                    self._db.execute("DELETE FROM pack WHERE spec = ?", (old,))  # its id may be reused
                    self._db.execute("DELETE FROM spec WHERE id = ?", (old,))
                    del self._used[old]
                    self.specs = {k: i for k, i in self.specs.items() if i != old}
                cursor = self._db.execute("INSERT INTO spec (key, used) VALUES (?, ?)", (key, used))
                found = self.specs[key] = int(cursor.lastrowid or 0)
        self._used[found] = used
        self._touched.add(found)
        return found

    def get_sections(self, spec: int, uids: Sequence[int]) -> dict[int, Section]:
        """Stored sections of ``uids`` (distinct) for one selection."""
        out: dict[int, Section] = {}
        for chunk, low, high, dense in runs(uids):
            if dense:
                rows = self._db.execute(_BETWEEN, (spec, low, high))
                if high - low + 1 != len(chunk):
                    wanted = set(chunk)  # the rows of UIDs between the wanted ones go
                    out.update((uid, (data, size)) for uid, data, size in rows if uid in wanted)
                    continue
            else:
                rows = self._db.execute(_IN.format(marks=",".join("?" * len(chunk))), (spec, *chunk))
            out.update((uid, (data, size)) for uid, data, size in rows)
        return out

    def all_sections(self, spec: int) -> dict[int, Section]:
        """Every stored section of one selection (what a pack is made of)."""
        rows = self._db.execute(_ALL, (spec,))
        return {uid: (data, size) for uid, data, size in rows}

    def get_pack(self, spec: int, key: str) -> dict[int, Section] | None:
        """The sections of the selection's pack (``sectionpack``), or None when there is none or it
        is not well formed. ``key`` must match too: a pack is never read for another selection."""
        row = self._db.execute("SELECT key, data FROM pack WHERE spec = ?", (spec,)).fetchone()
        if row is None or row[0] != key:
            return None
        return sectionpack.decode(row[1])

    def put_pack(self, spec: int, key: str, sections: Mapping[int, Section]) -> None:
        """Store the selection's pack of ``sections`` in place of any before (nothing when a value does
        not fit the layout)."""
        try:
            blob = sectionpack.encode(sections)
        except ValueError:
            return
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT OR REPLACE INTO pack (spec, key, data) VALUES (?, ?, ?)", (spec, key, blob)
            )

    def put(self, rows: Sequence[SectionRow]) -> None:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "INSERT OR REPLACE INTO section (spec, uid, data, size) VALUES (?, ?, ?, ?)", rows
            )

    def delete(self, uids: Iterable[int]) -> None:
        gone = [(spec, uid) for uid in uids for spec in self.specs.values()]
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("DELETE FROM section WHERE spec = ? AND uid = ?", gone)

    def count(self, spec: int) -> int:
        """Rows of one selection, counted on the narrow ``section_keys`` index (the table's own
        b-tree holds the sections: counting there would read them all)."""
        (n,) = self._db.execute(
            "SELECT COUNT(*) FROM section INDEXED BY section_keys WHERE spec = ?", (spec,)
        ).fetchone()
        return int(n)

    def prune(self, present: Container[int], count: int) -> None:
        """Drop rows of messages expunged by other programs, looked for only when a selection has more
        rows than the folder's ``count`` messages (``HeaderFile.prune``)."""
        for spec in list(self.specs.values()):
            if self.count(spec) > count:
                rows = self._db.execute(
                    "SELECT uid FROM section INDEXED BY section_keys WHERE spec = ?", (spec,)
                )
                stale = [uid for (uid,) in rows if uid not in present]
                if stale:
                    self.delete(stale)
