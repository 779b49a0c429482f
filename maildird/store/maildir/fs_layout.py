"""LAYOUT=fs folder layout (Dovecot ``LAYOUT=fs``, mbsync ``SubFolders Verbatim``; maildir-format.md §2).

Folder ``Foo/Bar`` is ``<root>/Foo/Bar/{cur,new,tmp}``; intermediate directories without ``cur/`` are
``\\Noselect``.  The delimiter on the wire is ``/``, as with Dovecot's LAYOUT=fs, so ``.`` is an ordinary
character (E6: ``Maildir/a.b/``).  ``cur``, ``new`` and ``tmp`` are reserved component names.

All methods do blocking file-system work: call them from worker threads.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from maildird.store.base import MailboxExists, MailboxNotFound
from maildird.store.maildir.layout_common import (
    FS_DELETE_STAGING,
    INBOX,
    MAILDIR_SUBDIRS,
    MAX_FS_DEPTH,
    BaseLayout,
    InvalidMailboxName,
    dir_mode,
    ensure_maildir,
    make_dir,
    normalise_inbox,
    remove_tree,
)
from maildird.store.maildir.lock import fsync_dir

__all__ = ["FsLayout"]


class FsLayout(BaseLayout):
    """LAYOUT=fs: ``<root>/A/B/``; delimiter ``/``; intermediate directories are ``\\Noselect``."""

    delimiter = "/"

    def split(self, name: str) -> list[str]:
        parts = super().split(name)
        for part in parts:
            if part in MAILDIR_SUBDIRS:
                raise InvalidMailboxName("contains a reserved name (cur, new, tmp)")
        return parts

    def _rel_for(self, parts: list[str]) -> list[str]:
        rel = [self._encode(p) for p in parts]
        for entry in rel:
            self._check_component_bytes(entry)
        return rel

    def _walk(self) -> dict[str, tuple[str, bool]]:
        """IMAP name -> (relative path, selectable) for every folder directory below the root."""
        out: dict[str, tuple[str, bool]] = {}

        def visit(dirpath: Path, prefix: list[str], rel: list[str], depth: int) -> None:
            if depth > MAX_FS_DEPTH:
                return
            try:
                it = os.scandir(dirpath)
            except OSError:
                return
            with it:
                entries = sorted(it, key=lambda d: d.name)
            for de in entries:
                if de.name.startswith(".") or de.name in MAILDIR_SUBDIRS:
                    continue
                try:
                    if not de.is_dir():
                        continue
                except OSError:
                    continue
                parts = [*prefix, self._decode(de.name)]
                if not prefix and parts[0].upper() == INBOX:
                    parts = normalise_inbox(parts)
                child = Path(de.path)
                name = "/".join(parts)
                out.setdefault(name, ("/".join([*rel, de.name]), (child / "cur").is_dir()))
                visit(child, parts, [*rel, de.name], depth + 1)

        visit(self.root, [], [], 0)
        return out

    def _find_existing(self, parts: list[str]) -> Path | None:
        path = self.root.joinpath(*self._rel_for(parts))
        if path.is_dir():
            return path
        found = self._walk().get("/".join(parts))
        return self.root / found[0] if found is not None else None

    def path_for(self, name: str) -> Path:
        parts = self.split(name)
        if parts == [INBOX]:
            return self.root
        return self._find_existing(parts) or self.root.joinpath(*self._rel_for(parts))

    def list_folders(self) -> list[str]:
        return [INBOX, *sorted(n for n, (_, sel) in self._walk().items() if sel and n != INBOX)]

    def noselect_folders(self) -> list[str]:
        return sorted(n for n, (_, sel) in self._walk().items() if not sel and n != INBOX)

    def create(self, name: str) -> Path:
        parts = self.split(name)
        if parts == [INBOX]:
            raise MailboxExists("INBOX always exists")
        existing = self._find_existing(parts)
        if existing is not None and (existing / "cur").is_dir():
            raise MailboxExists(f"{name} already exists")
        path = existing or self.root.joinpath(*self._rel_for(parts))
        mode = dir_mode(self.root)
        current = self.root
        for part in path.relative_to(self.root).parts:  # intermediate \Noselect directories
            current = current / part
            with contextlib.suppress(FileExistsError):
                make_dir(current, mode)
        ensure_maildir(path, mode)
        fsync_dir(path.parent)
        return path

    def _children(self, path: Path) -> list[str]:
        out = []
        for entry in os.listdir(path):
            if entry.startswith(".") or entry in MAILDIR_SUBDIRS:
                continue
            if (path / entry).is_dir():
                out.append(entry)
        return out

    def delete(self, name: str) -> None:
        path = self._begin_delete(name)
        selectable = (path / "cur").is_dir()
        if not self._children(path):
            remove_tree(self.root, path)
            return
        if not selectable:
            raise MailboxNotFound(f"{name} is not a mailbox (it only has children)")
        # Keep the directory for the children: it becomes \Noselect. Move the mail parts to the trash.
        staging = path / FS_DELETE_STAGING
        with contextlib.suppress(FileExistsError):
            os.mkdir(staging)
        for entry in os.listdir(path):
            child = path / entry
            if entry == staging.name or (child.is_dir() and entry not in MAILDIR_SUBDIRS):
                continue
            os.rename(child, staging / entry)
        remove_tree(self.root, staging)

    def rename(self, old: str, new: str) -> None:
        begun = self._begin_rename(old, new)
        if begun is None:
            return
        _old_parts, new_parts, src = begun
        dst = self.root.joinpath(*self._rel_for(new_parts))
        if self._find_existing(new_parts) is not None or dst.exists():
            raise MailboxExists(f"{new} already exists")
        mode = dir_mode(self.root)
        current = self.root
        for part in dst.relative_to(self.root).parts[:-1]:
            current = current / part
            with contextlib.suppress(FileExistsError):
                make_dir(current, mode)
        os.rename(src, dst)
        fsync_dir(dst.parent)
