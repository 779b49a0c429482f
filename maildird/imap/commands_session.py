"""The commands of the any, not-authenticated and authenticated states (RFC 9051 §6.1-§6.3, with their
extensions), and ``Command``, the base of every command. Part of the command AST re-exported by
``commands``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from maildird.imap.commands_values import SequenceSet

# --------------------------------------------------------------------------------------------------
# Commands. ``tag`` is the client's tag, as sent.


@dataclass(frozen=True, slots=True)
class Command:
    """Base of all commands: never instantiated on its own."""

    tag: str


# -- any state (RFC 9051 §6.1) ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Capability(Command):
    """RFC 9051 §6.1.1."""


@dataclass(frozen=True, slots=True)
class Noop(Command):
    """RFC 9051 §6.1.2."""


@dataclass(frozen=True, slots=True)
class Logout(Command):
    """RFC 9051 §6.1.3."""


@dataclass(frozen=True, slots=True)
class Id(Command):
    """RFC 2971 §3.1: ``params`` is None for ``ID NIL``."""

    params: tuple[tuple[str, str | None], ...] | None = None


@dataclass(frozen=True, slots=True)
class Enable(Command):
    """RFC 5161 §3.1: capability names, upper-cased."""

    capabilities: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Compress(Command):
    """RFC 4978 §3: ``COMPRESS DEFLATE``; the mechanism upper-cased."""

    mechanism: str = "DEFLATE"


# -- not authenticated (RFC 9051 §6.2) -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StartTLS(Command):
    """RFC 9051 §6.2.1."""


@dataclass(frozen=True, slots=True)
class Authenticate(Command):
    """RFC 9051 §6.2.2, RFC 4959 (SASL-IR). ``initial_response`` is the decoded initial response:
    None when absent, ``b""`` when sent as ``=``. ``mechanism`` is upper-cased."""

    mechanism: str = ""
    initial_response: bytes | None = None


@dataclass(frozen=True, slots=True)
class Login(Command):
    """RFC 9051 §6.2.3. ``password`` is bytes-faithful: the grammar decodes it as UTF-8 with
    ``surrogateescape`` so no octet is lost."""

    username: str = ""
    password: str = ""


# -- authenticated (RFC 9051 §6.3) -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QresyncParams:
    """``QRESYNC (uidvalidity modseq [known-uids [(seq-match-data)]])`` (RFC 7162 §3.2.5)."""

    uidvalidity: int
    modseq: int
    known_uids: SequenceSet | None = None
    seq_match: tuple[SequenceSet, SequenceSet] | None = None


@dataclass(frozen=True, slots=True)
class Select(Command):
    """SELECT (RFC 9051 §6.3.2) or EXAMINE (``readonly``, §6.3.3), with CONDSTORE/QRESYNC modifiers."""

    mailbox: str = ""
    readonly: bool = False
    condstore: bool = False
    qresync: QresyncParams | None = None


@dataclass(frozen=True, slots=True)
class Create(Command):
    """RFC 9051 §6.3.4; ``special_use`` from ``(USE (\\Sent))`` (RFC 6154 §3)."""

    mailbox: str = ""
    special_use: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Delete(Command):
    """RFC 9051 §6.3.5."""

    mailbox: str = ""


@dataclass(frozen=True, slots=True)
class Rename(Command):
    """RFC 9051 §6.3.6."""

    old: str = ""
    new: str = ""


@dataclass(frozen=True, slots=True)
class Subscribe(Command):
    """RFC 9051 §6.3.7."""

    mailbox: str = ""


@dataclass(frozen=True, slots=True)
class Unsubscribe(Command):
    """RFC 9051 §6.3.8."""

    mailbox: str = ""


@dataclass(frozen=True, slots=True)
class List(Command):
    """LIST (RFC 9051 §6.3.9, LIST-EXTENDED RFC 5258, LIST-STATUS RFC 5819) and LSUB (``lsub``,
    RFC 3501 §6.3.9).

    ``patterns`` holds one or more mailbox patterns (``%`` and ``*`` wildcards) as decoded
    strings. ``select_options`` (upper-cased: SUBSCRIBED, REMOTE, RECURSIVEMATCH, SPECIAL-USE) and
    ``return_options`` (upper-cased: SUBSCRIBED, CHILDREN, SPECIAL-USE, and STATUS) are empty for the
    basic form; ``status_items`` holds the items of ``RETURN (STATUS (...))``.
    """

    reference: str = ""
    patterns: tuple[str, ...] = ()
    select_options: frozenset[str] = frozenset()
    return_options: frozenset[str] = frozenset()
    status_items: tuple[str, ...] = ()
    lsub: bool = False
    extended: bool = False


@dataclass(frozen=True, slots=True)
class Namespace(Command):
    """RFC 2342 / RFC 9051 §6.3.10."""


@dataclass(frozen=True, slots=True)
class Status(Command):
    """RFC 9051 §6.3.11; items upper-cased: MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE
    RECENT HIGHESTMODSEQ."""

    mailbox: str = ""
    items: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AppendMessage:
    """One message of an APPEND (RFC 9051 §6.3.12; MULTIAPPEND RFC 3502; ``~{n}`` literal8 RFC 3516)."""

    data: bytes
    flags: tuple[str, ...] = ()
    internaldate: datetime | None = None
    binary: bool = False


@dataclass(frozen=True, slots=True)
class Append(Command):
    """RFC 9051 §6.3.12 with MULTIAPPEND (RFC 3502 §6.3.11): one or more messages."""

    mailbox: str = ""
    messages: tuple[AppendMessage, ...] = ()


@dataclass(frozen=True, slots=True)
class Idle(Command):
    """RFC 2177: the session then waits for ``DONE``."""
