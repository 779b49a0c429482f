"""The store interface: what the protocol layer may ask of a message store.

The protocol never touches files (the seed's split between Net::IMAP::Server and its
model_class). Handlers speak to a per-user ``Store`` and the ``Mailbox`` objects it opens, using
plain Python values only: UIDs are ``int``, flags are ``str`` (``"\\Seen"``, ``"$Junk"``),
mailbox names are Unicode ``str`` with the store's ``delimiter``, times are aware ``datetime``.
Another backend (an in-memory store for tests, a plug-in) implements these two protocols and
nothing in ``maildird.imap`` or ``maildird.handlers`` changes.

Errors are typed (``StoreError`` subclasses). Each carries the RFC 5530 response code the protocol
answers with, so the mapping to ``NO [CODE]`` lives in exactly one place (the handlers' error
wrapper reads ``code``).

``\\Recent`` is not a stored flag: the mailbox reports which UIDs a snapshot call *claimed*
(moved from new/ to cur/ on a read-write open), and the selected view of the one connection that
made that call shows them as recent (RFC 3501 §2.3.2).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

FlagOp = Literal["replace", "add", "remove"]

SYSTEM_FLAGS: frozenset[str] = frozenset({"\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"})
"""The permanent system flags (RFC 9051 §2.3.2). ``\\Recent`` is session state, never stored."""


# --------------------------------------------------------------------------------------------------
# Values


@dataclass(frozen=True, slots=True)
class MessageInfo:
    """What a snapshot knows of one message without reading its file.

    ``size`` is RFC822.SIZE: the octet count of the message in CRLF form (RFC 9051 §6.4.5).
    ``internaldate`` is the file's mtime (maildir-format.md §1.8). ``modseq`` is the message's
    mod-sequence (RFC 7162 §3.1), always >= 1.
    """

    uid: int
    flags: frozenset[str]
    size: int
    internaldate: datetime
    modseq: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A consistent picture of a mailbox at one moment.

    ``messages`` is in ascending UID order. ``keywords`` is every keyword the mailbox defines
    (for the FLAGS response); ``can_create_keywords`` says whether ``\\*`` belongs in
    PERMANENTFLAGS (false once all 26 Maildir letters are taken, maildir-format.md §4.2).
    ``recent`` holds the UIDs this very ``snapshot(claim_recent=True)`` call claimed; it is empty
    for every other call. ``version`` grows whenever anything in the mailbox changed.
    ``highestmodseq`` is >= every message's modseq and >= 1 (RFC 7162 §3.1.2.1).
    """

    uidvalidity: int
    uidnext: int
    highestmodseq: int
    messages: tuple[MessageInfo, ...]
    keywords: frozenset[str]
    can_create_keywords: bool
    recent: frozenset[int]
    version: int


