"""``MaildirStore``: one user's Maildir as a ``store.base.Store``.

Theory of operation:

* Folder names and directories are the layout's business (``layout.MaildirPlusPlus`` or
  ``layout.FsLayout``, maildir-format.md §2). This class adds what IMAP needs on top: LIST
  attributes, subscriptions, the uidlist of a new folder, and shared ``Folder`` objects.
* LIST (RFC 9051 §7.3.1): INBOX first, then every folder; a parent that exists only by implication
  (Maildir++ never materialises parents, §2.1) or an FS-layout directory without ``cur/`` is listed
  ``\\Noselect``, as Dovecot does; ``\\HasChildren`` / ``\\HasNoChildren`` from the names; special-use
  attributes (RFC 6154) come from the folder's name through ``SPECIAL_USE`` (overridable): the name
  decides, nothing is recorded on disk.
* CREATE makes the directory and, like Dovecot (E3a), a header-only ``dovecot-uidlist`` with the
  account's next UIDVALIDITY, under the folder's uidlist lock.
* Subscriptions: with ``subscriptions="auto"`` the ``subscriptions`` file is used when it exists and
  otherwise every mailbox counts as subscribed (mbsync/offlineimap leave no file; Thunderbird shows
  only subscribed folders); the first SUBSCRIBE/UNSUBSCRIBE then writes a file seeded with every
  mailbox. With ``"file"`` only the file counts (no file: nothing subscribed).
* ``open`` resolves the folder, refuses one whose real path lies outside the Maildir root (a symlink
  elsewhere), creates missing ``cur new tmp`` (Dovecot does so for Maildir++), and hands out a handle
  on the process-wide ``Folder`` for that path (``store.registry``); the handle's ``close`` releases it.
* Every blocking call runs in a worker thread under ``fsthreads.FS_LIMITER``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from maildird.changes import folder_key
from maildird.store.base import MailboxInfo, MailboxNotFound, PermissionDenied, Store, StoreError
from maildird.store.maildir.fsthreads import run_fs
from maildird.store.maildir.headercache import cache_path
from maildird.store.maildir.layout import INBOX, FsLayout, MaildirPlusPlus, ensure_maildir, make_layout
from maildird.store.maildir.lock import DEFAULT_TIMEOUT, UidlistLock
from maildird.store.maildir.mailbox import MaildirMailbox
from maildird.store.maildir.searchcache import cache_path as search_cache_path
from maildird.store.maildir.searchfill import fill_later
from maildird.store.maildir.sectionfile import section_path
from maildird.store.maildir.state import state_path
from maildird.store.maildir.statepack import pack_path
from maildird.store.maildir.structcache import struct_path
from maildird.store.maildir.subscriptions import read_subscriptions, update_subscriptions
from maildird.store.maildir.sync import Folder
from maildird.store.maildir.uidlist import (
    UIDLIST_NAME,
    Uidlist,
    UidlistCorrupt,
    read_header,
    read_uidlist,
    rewrite_uidlist,
)
from maildird.store.maildir.uidvalidity import next_uidvalidity
from maildird.store.registry import Registry, default_registry

SPECIAL_USE: Mapping[str, str] = {
    "sent": "\\Sent",
    "sent items": "\\Sent",
    "sent messages": "\\Sent",
    "sent mail": "\\Sent",
    "gesendet": "\\Sent",
    "gesendete objekte": "\\Sent",
    "envoyés": "\\Sent",
    "éléments envoyés": "\\Sent",
    "enviados": "\\Sent",
    "inviata": "\\Sent",
    "drafts": "\\Drafts",
    "draft": "\\Drafts",
    "entwürfe": "\\Drafts",
    "brouillons": "\\Drafts",
    "borradores": "\\Drafts",
    "bozze": "\\Drafts",
    "trash": "\\Trash",
    "deleted items": "\\Trash",
    "deleted messages": "\\Trash",
    "papierkorb": "\\Trash",
    "gelöschte objekte": "\\Trash",
    "corbeille": "\\Trash",
    "éléments supprimés": "\\Trash",
    "papelera": "\\Trash",
    "cestino": "\\Trash",
    "junk": "\\Junk",
    "spam": "\\Junk",
    "junk e-mail": "\\Junk",
    "junk email": "\\Junk",
    "bulk mail": "\\Junk",
    "courrier indésirable": "\\Junk",
    "archive": "\\Archive",
    "archives": "\\Archive",
    "archiv": "\\Archive",
    "all mail": "\\All",
    "flagged": "\\Flagged",
    "starred": "\\Flagged",
}
"""Folder name (case-insensitive, top level or directly under INBOX) -> RFC 6154 attribute."""

NOSELECT = "\\Noselect"


class SpecialUseRefused(StoreError):
    """CREATE asked for a special use the folder's name does not give (RFC 6154 §3)."""

    code = "USEATTR"


HAS_CHILDREN = "\\HasChildren"
HAS_NO_CHILDREN = "\\HasNoChildren"


