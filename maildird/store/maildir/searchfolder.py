"""The search-text cache of one folder (``searchcache``): ``FolderTexts``, its file and its failures.

Theory of operation
-------------------
``FolderTexts`` holds one folder's cache file (a ``searchfile.TextFile``, opened lazily and reopened
when the folder's incarnation ``Ident`` changes) and names its memory tables (``token``). Its
``*_locked`` methods run in a worker thread with ``lock`` held (``searchcache`` takes the lock and makes
the hop). Failure is never an error to the client: a file SQLite finds damaged is deleted (rebuilt by
later searches); any other SQLite or OS error turns the file off for ``RETRY_SECONDS`` and the methods
answer as if there were no file. Rows of UIDs the folder no longer knows are pruned once per process,
in a hop that writes anyway. ``Recipe`` says how texts are made from header blocks.

Moved unchanged out of searchcache.py (the 400-line house rule); searchcache re-exports both names.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import trio

from maildird.store.maildir.cachefile import RETRY_SECONDS, is_corrupt
from maildird.store.maildir.searchfile import TextFile, will_need
from maildird.store.maildir.searchmemory import MEMORY, Ident, MemoryLayer, Texts

__all__ = ["FolderTexts", "Recipe"]

log = logging.getLogger("maildird.store")


class Recipe(Protocol):
    """How texts are made from header blocks (``message.search_fields.RECIPE``)."""

    @property
    def version(self) -> str: ...

    def derive(self, blocks: Mapping[int, bytes], fields: Sequence[str]) -> dict[str, Texts]: ...


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
        if is_corrupt(exc):
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
        if path is None or not path.exists():
            return False  # nothing to read ahead, and no file made for a folder never searched
        f = self._open(path, ident)
        if f is None:
            return False
        for suffix in ("", "-wal"):
            will_need(Path(f"{f.path}{suffix}"))
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

    def rows_locked(self, path: Path | None, ident: Ident, uids: Sequence[int]) -> dict[int, bytes]:
        f = self._open(path, ident)
        if f is None:
            return {}
        try:
            return f.get_rows(uids)
        except sqlite3.Error as exc:
            self._failed(exc, f.path)
            return {}

    def row_uids_locked(self, path: Path | None, ident: Ident) -> set[int] | None:
        """The UIDs the file holds body rows for; None without a usable file."""
        f = self._open(path, ident)
        if f is None:
            return None
        try:
            return f.row_uids()
        except sqlite3.Error as exc:
            self._failed(exc, f.path)
            return None

    def put_rows_locked(
        self, path: Path | None, ident: Ident, live: Callable[[], set[int]], rows: Mapping[int, bytes]
    ) -> None:
        f = self._open(path, ident)
        if f is None:
            return
        try:
            f.put_rows(rows.items())
            if not self._pruned:
                f.prune(live())
                self._pruned = True
        except sqlite3.Error as exc:
            self._failed(exc, f.path)

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
