"""Folder layout: IMAP mailbox names <-> Maildir directories (maildir-format.md §2).

Theory of operation:

* ``MaildirPlusPlus`` (Dovecot's default for ``maildir:``): the root is INBOX; folder ``A.B`` is the
  sibling directory ``<root>/.A.B`` holding ``cur new tmp`` and an empty ``maildirfolder`` file.
  The hierarchy delimiter is ``.``; parents never materialise. Each component is stored in modified
  UTF-7 (RFC 3501 §5.1.3) like Dovecot 2.3, or raw UTF-8 with ``utf8_names`` (Dovecot ``:UTF-8``).
  Listing skips non-directories, ``.INBOX`` (hidden behind the real INBOX), ``..DOVECOT-TRASHED``
  and other ``..`` names; with ``mbsync_inbox_children`` mbsync's ``..X`` (SubFolders Maildir++)
  is listed as ``INBOX.X`` (§2.4).
* ``FsLayout`` (Dovecot ``LAYOUT=fs``, mbsync ``SubFolders Verbatim``): folder ``Foo/Bar`` is
  ``<root>/Foo/Bar/{cur,new,tmp}``; intermediate directories without ``cur/`` are ``\\Noselect``.
  The delimiter on the wire is ``/``, as with Dovecot's LAYOUT=fs, so ``.`` is an ordinary character
  (E6: ``Maildir/a.b/``). ``cur``, ``new`` and ``tmp`` are reserved component names.
* Existing directories whose names are not canonical (raw UTF-8 from Courier/mbsync, invalid
  mUTF-7) are listed under their literal name and found again by ``path_for``.
* DELETE renames the folder to ``<root>/..DOVECOT-TRASHED`` and removes that tree (Dovecot).
  RENAME moves children too. Renaming INBOX moves its messages into the new folder and leaves
  INBOX empty (RFC 3501 §6.3.5), under INBOX's uidlist lock.

All methods do blocking file-system work: call them from worker threads.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import stat
from pathlib import Path
from typing import Protocol

from maildird.store.base import InvalidName, MailboxExists, MailboxNotFound
from maildird.store.maildir.lock import UidlistLock, dir_file_mode, fsync_dir

INBOX = "INBOX"
MAILDIR_SUBDIRS = ("cur", "new", "tmp")
MAILDIRFOLDER_NAME = "maildirfolder"
TRASH_NAME = "..DOVECOT-TRASHED"
KEYWORDS_NAME = "dovecot-keywords"
NAME_MAX = 255
"""Longest directory entry name most file systems allow, in bytes."""
MAX_FS_DEPTH = 64
"""How deep ``FsLayout`` descends when listing (guards against symlink loops)."""
TRASH_RETRIES = 5
FS_DELETE_STAGING = ".DOVECOT-DELETE"
"""LAYOUT=fs: where a deleted mailbox's mail parts gather before going to the trash (kept children)."""

__all__ = [
    "INBOX",
    "FsLayout",
    "InboxNotAllowed",
    "InvalidMailboxName",
    "Layout",
    "MailboxExists",
    "MailboxNotFound",
    "MaildirPlusPlus",
    "ensure_maildir",
    "make_layout",
]


class InvalidMailboxName(InvalidName):
    """A name the layout refuses; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"invalid mailbox name: {reason}")
        self.reason = reason


class InboxNotAllowed(InvalidName):
    """INBOX cannot be created, deleted, or be a rename target (RFC 3501 §6.3.3-6.3.5)."""


# --------------------------------------------------------------------------------------------------
# Modified UTF-7, RFC 3501 §5.1.3 (private: the protocol layer has its own)


def _mutf7_encode(text: str) -> str:
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            raw = "".join(pending).encode("utf-16-be", "surrogatepass")
            out.append("&" + base64.b64encode(raw).decode().rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for ch in text:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return "".join(out)


_B64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,")


def _mutf7_decode(text: str) -> str:
    """Decode; raise ``ValueError`` for anything not in canonical modified UTF-7."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if not 0x20 <= ord(ch) <= 0x7E:
            raise ValueError("non-ASCII character in modified UTF-7")
        if ch != "&":
            out.append(ch)
            i += 1
            continue
        end = text.find("-", i + 1)
        if end < 0:
            raise ValueError("unterminated modified base64")
        chunk = text[i + 1 : end]
        if not chunk:
            out.append("&")
        else:
            if not set(chunk) <= _B64_CHARS:
                raise ValueError("bad modified base64")
            b64 = chunk.replace(",", "/")
            raw = base64.b64decode(b64 + "=" * (-len(b64) % 4), validate=True)
            if len(raw) % 2:
                raise ValueError("odd UTF-16 length")
            out.append(raw.decode("utf-16-be"))
        i = end + 1
    result = "".join(out)
    if _mutf7_encode(result) != text:  # not canonical (e.g. encoded printable ASCII)
        raise ValueError("non-canonical modified UTF-7")
    return result