class MaildirStore(Store):
    """A user's Maildir (module docstring)."""

    def __init__(
        self,
        root: Path,
        *,
        state_dir: Path,
        layout: str = "maildir++",
        special_use: Mapping[str, str] | None = None,
        subscriptions: str = "auto",
        utf8_names: bool = False,
        fsync: bool = True,
        registry: Registry[Any] | None = None,
        lock_timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.root = Path(root)
        self.state_dir = Path(state_dir)
        self.layout: MaildirPlusPlus | FsLayout = make_layout(self.root, layout, utf8_names=utf8_names)
        table = {k.lower(): v for k, v in SPECIAL_USE.items()}
        table.update({k.lower(): v for k, v in (special_use or {}).items()})
        self.special_use = table
        self.subscription_mode = subscriptions
        self.utf8_names = utf8_names
        self.fsync = fsync
        self.lock_timeout = lock_timeout
        self.registry: Registry[Any] = registry if registry is not None else default_registry()
        self._handles: set[MaildirMailbox] = set()

    @property
    def delimiter(self) -> str:
        return self.layout.delimiter

    # -- helpers ---------------------------------------------------------------------------------

    def _key(self, path: Path) -> str:
        return folder_key(path)

    def _special_use(self, name: str) -> str | None:
        lowered = name.lower()
        prefix = INBOX.lower() + self.delimiter
        if lowered.startswith(prefix):
            lowered = lowered[len(prefix) :]
        return self.special_use.get(lowered)

    def _check_inside(self, path: Path) -> None:
        real_root = os.path.realpath(self.root)
        real = os.path.realpath(path)
        if real != real_root and not real.startswith(real_root + os.sep):
            raise PermissionDenied("the mailbox's directory lies outside the Maildir")

    # -- listing ---------------------------------------------------------------------------------

    def _list(self) -> list[MailboxInfo]:
        if not self.root.is_dir():
            ensure_root(self.root)
        d = self.delimiter
        selectable = self.layout.list_folders()
        noselect = set(self.layout.noselect_folders())
        names = set(selectable) | noselect
        for name in list(names):
            parts = name.split(d)
            for i in range(1, len(parts)):
                parent = d.join(parts[:i])
                if parent not in names and parent != INBOX:
                    noselect.add(parent)
        every = set(selectable) | noselect
        parents = {d.join(n.split(d)[:i]) for n in every for i in range(1, len(n.split(d)))}
        ordered = [INBOX, *sorted(n for n in every if n != INBOX)]
        out: list[MailboxInfo] = []
        for name in ordered:
            attrs = {HAS_CHILDREN if name in parents else HAS_NO_CHILDREN}
            if name in noselect and name not in selectable:
                attrs.add(NOSELECT)
            else:
                use = self._special_use(name)
                if use is not None:
                    attrs.add(use)
            out.append(MailboxInfo(name, frozenset(attrs)))
        return out

    async def list_mailboxes(self) -> Sequence[MailboxInfo]:
        result: list[MailboxInfo] = await run_fs(self._list)
        return result

    # -- create / delete / rename ----------------------------------------------------------------

    def _create(self, name: str) -> None:
        ensure_root(self.root)
        path = self.layout.create(name)
        with UidlistLock(path, timeout=self.lock_timeout):
            if read_uidlist(path) is None:
                rewrite_uidlist(path, Uidlist.new(next_uidvalidity(self.root)), fsync=self.fsync)

    async def create(self, name: str, special_use: frozenset[str] = frozenset()) -> None:
        """Create a folder. Its NAME decides its special use (nothing is recorded), so a requested
        use the name does not imply is refused before anything is created (RFC 6154 §3: "MUST NOT
        create the mailbox" ... ``USEATTR``)."""
        if special_use:
            implied = self._special_use(self.layout.canonical(name))
            wrong = {u for u in special_use if u.lower() != (implied or "").lower()}
            if wrong:
                raise SpecialUseRefused(
                    f"{sorted(wrong)[0]} cannot be given to {name!r}; this server derives special use "
                    "from folder names"
                )
        await run_fs(self._create, name)

    def _folder_keys(self, name: str) -> tuple[str, tuple[str, ...]] | None:
        """The registry key of a folder and the key prefixes of its children (blocking)."""
        try:
            key = self._key(self.layout.path_for(name))
        except StoreError:
            return None
        # FS layout children live below the folder; Maildir++ children are siblings (.A.B for .A).
        return key, (key + (os.sep if isinstance(self.layout, FsLayout) else "."),)

    async def _forget(self, keys: tuple[str, tuple[str, ...]] | None) -> None:
        """Drop shared folders of a deleted/renamed mailbox (Trio thread: the registry is not
        thread-safe); idle ones are closed now, ones in use by their last handle."""
        if keys is None:
            return
        for folder in self.registry.forget(keys[0], child_prefixes=keys[1]):
            await _close_folder(folder)

    async def delete(self, name: str) -> None:
        def work() -> tuple[tuple[str, tuple[str, ...]] | None, str | None]:
            keys = self._folder_keys(name)
            path = self.layout.path_for(name) if keys is not None else None
            guid = _guid_of(path) if path is not None else None
            self.layout.delete(name)
            if path is not None and (path / UIDLIST_NAME).exists():
                guid = None  # the folder lives on (e.g. a \\Noselect parent): so does its state
            return keys, guid

        keys, guid = await run_fs(work)
        await self._forget(keys)
        if guid is not None:
            await run_fs(drop_state, self.state_dir, guid)

    async def rename(self, old: str, new: str) -> None:
        def work() -> tuple[str, tuple[str, ...]] | None:
            keys = None if self.layout.canonical(old) == INBOX else self._folder_keys(old)
            self.layout.rename(old, new)
            return keys

        await self._forget(await run_fs(work))

    # -- subscriptions ---------------------------------------------------------------------------

    def _subscriptions(self) -> frozenset[str]:
        names = read_subscriptions(self.root, delimiter=self.delimiter, utf8_names=self.utf8_names)
        if names is None:
            if self.subscription_mode == "file":
                return frozenset()
            return frozenset(m.name for m in self._list() if NOSELECT not in m.attributes)
        return frozenset(names)

    async def subscriptions(self) -> frozenset[str]:
        result: frozenset[str] = await run_fs(self._subscriptions)
        return result

    def _update(self, add: list[str], remove: list[str]) -> None:
        seed: list[str] = []
        if self.subscription_mode != "file" and not (self.root / "subscriptions").exists():
            seed = sorted(self._subscriptions())  # keep "everything" as it was seen
        update_subscriptions(
            self.root,
            add=[*seed, *add],
            remove=remove,
            delimiter=self.delimiter,
            utf8_names=self.utf8_names,
        )

    async def subscribe(self, name: str) -> None:
        await run_fs(self._update, [self.layout.canonical(name)], [])

    async def unsubscribe(self, name: str) -> None:
        await run_fs(self._update, [], [self.layout.canonical(name)])

    # -- open ------------------------------------------------------------------------------------

    def _resolve(self, name: str) -> tuple[str, Path, str]:
        canonical = self.layout.canonical(name)
        if canonical == INBOX:
            ensure_root(self.root)
            return canonical, self.root, self._key(self.root)
        if not self.layout.exists(canonical):
            raise MailboxNotFound(f"{name} does not exist")
        path = self.layout.path_for(canonical)
        self._check_inside(path)
        ensure_maildir(path)
        return canonical, path, self._key(path)

    async def open(self, name: str, *, readonly: bool = False) -> MaildirMailbox:
        canonical, path, key = await run_fs(self._resolve, name)
        folder = cast(
            Folder,
            self.registry.acquire(
                key,
                lambda: Folder(
                    path,
                    root=self.root,
                    state_dir=self.state_dir,
                    fsync=self.fsync,
                    lock_timeout=self.lock_timeout,
                ),
            ),
        )

        async def release(handle: MaildirMailbox) -> None:
            self._handles.discard(handle)
            for done in self.registry.release(key, folder):
                await _close_folder(done)

        handle = MaildirMailbox(folder, canonical, readonly=readonly, watch_key=key, on_close=release)
        self._handles.add(handle)
        fill_later(folder, handle)  # a large folder's search texts, in the background (searchfill)
        return handle

    async def close(self) -> None:
        for handle in list(self._handles):
            await handle.close()


async def _close_folder(folder: Folder) -> None:
    async with folder.lock:
        # In a worker thread: closing may write the sidecar's packed rows (``controlfiles.PACK_INTERVAL``).
        await run_fs(folder.close)


def ensure_root(root: Path) -> None:
    """Create the Maildir root (INBOX) with ``cur new tmp`` when missing (Dovecot autocreates INBOX)."""
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    ensure_maildir(root)


SQLITE_SIDE_FILES = ("", "-wal", "-shm", "-journal")


def _guid_of(path: Path) -> str | None:
    """The mailbox GUID from a folder's dovecot-uidlist header, or None (no file, no GUID, broken)."""
    try:
        found = read_header(path)
    except (OSError, UidlistCorrupt):
        return None
    return found[0].guid if found is not None else None


def drop_state(state_dir: Path, guid: str) -> None:
    """Remove a deleted mailbox's private files: the sidecar with its packed copy, the header, section,
    structure and search caches with their SQLite side files (DELETE, RFC 9051 §6.3.5). All are caches
    that name the mailbox by its GUID, so nothing else uses them; left behind they would only take space
    (~32 MB per 10,000 messages of the benchmark preset)."""
    sidecar = state_path(state_dir, guid)
    pack = pack_path(sidecar)
    if pack is not None:
        pack.unlink(missing_ok=True)
    headers = cache_path(sidecar)
    for base in (sidecar, headers, section_path(sidecar), struct_path(sidecar), search_cache_path(sidecar)):
        if base is None:
            continue
        for suffix in SQLITE_SIDE_FILES:
            Path(f"{base}{suffix}").unlink(missing_ok=True)
