"""``dovecot-keywords``: a mailbox's keyword <-> file-name letter map (maildir-format.md §4).

Theory of operation:

* Lines ``<index> SP <name> LF``; index 0..25 stands for letter ``a``+index. Lines are written in
  index order; gaps are allowed. On reading, lines without a space, an index >= 26, an empty name
  or a duplicate name (compared case-insensitively) are skipped ([DC-KW] ``maildir_keywords_sync``).
* Names match case-insensitively; a new keyword takes the LOWEST free index. Existing indexes are
  never renumbered or reused. When all 26 are taken, ``KeywordLimit`` (``NO [LIMIT]``): maildird has
  no index to keep a letterless keyword in, so it must refuse rather than lose it (§4.2).
* A letter found in a file name without an entry gets the name ``unknown-<index>`` (plus ``?`` while
  that clashes), which is written back, like Dovecot.
* Writing happens only under the uidlist lock: a stale ``dovecot-keywords.lock`` is removed, the new
  content is written into a fresh ``dovecot-keywords.lock`` (``O_EXCL``), its mtime is made strictly
  greater (in whole seconds, Dovecot keeps ``time_t``) than the old file's, fsync, ``rename``.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from maildird.store.base import LimitExceeded, StoreError
from maildird.store.maildir.filenames import KEYWORD_LETTERS
from maildird.store.maildir.lock import (
    LOCK_NAME,
    adopt_dir_permissions,
    check_held_by_us,
    dir_file_mode,
    fsync_dir,
)

KEYWORDS_NAME = "dovecot-keywords"
KEYWORDS_LOCK_NAME = "dovecot-keywords.lock"
MAX_KEYWORDS = len(KEYWORD_LETTERS)
"""26: one file-name letter per keyword, ``a``..``z``."""
UNKNOWN_PREFIX = "unknown-"
NS_PER_SEC = 1_000_000_000


class KeywordLimit(LimitExceeded):
    """All 26 keyword letters of the mailbox are taken (maildir-format.md §4.2)."""


class LockNotHeld(StoreError):
    """dovecot-keywords may only be written under the mailbox's dovecot-uidlist.lock."""


def parse_keywords(data: bytes) -> dict[int, str]:
    """index -> name, skipping the lines Dovecot skips."""
    out: dict[int, str] = {}
    seen: set[str] = set()
    for raw in data.split(b"\n"):
        line = raw[:-1] if raw.endswith(b"\r") else raw
        idx_s, sep, name_b = line.partition(b" ")
        if not sep or not idx_s.isdigit() or not name_b:
            continue
        idx = int(idx_s)
        name = name_b.decode("utf-8", "surrogateescape")
        if idx >= MAX_KEYWORDS or idx in out or name.lower() in seen:
            continue
        out[idx] = name
        seen.add(name.lower())
    return out


def serialize_keywords(by_index: dict[int, str]) -> bytes:
    """``"%u %s\\n"`` lines in index order."""
    return b"".join(f"{i} {by_index[i]}\n".encode("utf-8", "surrogateescape") for i in sorted(by_index))


def letter_of(index: int) -> str:
    return KEYWORD_LETTERS[index]


def index_of(letter: str) -> int:
    idx = KEYWORD_LETTERS.find(letter)
    if idx < 0 or len(letter) != 1:
        raise ValueError(f"not a keyword letter: {letter!r}")
    return idx


