"""What both Maildir folder layouts share: names, modified UTF-7, directory helpers, the base class.

Theory of operation: :class:`BaseLayout` validates IMAP names and splits them into components (INBOX
normalised to upper case), encodes each component as modified UTF-7 (RFC 3501 §5.1.3, like Dovecot 2.3) or
keeps it UTF-8 (Dovecot ``:UTF-8``), and does what is the same in both layouts: INBOX is the root, a folder
exists when it has ``cur/``, RENAME INBOX moves its messages under INBOX's uidlist lock, and DELETE goes
through ``..DOVECOT-TRASHED`` (:func:`remove_tree`).  :mod:`.maildirpp` and :mod:`.fs_layout` map the
components to directories; :mod:`.layout` picks one from configuration.

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
from maildird.store.maildir.lock import UidlistLock, fsync_dir

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
    "BaseLayout",
    "InboxNotAllowed",
    "InvalidMailboxName",
    "Layout",
    "dir_mode",
    "ensure_maildir",
    "make_dir",
    "mutf7_decode",
    "mutf7_encode",
    "normalise_inbox",
    "remove_tree",
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


def mutf7_encode(text: str) -> str:
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


def mutf7_decode(text: str) -> str:
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
    if mutf7_encode(result) != text:  # not canonical (e.g. encoded printable ASCII)
        raise ValueError("non-canonical modified UTF-7")
    return result


# --------------------------------------------------------------------------------------------------
# Helpers


def _is_control(ch: str) -> bool:
    o = ord(ch)
    return o < 0x20 or 0x7F <= o <= 0x9F


def normalise_inbox(components: list[str]) -> list[str]:
    if components and components[0].upper() == INBOX:
        components = [INBOX, *components[1:]]
    return components


def dir_mode(root: Path) -> int:
    return stat.S_IMODE(os.stat(root).st_mode)


def make_dir(path: Path, mode: int) -> None:
    os.mkdir(path, mode)
    with contextlib.suppress(OSError):
        os.chmod(path, mode)  # mkdir is subject to the umask; Dovecot copies the root's mode


def ensure_maildir(path: Path, mode: int | None = None) -> None:
    """Create ``cur new tmp`` under ``path`` where missing (Dovecot does on open, Maildir++)."""
    mode = dir_mode(path) if mode is None else mode
    for sub in MAILDIR_SUBDIRS:
        with contextlib.suppress(FileExistsError):
            make_dir(path / sub, mode)


def remove_tree(root: Path, path: Path) -> None:
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


class BaseLayout:
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
        return normalise_inbox(parts)

    def _encode(self, component: str) -> str:
        return component if self.utf8_names else mutf7_encode(component)

    def _decode(self, component: str) -> str:
        if self.utf8_names:
            return component
        try:
            return mutf7_decode(component)
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

    def create(self, name: str) -> Path:
        raise NotImplementedError

    def _find_existing(self, parts: list[str]) -> Path | None:
        raise NotImplementedError

    def _begin_delete(self, name: str) -> Path:
        """The checks every layout's DELETE starts with (RFC 9051 §6.3.4): INBOX cannot be deleted, the
        mailbox must exist. Returns its path."""
        parts = self.split(name)
        if parts == [INBOX]:
            raise InboxNotAllowed("INBOX cannot be deleted")
        path = self._find_existing(parts)
        if path is None:
            raise MailboxNotFound(f"{name} does not exist")
        return path

    def _begin_rename(self, old: str, new: str) -> tuple[list[str], list[str], Path] | None:
        """The checks every layout's RENAME starts with (RFC 9051 §6.3.6): ``(old parts, new parts,
        source path)``, or None when ``old`` is INBOX, whose special rename is done here (a new
        mailbox receives INBOX's messages; INBOX stays, empty)."""
        old_parts, new_parts = self.split(old), self.split(new)
        if new_parts == [INBOX]:
            raise MailboxExists("INBOX always exists")
        if new_parts[: len(old_parts)] == old_parts:
            raise InvalidMailboxName("cannot rename a mailbox into itself")
        if old_parts == [INBOX]:
            self._move_inbox_messages(self.create(new))
            return None
        src = self._find_existing(old_parts)
        if src is None:
            raise MailboxNotFound(f"{old} does not exist")
        return old_parts, new_parts, src

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
