"""Maildir++ folder layout (Dovecot's default for ``maildir:``; maildir-format.md §2).

The root is INBOX; folder ``A.B`` is the sibling directory ``<root>/.A.B`` holding ``cur new tmp`` and an
empty ``maildirfolder`` file.  The hierarchy delimiter is ``.``; parents never materialise.  Listing skips
non-directories, ``.INBOX`` (hidden behind the real INBOX), ``..DOVECOT-TRASHED`` and other ``..`` names;
with ``mbsync_inbox_children`` mbsync's ``..X`` (SubFolders Maildir++) is listed as ``INBOX.X`` (§2.4).

All methods do blocking file-system work: call them from worker threads.
"""

from __future__ import annotations

import os
from pathlib import Path

from maildird.store.base import MailboxExists
from maildird.store.maildir.layout_common import (
    INBOX,
    MAILDIRFOLDER_NAME,
    TRASH_NAME,
    BaseLayout,
    dir_mode,
    ensure_maildir,
    make_dir,
    normalise_inbox,
    remove_tree,
)
from maildird.store.maildir.lock import dir_file_mode, fsync_dir

__all__ = ["MaildirPlusPlus"]


class MaildirPlusPlus(BaseLayout):
    """Maildir++: ``<root>/.A.B/``; delimiter ``.``."""

    delimiter = "."

    def __init__(self, root: Path, *, utf8_names: bool = False, mbsync_inbox_children: bool = False) -> None:
        super().__init__(root, utf8_names=utf8_names)
        self.mbsync_inbox_children = mbsync_inbox_children

    def _entry_for(self, parts: list[str]) -> str:
        if self.mbsync_inbox_children and parts[0] == INBOX and len(parts) > 1:
            entry = "." + ".".join(self._encode(p) for p in parts[1:])
            entry = "." + entry
        else:
            entry = "." + ".".join(self._encode(p) for p in parts)
        self._check_component_bytes(entry)
        return entry

    def _name_of_entry(self, entry: str) -> str | None:
        if entry in (".", "..", TRASH_NAME) or not entry.startswith("."):
            return None
        if entry.startswith(".."):
            if not self.mbsync_inbox_children:
                return None
            parts = [INBOX, *[self._decode(p) for p in entry[2:].split(".")]]
        else:
            parts = [self._decode(p) for p in entry[1:].split(".")]
        if any(not p for p in parts):
            return None
        if len(parts) == 1 and parts[0].upper() == INBOX:
            return None  # .INBOX is hidden behind the real INBOX (E10)
        return ".".join(normalise_inbox(parts))

    def _entries(self) -> dict[str, str]:
        """IMAP name -> directory entry, for every folder directory in the root."""
        out: dict[str, str] = {}
        with os.scandir(self.root) as it:
            for de in it:
                name = self._name_of_entry(de.name)
                if name is None:
                    continue
                try:
                    if not de.is_dir():
                        continue  # .uidvalidity, .mbsyncstate and other dot-files
                except OSError:
                    continue
                out.setdefault(name, de.name)
        return out

    def _find_existing(self, parts: list[str]) -> Path | None:
        path = self.root / self._entry_for(parts)
        if path.is_dir():
            return path
        entry = self._entries().get(".".join(parts))
        return self.root / entry if entry is not None else None

    def path_for(self, name: str) -> Path:
        parts = self.split(name)
        if parts == [INBOX]:
            return self.root
        return self._find_existing(parts) or self.root / self._entry_for(parts)

    def list_folders(self) -> list[str]:
        names = sorted(self._entries())
        return [INBOX, *names]

    def noselect_folders(self) -> list[str]:
        return []

    def exists(self, name: str) -> bool:
        """Any folder directory is a mailbox in Maildir++ (cur/new/tmp are created on open)."""
        parts = self.split(name)
        return parts == [INBOX] or self._find_existing(parts) is not None

    def create(self, name: str) -> Path:
        parts = self.split(name)
        if parts == [INBOX]:
            raise MailboxExists("INBOX always exists")
        if self._find_existing(parts) is not None:
            raise MailboxExists(f"{name} already exists")
        path = self.root / self._entry_for(parts)
        mode = dir_mode(self.root)
        try:
            make_dir(path, mode)
        except FileExistsError:
            raise MailboxExists(f"{name} already exists") from None
        ensure_maildir(path, mode)
        fd = os.open(path / MAILDIRFOLDER_NAME, os.O_WRONLY | os.O_CREAT, dir_file_mode(self.root))
        os.close(fd)
        fsync_dir(self.root)
        return path

    def delete(self, name: str) -> None:
        path = self._begin_delete(name)
        remove_tree(self.root, path)

    def rename(self, old: str, new: str) -> None:
        begun = self._begin_rename(old, new)
        if begun is None:
            return
        old_parts, new_parts, src = begun
        old_name, new_name = ".".join(old_parts), ".".join(new_parts)
        entries = self._entries()
        moves: list[tuple[Path, Path]] = [(src, self.root / self._entry_for(new_parts))]
        for child, entry in sorted(entries.items()):
            if child.startswith(old_name + "."):
                target = new_name + child[len(old_name) :]
                moves.append((self.root / entry, self.root / self._entry_for(target.split("."))))
        for _src, dst in moves:
            if dst.exists() or dst.is_symlink():
                raise MailboxExists(f"{dst.name} already exists")
        for src_path, dst in moves:
            os.rename(src_path, dst)
        fsync_dir(self.root)
