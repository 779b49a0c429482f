"""maildird's private per-mailbox sidecar: the metadata cache and the mod-sequence store.

Theory of operation (maildir-format.md §7.3, option D):

* Maildir and Dovecot's control files hold no mod-sequences, and re-reading 100,000 message files to
  learn their RFC822.SIZE on every open is too slow. So each mailbox gets one SQLite file **outside
  the Maildir** (under the configured state directory), named after the mailbox GUID from the
  ``dovecot-uidlist`` header, so a RENAMEd folder keeps its state.
* It caches, per UID: the base name, the file name last seen (so its flag letters), whether it was
  in new/, the RFC822.SIZE (CRLF form) and the INTERNALDATE (mtime in ns), plus the message's
  modseq; and per mailbox the HIGHESTMODSEQ and an expunge log ``(uid, modseq)`` for QRESYNC's
  ``VANISHED (EARLIER)`` (RFC 7162 §3.2.5.2).
* The file is keyed by ``(guid, uidvalidity)``. When either differs from the uidlist (someone
  recreated it) the contents are discarded and rebuilt from the directory. Everything here can be
  rebuilt at any time; losing it costs a re-read of sizes and new (higher) modseqs only.
* Mod-sequences come from the clock: ``next = max(highest + 1, now in µs)`` (``next_modseq``). The
  µs clock (~1.8e15) stays far below 2^63, and a sidecar restored from an old backup, or lost, still
  yields values above everything handed out before, so HIGHESTMODSEQ never goes backwards for a
  UIDVALIDITY (RFC 7162 §3.1; the failure Dovecot shows in maildir-format.md E4c).
* ``sync_mark`` (meta): the stamps of the last settled full sync, written in the same transaction as
  its records; every other write clears it (``stamps`` module docstring: the restart fast path).
* ``epoch`` and ``gen`` (meta): a random token made whenever the contents are created anew, and a
  counter every write transaction raises inside itself. Together with the sync mark they name one
  exact state of the rows: the packed copy of the rows a settled sync leaves (``statepack``) is
  valid only for the state it names, so any later write by anyone discards it.
* Loading 100,000 rows must be cheap (a restart's SELECT): the pack when it is valid (``Loaded.columns``),
  else the rows; ``Record`` is a ``NamedTuple`` made straight from the row tuple, and ``in_new``
  comes back as SQLite's 0/1 (it is only tested for truth).
* The expunge log is pruned past ``EXPUNGE_LOG_LIMIT`` entries; ``expunge_floor`` records the
  highest modseq no longer fully known, and ``expunged_since`` answers None below it (the caller
  then reports every missing UID, as RFC 7162 §3.2.5.2 allows).

All methods are blocking; callers run them in a worker thread while holding the mailbox's lock.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from maildird.store.maildir import statepack
from maildird.store.maildir.statepack import Columns, PackKey

SCHEMA_VERSION = 1
"""Bumped when the table layout changes; a different version is discarded like a foreign key."""

EXPUNGE_LOG_LIMIT = 100_000
"""Expunge records kept per mailbox for VANISHED (EARLIER); older ones are pruned."""

STATE_SUFFIX = ".sqlite"
SYNC_MARK_KEY = "sync_mark"
EPOCH_KEY = "epoch"
GEN_KEY = "gen"
EPOCH_OCTETS = 8
"""Random octets of an epoch token (module docstring)."""

PackSource = Callable[[], tuple[Sequence[Sequence[Any]], Sequence[datetime]]]
"""What a settled sync's write is given to pack: called after the transaction, it returns the
records that transaction left (``Record`` fields, UID order) and their INTERNALDATEs."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS message (
    uid INTEGER PRIMARY KEY,
    base TEXT NOT NULL,
    name TEXT NOT NULL,
    in_new INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    modseq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS expunged (uid INTEGER PRIMARY KEY, modseq INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS expunged_modseq ON expunged (modseq);
"""


_UPSERT = (
    "INSERT OR REPLACE INTO message (uid, base, name, in_new, size, mtime_ns, modseq) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_RENAME = "UPDATE message SET name = ?, in_new = ?, modseq = ? WHERE uid = ?"


SQLITE_INTEGER_MAX = 2**63 - 1
"""SQLite INTEGER is signed 64-bit: mtimes past 2262-04-11 in nanoseconds do not fit."""


def _fit(mtime_ns: int) -> int:
    """Clamp an mtime into what SQLite can hold. A file dated after 2262 (a legal APPEND date-time,
    RFC 9051 §9 ``date-year = 4DIGIT``, or another program's touch) is cached as 2262-04-11 rather
    than breaking every sync of its folder with OverflowError."""
    return max(-SQLITE_INTEGER_MAX, min(mtime_ns, SQLITE_INTEGER_MAX))


def _stored(records: Iterable[Record]) -> Iterator[tuple[Any, ...]]:
    """The rows to store for ``records``: ``in_new`` as 0/1, mtimes that fit (``_fit``). Column by
    column in C-level ``map`` calls when every mtime fits already (a first open stores 100,000)."""
    rows = list(records)
    if not rows:
        return iter(())
    uids, bases, names, in_new, sizes, mtimes, modseqs = statepack.columns(rows, statepack.ROW_WIDTH)
    if min(mtimes) >= -SQLITE_INTEGER_MAX and max(mtimes) <= SQLITE_INTEGER_MAX:
        fitted: Iterable[int] = mtimes
    else:
        fitted = map(_fit, mtimes)
    return zip(uids, bases, names, map(int, in_new), sizes, fitted, modseqs, strict=True)


def now_modseq() -> int:
    """The clock term of the modseq formula: microseconds since the epoch."""
    return time.time_ns() // 1000


def next_modseq(highest: int) -> int:
    """A modseq above ``highest`` and not below the clock (module docstring)."""
    return max(highest + 1, now_modseq())


class Record(NamedTuple):
    """What the sidecar knows of one message (module docstring). A ``NamedTuple``, not a dataclass:
    a restart builds one per row of a 100,000-message folder, and this one costs a tuple."""

    uid: int
    base: str
    name: str
    in_new: bool
    size: int
    mtime_ns: int
    modseq: int


@dataclass(frozen=True, slots=True)
class Loaded:
    """The sidecar's contents for one ``(guid, uidvalidity)``.

    ``fresh`` is true when nothing usable was found (new file, or discarded): every message then
    needs a new modseq and the expunge history before ``expunge_floor`` is unknown.
    """

    rows: list[tuple[Any, ...]]
    """The message rows in UID order, as SQLite returns them (the ``Record`` fields in order):
    the caller builds what it needs from them in one pass (``memory.FolderMemory.adopt_rows``).
    Empty when ``columns`` holds them."""
    highestmodseq: int
    expunge_floor: int
    fresh: bool
    max_uid: int = 0
    """The highest UID known to this incarnation, expunged ones included (never hand it out again)."""
    sync_mark: str = ""
    """The mark of the last settled full sync ("" when none is valid; ``stamps.SyncMark``)."""
    columns: Columns | None = None
    """The rows column by column from the valid pack (``statepack``), instead of ``rows``."""

    @property
    def records(self) -> dict[int, Record]:
        """The rows as ``Record`` values by UID."""
        make = Record._make
        rows = self.columns.rows() if self.columns is not None else self.rows
        return {row[0]: make(row) for row in rows}


def _new_epoch() -> str:
    return os.urandom(EPOCH_OCTETS).hex()


def state_path(state_dir: Path, guid: str) -> Path:
    """The sidecar file for a mailbox GUID (32 hex digits from the uidlist header)."""
    safe = "".join(c for c in guid.lower() if c in "0123456789abcdef") or "noguid"
    return state_dir / f"{safe}{STATE_SUFFIX}"


class MailboxState:
    """One open sidecar file. Not thread-safe: the caller serializes access (the folder lock)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = self._connect(path)
        self._pack = statepack.pack_path(path)
        self._pack_on_disk = True  # not known yet: the first write removes any stale file

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        # check_same_thread=False: the folder lock serializes callers, which run in trio's worker
        # threads (a different thread each time).
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
        except sqlite3.DatabaseError:
            # A corrupt cache is just a cache: start again.
            db.close()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
        return db

    def close(self) -> None:
        self._db.close()

    # -- reading -------------------------------------------------------------------------------

    def _meta(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT key, value FROM meta").fetchall())

    def load(self, guid: str, uidvalidity: int) -> Loaded:
        """The records for this mailbox incarnation; discards anything stored for another one."""
        meta = self._meta()
        key_ok = (
            meta.get("schema") == str(SCHEMA_VERSION)
            and meta.get("guid") == guid
            and meta.get("uidvalidity") == str(uidvalidity)
        )
        if not key_ok:
            highest = int(meta.get("highestmodseq", "0"))  # kept only as a floor for the clock term
            floor = next_modseq(highest)
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute("DELETE FROM message")
                self._db.execute("DELETE FROM expunged")
                self._db.execute("DELETE FROM meta")
                self._db.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?)",
                    [
                        ("schema", str(SCHEMA_VERSION)),
                        ("guid", guid),
                        ("uidvalidity", str(uidvalidity)),
                        ("highestmodseq", str(floor)),
                        ("expunge_floor", str(floor)),
                        (EPOCH_KEY, _new_epoch()),
                        (GEN_KEY, "1"),
                    ],
                )
            self._after_write(None, None)
            return Loaded([], floor, floor, True)
        mark = meta.get(SYNC_MARK_KEY, "")
        columns = self._read_pack(meta, mark)
        rows: list[tuple[Any, ...]] = []
        if columns is None:
            rows = self._db.execute(
                "SELECT uid, base, name, in_new, size, mtime_ns, modseq FROM message ORDER BY uid"
            ).fetchall()
            top = rows[-1][0] if rows else 0
        else:
            top = columns.uids[-1]
        (max_gone,) = self._db.execute("SELECT COALESCE(MAX(uid), 0) FROM expunged").fetchone()
        return Loaded(
            rows,
            int(meta["highestmodseq"]),
            int(meta["expunge_floor"]),
            False,
            max(top, int(max_gone)),
            mark,
            columns,
        )

    def _read_pack(self, meta: dict[str, str], mark: str) -> Columns | None:
        """The valid pack's columns (module docstring), or None: read the rows."""
        if self._pack is None or not mark or EPOCH_KEY not in meta or GEN_KEY not in meta:
            return None
        try:
            key = PackKey(meta[EPOCH_KEY], int(meta[GEN_KEY]), mark)
        except ValueError:
            return None
        return statepack.read(self._pack, key)

    def expunged_since(self, modseq: int) -> tuple[int, ...] | None:
        """UIDs expunged with a modseq above ``modseq``, or None if that history was pruned."""
        floor = int(self._meta().get("expunge_floor", "0"))
        if modseq < floor:
            return None
        rows = self._db.execute("SELECT uid FROM expunged WHERE modseq > ? ORDER BY uid", (modseq,))
        return tuple(r[0] for r in rows)

    # -- writing -------------------------------------------------------------------------------

    def commit(
        self,
        *,
        upserts: Iterable[Record] = (),
        expunged: Iterable[tuple[int, int]] = (),
        highestmodseq: int,
        sync_mark: str = "",
        pack: PackSource | None = None,
        renamed: Sequence[Record] = (),
    ) -> None:
        """Store changed records, expunges ``(uid, modseq)`` and the new HIGHESTMODSEQ at once, and
        replace the sync mark (cleared unless this commit is a settled full sync's). With a mark,
        ``pack`` gives the records the commit leaves, to write their packed copy (``statepack``);
        without one any packed copy is discarded.

        ``renamed``: records whose row is stored with the same base, size and mtime (a flag change's
        rename, STORE; the caller vouches for it, so not after a failed write): only their name,
        in_new and modseq are updated (``_update_renamed``), else they are written as ``upserts``."""
        gone = list(expunged)
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            key = self._bump(sync_mark)
            self._set_mark(sync_mark)
            if renamed:
                self._update_renamed(renamed)
            self._db.executemany(_UPSERT, _stored(upserts))
            if gone:
                self._db.executemany("DELETE FROM message WHERE uid = ?", [(u,) for u, _ in gone])
                self._db.executemany("INSERT OR REPLACE INTO expunged (uid, modseq) VALUES (?, ?)", gone)
            self._db.execute(
                "UPDATE meta SET value = ? WHERE key = 'highestmodseq' AND CAST(value AS INTEGER) < ?",
                (str(highestmodseq), highestmodseq),
            )
            if gone:
                self._prune()
        self._after_write(key, pack)

    def set_sync_mark(self, sync_mark: str, pack: PackSource | None = None) -> None:
        """Replace the sync mark alone (a full sync that changed no record); ``pack`` as in ``commit``."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            key = self._bump(sync_mark)
            self._set_mark(sync_mark)
        self._after_write(key, pack)

    def _bump(self, sync_mark: str) -> PackKey:
        """Inside a write transaction: raise ``gen`` (making the epoch of a file from before it had
        one); the key of the state this transaction leaves (module docstring)."""
        db = self._db
        db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (EPOCH_KEY, _new_epoch()))
        db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, '0')", (GEN_KEY,))
        db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = ?", (GEN_KEY,))
        got = dict(db.execute("SELECT key, value FROM meta WHERE key IN (?, ?)", (EPOCH_KEY, GEN_KEY)))
        return PackKey(got[EPOCH_KEY], int(got[GEN_KEY]), sync_mark)

    def _after_write(self, key: PackKey | None, pack: PackSource | None) -> None:
        """After a committed write: pack the records a settled sync left, else remove any pack (it
        copies an older state: invalid already, by its generation, but taking space)."""
        if self._pack is None:
            return
        if key is not None and key.mark and pack is not None:
            rows, dates = pack()
            if statepack.write(self._pack, key, rows, dates):
                self._pack_on_disk = True
                return
        if self._pack_on_disk:
            statepack.discard(self._pack)
            self._pack_on_disk = False

    def _update_renamed(self, renamed: Sequence[Record]) -> None:
        """Inside a write transaction: the rows of ``renamed`` (``commit``) get their new name, in_new
        and modseq; an UPDATE of those columns costs less than rewriting the whole row (10,000 rows:
        ~15.0 against ~16.5 ms of thread CPU for ``INSERT OR REPLACE``, best of 60). Should any row be
        missing (the UPDATE touched fewer rows), every record is written whole: the result is the
        same as ``upserts`` would leave."""
        uids, _, names, in_new, _, _, modseqs = statepack.columns(renamed, statepack.ROW_WIDTH)
        done = self._db.executemany(
            _RENAME, zip(names, map(int, in_new), modseqs, uids, strict=True)
        ).rowcount
        if done != len(renamed):
            self._db.executemany(_UPSERT, _stored(renamed))

    def _set_mark(self, sync_mark: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (SYNC_MARK_KEY, sync_mark))

    def _prune(self) -> None:
        (count,) = self._db.execute("SELECT COUNT(*) FROM expunged").fetchone()
        excess = count - EXPUNGE_LOG_LIMIT
        if excess <= 0:
            return
        (cut,) = self._db.execute(
            "SELECT modseq FROM expunged ORDER BY modseq LIMIT 1 OFFSET ?", (excess - 1,)
        ).fetchone()
        self._db.execute("DELETE FROM expunged WHERE modseq <= ?", (cut,))
        self._db.execute(
            "UPDATE meta SET value = ? WHERE key = 'expunge_floor' AND CAST(value AS INTEGER) < ?",
            (str(cut), cut),
        )
