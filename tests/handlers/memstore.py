"""An in-memory ``store.base.Store``: the handlers' test double, and the plug-in example.

Everything the protocols in ``maildird/store/base.py`` promise is kept: UIDs ascending and never
reused, modseqs growing on every change, \\Recent claimed once by a read-write snapshot, an expunge
log for QRESYNC, 26 keywords per mailbox at most, atomic multi-append, implied parents listed as
\\Noselect. Several ``MemMailbox`` handles of one folder share the folder, as the Maildir registry does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from maildird.message.parse import header_block
from maildird.store.base import (
    SYSTEM_FLAGS,
    AppendResult,
    CopyResult,
    FlagOp,
    LimitExceeded,
    MailboxExists,
    MailboxInfo,
    MailboxNotFound,
    MessageGone,
    MessageInfo,
    NewMessage,
    Snapshot,
    StoreResult,
)

MAX_KEYWORDS = 26
SPECIAL = {
    "Sent": "\\Sent",
    "Drafts": "\\Drafts",
    "Trash": "\\Trash",
    "Junk": "\\Junk",
    "Archive": "\\Archive",
}


@dataclass
class MemMessage:
    uid: int
    data: bytes
    flags: frozenset[str]
    internaldate: datetime
    modseq: int


@dataclass
class Folder:
    uidvalidity: int
    uidnext: int = 1
    modseq: int = 1
    messages: dict[int, MemMessage] = field(default_factory=dict)
    keywords: set[str] = field(default_factory=set)
    unclaimed: set[int] = field(default_factory=set)
    expunge_log: list[tuple[int, int]] = field(default_factory=list)
    version: int = 0
    special_use: frozenset[str] = frozenset()
    deleted: bool = False

    def bump(self) -> int:
        self.modseq += 1
        self.version += 1
        return self.modseq

    def add(self, data: bytes, flags: frozenset[str], when: datetime | None) -> int:
        kws = {f for f in flags if not f.startswith("\\")}
        if len(self.keywords | kws) > MAX_KEYWORDS:
            raise LimitExceeded("Too many keywords in this mailbox.")
        self.keywords |= kws
        uid = self.uidnext
        self.uidnext += 1
        self.messages[uid] = MemMessage(uid, data, flags, when or datetime.now(UTC), self.bump())
        self.unclaimed.add(uid)
        return uid

    def info(self, m: MemMessage) -> MessageInfo:
        size = len(m.data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
        return MessageInfo(m.uid, m.flags, size, m.internaldate, m.modseq)

    def remove(self, uids: Sequence[int]) -> tuple[int, ...]:
        gone = tuple(sorted(u for u in uids if u in self.messages))
        for u in gone:
            del self.messages[u]
            self.unclaimed.discard(u)
            self.expunge_log.append((self.bump(), u))
        return gone


class MemMailbox:
    def __init__(self, name: str, folder: Folder, readonly: bool) -> None:
        self._name = name
        self.folder = folder
        self._readonly = readonly
        self.closed = False

    @property
    def name(self) -> str:
        return self._name

    @property
    def readonly(self) -> bool:
        return self._readonly

    @property
    def watch_key(self) -> str:
        return f"mem:{id(self.folder)}"

    async def snapshot(self, *, claim_recent: bool = False) -> Snapshot:
        f = self.folder
        if f.deleted:
            raise MailboxNotFound(f"{self._name} no longer exists")
        recent: frozenset[int] = frozenset()
        if claim_recent and not self._readonly:
            recent = frozenset(f.unclaimed)
            f.unclaimed.clear()
        msgs = tuple(f.info(f.messages[u]) for u in sorted(f.messages))
        return Snapshot(
            uidvalidity=f.uidvalidity,
            uidnext=f.uidnext,
            highestmodseq=f.modseq,
            messages=msgs,
            keywords=frozenset(f.keywords),
            can_create_keywords=len(f.keywords) < MAX_KEYWORDS,
            recent=recent,
            version=f.version,
        )

    async def append(self, messages: Sequence[NewMessage]) -> AppendResult:
        f = self.folder
        kws = {k for m in messages for k in m.flags if not k.startswith("\\")}
        if len(f.keywords | kws) > MAX_KEYWORDS:
            raise LimitExceeded("Too many keywords in this mailbox.")
        uids = tuple(f.add(m.data, m.flags, m.internaldate) for m in messages)
        return AppendResult(f.uidvalidity, uids)

    async def store_flags(
        self, uids: Sequence[int], op: FlagOp, flags: frozenset[str], *, unchanged_since: int | None = None
    ) -> StoreResult:
        f = self.folder
        if op != "remove":
            kws = {k for k in flags if not k.startswith("\\")}
            if len(f.keywords | kws) > MAX_KEYWORDS:
                raise LimitExceeded("Too many keywords in this mailbox.")
            f.keywords |= kws
        changed: list[MessageInfo] = []
        failed: list[int] = []
        for u in uids:
            m = f.messages.get(u)
            if m is None:
                continue
            if unchanged_since is not None and m.modseq > unchanged_since:
                failed.append(u)
                continue
            new = flags if op == "replace" else (m.flags | flags if op == "add" else m.flags - flags)
            if new != m.flags:
                m.flags = frozenset(new)
                m.modseq = f.bump()
                changed.append(f.info(m))
        return StoreResult(tuple(changed), tuple(failed))

    async def expunge(self, uids: Sequence[int] | None = None) -> tuple[int, ...]:
        f = self.folder
        pool = f.messages.keys() if uids is None else [u for u in uids if u in f.messages]
        return f.remove([u for u in pool if "\\Deleted" in f.messages[u].flags])

    async def copy(self, uids: Sequence[int], dest: MemMailbox) -> CopyResult:  # type: ignore[override]
        f = self.folder
        pairs = []
        for u in sorted(uids):
            m = f.messages.get(u)
            if m is None:
                raise MessageGone(f"message {u} was expunged")
            pairs.append((u, dest.folder.add(m.data, m.flags, m.internaldate)))
        return CopyResult(dest.folder.uidvalidity, tuple(pairs))

    async def move(self, uids: Sequence[int], dest: MemMailbox) -> CopyResult:  # type: ignore[override]
        result = await self.copy(uids, dest)
        self.folder.remove([p[0] for p in result.pairs])
        return result

    async def read_message(self, uid: int) -> bytes:
        m = self.folder.messages.get(uid)
        if m is None:
            raise MessageGone(f"message {uid} was expunged")
        return m.data

    async def header_texts(
        self, fields: Sequence[str], uids: Sequence[int], recipe: Any
    ) -> dict[str, dict[int, str | None]]:
        """SEARCH's header texts (``store.maildir.searchcache``'s contract), derived on every call:
        header SEARCHes over this store take the handler's cached-texts path. Empty and gone
        messages are left out (the handler decides them from their octets)."""
        blocks = {u: header_block(m.data) for u in uids if (m := self.folder.messages.get(u)) is not None}
        found: dict[str, dict[int, str | None]] = recipe.derive(
            {u: b for u, b in blocks.items() if b}, fields
        )
        return found

    async def expunged_since(self, modseq: int) -> tuple[int, ...] | None:
        return tuple(sorted(u for ms, u in self.folder.expunge_log if ms > modseq))

    async def close(self) -> None:
        self.closed = True


class MemStore:
    """One user's mailboxes in memory. ``subscribed`` None means "no subscription file"."""

    def __init__(self) -> None:
        self.folders: dict[str, Folder] = {}
        self.subscribed: set[str] | None = None
        self._next_validity = 1000
        self.create_sync("INBOX")

    @property
    def delimiter(self) -> str:
        return "."

    def create_sync(self, name: str, special_use: frozenset[str] = frozenset()) -> Folder:
        self._next_validity += 1
        folder = Folder(self._next_validity, special_use=special_use)
        self.folders[name] = folder
        return folder

    def add(
        self, name: str, data: bytes, flags: frozenset[str] = frozenset(), when: datetime | None = None
    ) -> int:
        """Deliver a message as the MDA would (lands in new/, so the next SELECT claims it)."""
        return self.folders[name].add(data, flags, when)

    async def list_mailboxes(self) -> Sequence[MailboxInfo]:
        out: dict[str, set[str]] = {}
        for name, folder in self.folders.items():
            attrs = set(folder.special_use)
            if not attrs and name in SPECIAL:
                attrs.add(SPECIAL[name])
            out[name] = attrs
            parts = name.split(".")
            for i in range(1, len(parts)):
                out.setdefault(".".join(parts[:i]), {"\\Noselect"})
        return [MailboxInfo(n, frozenset(a)) for n, a in out.items()]

    async def create(self, name: str, special_use: frozenset[str] = frozenset()) -> None:
        if name in self.folders:
            raise MailboxExists(f"{name} exists")
        self.create_sync(name, special_use)

    async def delete(self, name: str) -> None:
        if name not in self.folders:
            raise MailboxNotFound(f"{name} does not exist")
        self.folders.pop(name).deleted = True

    async def rename(self, old: str, new: str) -> None:
        if old not in self.folders:
            raise MailboxNotFound(f"{old} does not exist")
        if new in self.folders:
            raise MailboxExists(f"{new} exists")
        if old == "INBOX":
            src = self.folders["INBOX"]
            dest = self.create_sync(new)
            for m in sorted(src.messages.values(), key=lambda m: m.uid):
                dest.add(m.data, m.flags, m.internaldate)
            src.remove(list(src.messages))
            return
        for name in [n for n in self.folders if n == old or n.startswith(old + ".")]:
            self.folders[new + name[len(old) :]] = self.folders.pop(name)

    async def subscriptions(self) -> frozenset[str]:
        if self.subscribed is None:
            return frozenset(self.folders)
        return frozenset(self.subscribed)

    async def subscribe(self, name: str) -> None:
        if self.subscribed is None:
            self.subscribed = set(self.folders)
        self.subscribed.add(name)

    async def unsubscribe(self, name: str) -> None:
        if self.subscribed is None:
            self.subscribed = set(self.folders)
        self.subscribed.discard(name)

    async def open(self, name: str, *, readonly: bool = False) -> MemMailbox:
        folder = self.folders.get(name)
        if folder is None:
            raise MailboxNotFound(f"{name} does not exist")
        return MemMailbox(name, folder, readonly)

    async def close(self) -> None:
        pass


__all__ = ["SYSTEM_FLAGS", "Folder", "MemMailbox", "MemStore"]