# --------------------------------------------------------------------------------------------------
# Helpers


def _is_control(ch: str) -> bool:
    o = ord(ch)
    return o < 0x20 or 0x7F <= o <= 0x9F


def _normalise_inbox(components: list[str]) -> list[str]:
    if components and components[0].upper() == INBOX:
        components = [INBOX, *components[1:]]
    return components


def _dir_mode(root: Path) -> int:
    return stat.S_IMODE(os.stat(root).st_mode)


def _mkdir(path: Path, mode: int) -> None:
    os.mkdir(path, mode)
    with contextlib.suppress(OSError):
        os.chmod(path, mode)  # mkdir is subject to the umask; Dovecot copies the root's mode


def ensure_maildir(path: Path, mode: int | None = None) -> None:
    """Create ``cur new tmp`` under ``path`` where missing (Dovecot does on open, Maildir++)."""
    mode = _dir_mode(path) if mode is None else mode
    for sub in MAILDIR_SUBDIRS:
        with contextlib.suppress(FileExistsError):
            _mkdir(path / sub, mode)


def _remove_tree(root: Path, path: Path) -> None:
    """Dovecot's delete: rename to ``..DOVECOT-TRASHED``, then remove it recursively."""
    trash = root / TRASH_NAME
    for _ in range(TRASH_RETRIES):
        try:
            os.rename(path, trash)
            break
        except OSError as exc:
            if isinstance(exc, FileNotFoundError) and not path.exists():
                raise MailboxNotFound(f"{path.name} does not exist") from None
            if not trash.exists():
                raise
            shutil.rmtree(trash, ignore_errors=True)  # a leftover of an earlier delete
    else:
        raise OSError(f"cannot move {path} to {trash}")
    shutil.rmtree(trash, ignore_errors=True)


class Layout(Protocol):
    """What the Maildir store needs from a folder layout."""

    root: Path
    delimiter: str

    def path_for(self, name: str) -> Path: ...

    def exists(self, name: str) -> bool: ...

    def list_folders(self) -> list[str]: ...

    def noselect_folders(self) -> list[str]: ...

    def create(self, name: str) -> Path: ...

    def delete(self, name: str) -> None: ...

    def rename(self, old: str, new: str) -> None: ...


class _BaseLayout:
    delimiter = "."

    def __init__(self, root: Path, *, utf8_names: bool = False) -> None:
        self.root = Path(root)
        self.utf8_names = utf8_names

    # -- names -------------------------------------------------------------------------------

    def split(self, name: str) -> list[str]:
        """Validate an IMAP name and return its components (INBOX normalised to upper case)."""
        if not name:
            raise InvalidMailboxName("empty name")
        if any(_is_control(c) for c in name):
            raise InvalidMailboxName("control character or NUL in name")
        if "/" in name and self.delimiter != "/":
            raise InvalidMailboxName("name must not contain '/'")
        parts = name.split(self.delimiter)
        for part in parts:
            if not part:
                raise InvalidMailboxName("empty hierarchy component")
            if part in (".", ".."):
                raise InvalidMailboxName("'.' or '..' component")
            if part.startswith("."):
                raise InvalidMailboxName("component starting with '.'")
        return _normalise_inbox(parts)

    def _encode(self, component: str) -> str:
        return component if self.utf8_names else _mutf7_encode(component)

    def _decode(self, component: str) -> str:
        if self.utf8_names:
            return component
        try:
            return _mutf7_decode(component)
        except ValueError:
            return component  # a raw UTF-8 or broken name: list it literally

    def canonical(self, name: str) -> str:
        """The normalised IMAP name (INBOX upper-cased)."""
        return self.delimiter.join(self.split(name))

    def is_inbox(self, name: str) -> bool:
        return name.upper() == INBOX

    def path_for(self, name: str) -> Path:
        raise NotImplementedError

    def exists(self, name: str) -> bool:
        """True when ``name`` is a selectable mailbox (INBOX always is)."""
        path = self.path_for(name)
        return path == self.root or (path / "cur").is_dir()

    def _check_component_bytes(self, entry: str) -> None:
        if len(entry.encode("utf-8", "surrogateescape")) > NAME_MAX:
            raise InvalidMailboxName("name too long")

    def _move_inbox_messages(self, dest: Path) -> None:
        """RENAME INBOX: move INBOX's messages (and keyword map) into ``dest``, leaving INBOX empty."""
        with UidlistLock(self.root):
            src_kw = self.root / KEYWORDS_NAME
            if src_kw.exists():
                tmp = dest / (KEYWORDS_NAME + ".lock")
                shutil.copyfile(src_kw, tmp)
                os.rename(tmp, dest / KEYWORDS_NAME)
            for sub in ("new", "cur"):
                src_dir = self.root / sub
                if not src_dir.is_dir():
                    continue
                for entry in os.listdir(src_dir):
                    if entry.startswith("."):
                        continue
                    with contextlib.suppress(FileNotFoundError):  # expunged meanwhile
                        os.rename(src_dir / entry, dest / sub / entry)
                fsync_dir(dest / sub)