@dataclass(frozen=True, slots=True)
class MailboxInfo:
    """One entry of ``Store.list_mailboxes``.

    ``attributes`` holds RFC 9051 §7.3.1 name attributes the store knows: ``\\Noselect`` or
    ``\\NonExistent`` (a parent that exists only by implication), ``\\HasChildren`` /
    ``\\HasNoChildren``, and special-use attributes (RFC 6154: ``\\Sent``, ``\\Drafts``,
    ``\\Trash``, ``\\Junk``, ``\\Archive``, ``\\All``, ``\\Flagged``). ``\\Subscribed`` is added
    by the handler from ``Store.subscriptions``.
    """

    name: str
    attributes: frozenset[str]


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message to append: raw octets (CRLF or LF), flags (no ``\\Recent``), INTERNALDATE
    (None means now)."""

    data: bytes
    flags: frozenset[str] = frozenset()
    internaldate: datetime | None = None


@dataclass(frozen=True, slots=True)
class StoreResult:
    """The outcome of ``Mailbox.store_flags``.

    ``changed`` has the new state of every message whose flags (and so modseq) changed.
    ``failed`` lists UIDs refused by UNCHANGEDSINCE (RFC 7162 §3.1.3, reported as ``[MODIFIED]``).
    """

    changed: tuple[MessageInfo, ...]
    failed: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class CopyResult:
    """UIDPLUS data (RFC 4315 §3): the destination's UIDVALIDITY and (source, destination) UID pairs
    in source UID order."""

    uidvalidity: int
    pairs: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class AppendResult:
    """UIDPLUS ``APPENDUID`` data (RFC 4315 §3): UIDVALIDITY and the new UIDs in order."""

    uidvalidity: int
    uids: tuple[int, ...]


# --------------------------------------------------------------------------------------------------
# Errors, each with its RFC 5530 code


class StoreError(Exception):
    """Base of store errors. ``code`` is the RFC 5530 response code for the tagged NO."""

    code: str = "SERVERBUG"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MailboxNotFound(StoreError):
    code = "NONEXISTENT"


class MailboxExists(StoreError):
    code = "ALREADYEXISTS"


class PermissionDenied(StoreError):
    code = "NOPERM"


class MailboxInUse(StoreError):
    """A lock held by another live process did not go away in time (maildir-format.md §3.4)."""

    code = "INUSE"


class OverQuota(StoreError):
    code = "OVERQUOTA"


class Corrupt(StoreError):
    """On-disk state could not be read or repaired."""

    code = "CORRUPTION"


class InvalidName(StoreError):
    """A mailbox name the store refuses (``/``, ``..``, NUL, control characters...)."""

    code = "CANNOT"


class LimitExceeded(StoreError):
    """A store limit, e.g. the 27th keyword of a Maildir folder (maildir-format.md §4.2)."""

    code = "LIMIT"


class MessageGone(StoreError):
    """The message was expunged by someone else meanwhile (RFC 5530 ``EXPUNGEISSUED``)."""

    code = "EXPUNGEISSUED"


class NoSpace(StoreError):
    """The disk is full: the operation changed nothing."""

    code = "OVERQUOTA"


# --------------------------------------------------------------------------------------------------
# Protocols


class Mailbox(Protocol):
    """One opened mailbox. Several connections may hold Mailbox objects for the same folder;
    a backend may share one object between them.

    ``watch_key`` names the folder for the change hub (``maildird.changes``): a connection waits for
    that key's version to move, then calls ``snapshot()``.
    """

    @property
    def name(self) -> str: ...

    @property
    def readonly(self) -> bool: ...

    @property
    def watch_key(self) -> str: ...

    async def snapshot(self, *, claim_recent: bool = False) -> Snapshot:
        """Rescan as needed and return the current state. With ``claim_recent`` (a read-write SELECT,
        and every later refresh of that session), files found in new/ are moved to cur/ and their UIDs
        returned in ``Snapshot.recent``."""
        ...

    async def append(self, messages: Sequence[NewMessage]) -> AppendResult:
        """Add messages atomically: all are stored or none (MULTIAPPEND, RFC 3502 §6.3.11)."""
        ...

    async def store_flags(
        self, uids: Sequence[int], op: FlagOp, flags: frozenset[str], *, unchanged_since: int | None = None
    ) -> StoreResult:
        """Change flags of existing messages (unknown UIDs are ignored)."""
        ...

    async def expunge(self, uids: Sequence[int] | None = None) -> tuple[int, ...]:
        """Remove messages flagged ``\\Deleted`` (all of them, or those among ``uids`` for UID
        EXPUNGE, RFC 4315 §2.1). Returns the removed UIDs, ascending."""
        ...

    async def copy(self, uids: Sequence[int], dest: Mailbox) -> CopyResult:
        """Copy messages with their flags and INTERNALDATE into ``dest`` (RFC 9051 §6.4.7)."""
        ...

    async def move(self, uids: Sequence[int], dest: Mailbox) -> CopyResult:
        """Move messages into ``dest`` (RFC 6851): afterwards they are gone from this mailbox."""
        ...

    async def read_message(self, uid: int) -> bytes:
        """The message's octets as stored (line endings as on disk). Raises ``MessageGone``."""
        ...

    async def expunged_since(self, modseq: int) -> tuple[int, ...] | None:
        """UIDs expunged after ``modseq`` (QRESYNC ``VANISHED (EARLIER)``, RFC 7162 §3.2.5.2),
        or None if that history is no longer known (the caller then reports every missing UID)."""
        ...

    async def close(self) -> None:
        """Release what this handle holds. The mailbox stays on disk."""
        ...


class Store(Protocol):
    """One user's mail. ``delimiter`` is the hierarchy delimiter (``.`` for Maildir++)."""

    @property
    def delimiter(self) -> str: ...

    async def list_mailboxes(self) -> Sequence[MailboxInfo]:
        """Every mailbox, INBOX included, with implied parents marked ``\\Noselect``; unordered."""
        ...

    async def create(self, name: str, special_use: frozenset[str] = frozenset()) -> None: ...

    async def delete(self, name: str) -> None: ...

    async def rename(self, old: str, new: str) -> None:
        """Rename with children; renaming INBOX moves its messages (RFC 9051 §6.3.6)."""
        ...

    async def subscriptions(self) -> frozenset[str]:
        """Subscribed names. A store with no subscription file reports every mailbox subscribed
        (mbsync and offlineimap leave none, and Thunderbird shows only subscribed folders)."""
        ...

    async def subscribe(self, name: str) -> None: ...

    async def unsubscribe(self, name: str) -> None: ...

    async def open(self, name: str, *, readonly: bool = False) -> Mailbox:
        """Open a mailbox; raises ``MailboxNotFound`` for a name that is not selectable."""
        ...

    async def close(self) -> None: ...