@dataclass(slots=True)
class Keywords:
    """The mapping of one mailbox. Mutable: ``letter_for(..., allocate=True)`` and ``name_for`` may
    add entries; ``dirty`` then says that ``save`` must run (under the uidlist lock)."""

    by_index: dict[int, str] = field(default_factory=dict)
    mtime_ns: int | None = None
    """mtime of the file this was loaded from (None: there was no file)."""
    dirty: bool = False

    @classmethod
    def load(cls, dirpath: Path) -> Keywords:
        """Read ``<dirpath>/dovecot-keywords`` (an empty mapping when the file is missing)."""
        path = Path(dirpath) / KEYWORDS_NAME
        try:
            with open(path, "rb") as f:
                mtime_ns = os.fstat(f.fileno()).st_mtime_ns
                data = f.read()
        except FileNotFoundError:
            return cls()
        return cls(parse_keywords(data), mtime_ns)

    def changed_on_disk(self, dirpath: Path) -> bool:
        """True when the file's mtime differs from the loaded one (Dovecot re-reads only then)."""
        try:
            mtime: int | None = os.stat(Path(dirpath) / KEYWORDS_NAME).st_mtime_ns
        except FileNotFoundError:
            mtime = None
        return mtime != self.mtime_ns

    def names(self) -> frozenset[str]:
        return frozenset(self.by_index.values())

    def letter_for(self, name: str, allocate: bool = False) -> str | None:
        """The letter of a keyword (case-insensitive); with ``allocate``, give it the lowest free
        index if it has none. Raises ``KeywordLimit`` when all 26 are taken."""
        lower = name.lower()
        for idx, existing in self.by_index.items():
            if existing.lower() == lower:
                return letter_of(idx)
        if not allocate:
            return None
        if not name or any(c in name for c in " \r\n\0"):
            raise ValueError(f"invalid keyword name: {name!r}")
        free = next((i for i in range(MAX_KEYWORDS) if i not in self.by_index), None)
        if free is None:
            raise KeywordLimit(f"all {MAX_KEYWORDS} keyword letters of this mailbox are in use")
        self.by_index[free] = name
        self.dirty = True
        return letter_of(free)

    def name_for(self, letter: str) -> str:
        """The keyword a file-name letter stands for; an unmapped letter becomes ``unknown-<index>``
        (recorded, so ``save`` writes it back as Dovecot does)."""
        idx = index_of(letter)
        name = self.by_index.get(idx)
        if name is None:
            name = f"{UNKNOWN_PREFIX}{idx}"
            taken = {n.lower() for n in self.by_index.values()}
            while name.lower() in taken:
                name += "?"
            self.by_index[idx] = name
            self.dirty = True
        return name

    def is_full(self) -> bool:
        """No letter left: don't announce ``\\*`` in PERMANENTFLAGS."""
        return len(self.by_index) >= MAX_KEYWORDS

    def save(self, dirpath: Path, *, fsync: bool = True) -> None:
        """Write the file (only under the mailbox's uidlist lock, held by this process).

        Raises ``LockNotHeld`` when ``<dirpath>/dovecot-uidlist.lock`` does not name this process.
        """
        dirpath = Path(dirpath)
        if not check_held_by_us(dirpath, LOCK_NAME):
            raise LockNotHeld(f"{dirpath / LOCK_NAME} is not held by this process")
        target = dirpath / KEYWORDS_NAME
        lock = dirpath / KEYWORDS_LOCK_NAME
        try:
            old_mtime_ns: int | None = os.stat(target).st_mtime_ns
        except FileNotFoundError:
            old_mtime_ns = None
        # We hold the uidlist lock, so any keywords lock is a leftover of a crash.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(lock, flags, dir_file_mode(dirpath))
        try:
            adopt_dir_permissions(fd, dirpath)
            data = serialize_keywords(self.by_index)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            st = os.fstat(fd)
            if old_mtime_ns is not None and st.st_mtime_ns // NS_PER_SEC <= old_mtime_ns // NS_PER_SEC:
                new_mtime = (old_mtime_ns // NS_PER_SEC + 1) * NS_PER_SEC  # "mtime must grow every time"
                os.utime(fd, ns=(st.st_atime_ns, new_mtime))
            if fsync:
                os.fsync(fd)
            self.mtime_ns = os.fstat(fd).st_mtime_ns
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(lock)
            raise
        os.close(fd)
        os.rename(lock, target)
        if fsync:
            fsync_dir(dirpath)
        self.dirty = False