class MaildirPlusPlus(_BaseLayout):
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
        return ".".join(_normalise_inbox(parts))

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
        mode = _dir_mode(self.root)
        try:
            _mkdir(path, mode)
        except FileExistsError:
            raise MailboxExists(f"{name} already exists") from None
        ensure_maildir(path, mode)
        fd = os.open(path / MAILDIRFOLDER_NAME, os.O_WRONLY | os.O_CREAT, dir_file_mode(self.root))
        os.close(fd)
        fsync_dir(self.root)
        return path

    def delete(self, name: str) -> None:
        parts = self.split(name)
        if parts == [INBOX]:
            raise InboxNotAllowed("INBOX cannot be deleted")
        path = self._find_existing(parts)
        if path is None:
            raise MailboxNotFound(f"{name} does not exist")
        _remove_tree(self.root, path)

    def rename(self, old: str, new: str) -> None:
        old_parts, new_parts = self.split(old), self.split(new)
        if new_parts == [INBOX]:
            raise MailboxExists("INBOX always exists")
        if new_parts[: len(old_parts)] == old_parts:
            raise InvalidMailboxName("cannot rename a mailbox into itself")
        if old_parts == [INBOX]:
            dest = self.create(new)
            self._move_inbox_messages(dest)
            return
        src = self._find_existing(old_parts)
        if src is None:
            raise MailboxNotFound(f"{old} does not exist")
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


class FsLayout(_BaseLayout):
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
                    parts = _normalise_inbox(parts)
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
        mode = _dir_mode(self.root)
        current = self.root
        for part in path.relative_to(self.root).parts:  # intermediate \Noselect directories
            current = current / part
            with contextlib.suppress(FileExistsError):
                _mkdir(current, mode)
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
        parts = self.split(name)
        if parts == [INBOX]:
            raise InboxNotAllowed("INBOX cannot be deleted")
        path = self._find_existing(parts)
        if path is None:
            raise MailboxNotFound(f"{name} does not exist")
        selectable = (path / "cur").is_dir()
        if not self._children(path):
            _remove_tree(self.root, path)
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
        _remove_tree(self.root, staging)

    def rename(self, old: str, new: str) -> None:
        old_parts, new_parts = self.split(old), self.split(new)
        if new_parts == [INBOX]:
            raise MailboxExists("INBOX always exists")
        if new_parts[: len(old_parts)] == old_parts:
            raise InvalidMailboxName("cannot rename a mailbox into itself")
        if old_parts == [INBOX]:
            dest = self.create(new)
            self._move_inbox_messages(dest)
            return
        src = self._find_existing(old_parts)
        if src is None:
            raise MailboxNotFound(f"{old} does not exist")
        dst = self.root.joinpath(*self._rel_for(new_parts))
        if self._find_existing(new_parts) is not None or dst.exists():
            raise MailboxExists(f"{new} already exists")
        mode = _dir_mode(self.root)
        current = self.root
        for part in dst.relative_to(self.root).parts[:-1]:
            current = current / part
            with contextlib.suppress(FileExistsError):
                _mkdir(current, mode)
        os.rename(src, dst)
        fsync_dir(dst.parent)


def make_layout(
    root: Path, kind: str = "maildir++", *, utf8_names: bool = False, mbsync_inbox_children: bool = False
) -> MaildirPlusPlus | FsLayout:
    """Build a layout from configuration: ``kind`` is ``"maildir++"`` or ``"fs"``."""
    if kind == "maildir++":
        return MaildirPlusPlus(root, utf8_names=utf8_names, mbsync_inbox_children=mbsync_inbox_children)
    if kind == "fs":
        return FsLayout(root, utf8_names=utf8_names)
    raise ValueError(f"unknown Maildir layout {kind!r} (use 'maildir++' or 'fs')")
