"""The change hub: per-folder version numbers in the Trio thread, and which paths count as changes.

Theory of operation (architecture.md §4.7, §5.1-5.2; maildir-format.md §6):

* ``ChangeHub`` lives in the Trio thread. Each folder key has a version number that only grows;
  ``wait_past(key, seen)`` sleeps until the key's version differs from ``seen``. All waiters share one
  ``trio.Event`` that is replaced on every change, so this is a broadcast (a memory channel would hand
  each hint to a single IDLE session). ``mark_all_dirty`` bumps a global epoch that is part of every
  key's version.
* Events are hints, never truth: ``rescan_tick`` marks everything dirty every so often to cover what
  inotify cannot see (NFS, other namespaces).
* What counts (``folder_of``): creations, deletions and moves of files in ``new/`` and ``cur/`` (a
  rename delivery is a move into ``new/``, a link delivery a creation there, a flag change a move
  inside ``cur/``), and folder directories appearing, vanishing or moving. ``tmp/`` and the control
  files (``dovecot-uidlist*``, ``dovecot-keywords*``, ``dovecot.index*``) are ignored: our own
  uidlist writes must not wake every IDLE session. (The freshness tokens of ``maildird.watchproof``
  do count changes of ``dovecot-uidlist`` and ``dovecot-keywords``: ``treewatch`` keeps both.)

Keys are ``folder_key(folder_dir)`` = the resolved directory path as ``str``, so the store computes
the same key (``Mailbox.watch_key``). The feeders are ``treewatch`` (raw inotify) and
``watchdog_fallback``; ``changes.watch`` picks one.
"""

from __future__ import annotations

from pathlib import Path

import trio

__all__ = [
    "IGNORED_DIR",
    "IGNORED_PREFIXES",
    "MESSAGE_DIRS",
    "ChangeHub",
    "folder_key",
    "folder_of",
    "rescan_tick",
]

MESSAGE_DIRS = ("new", "cur")
IGNORED_DIR = "tmp"
IGNORED_PREFIXES = ("dovecot-uidlist", "dovecot-keywords", "dovecot.index")


def folder_key(path: Path | str) -> str:
    """The hub key of a Maildir folder directory (INBOX: the Maildir root)."""
    return str(Path(path).resolve())


def folder_of(path: str, is_directory: bool) -> str | None:
    """The folder key an event path belongs to, or None when the event says nothing about messages."""
    p = Path(path)
    if p.name.startswith(IGNORED_PREFIXES):
        return None
    parent = p.parent
    if parent.name == IGNORED_DIR or (p.name == IGNORED_DIR and is_directory):
        return None
    if parent.name in MESSAGE_DIRS and not is_directory:
        return folder_key(parent.parent)
    if is_directory:
        if p.name in MESSAGE_DIRS:
            return folder_key(parent)
        return folder_key(p)  # a folder directory created, deleted or moved
    return None


class ChangeHub:
    """Trio-side broadcast of folder versions. Touch only from the Trio thread."""

    def __init__(self) -> None:
        self._versions: dict[str, int] = {}
        self._epoch = 0
        self._changed = trio.Event()

    def version(self, key: str) -> int:
        return self._epoch + self._versions.get(key, 0)

    def mark_dirty(self, key: str) -> None:
        """Bump one folder. Called through ``run_sync_soon``: must not raise."""
        self._versions[key] = self._versions.get(key, 0) + 1
        self._wake()

    def mark_all_dirty(self) -> None:
        """Bump every folder (overflow, periodic safety rescan)."""
        self._epoch += 1
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def wait_past(self, key: str, seen: int) -> int:
        """Wait until ``version(key) != seen``; return the new version."""
        while self.version(key) == seen:
            await self._changed.wait()
        return self.version(key)


async def rescan_tick(hub: ChangeHub, rescan_seconds: float) -> None:
    """Mark everything dirty every ``rescan_seconds``, forever (events are hints, module docstring)."""
    while True:
        await trio.sleep(rescan_seconds)
        hub.mark_all_dirty()
