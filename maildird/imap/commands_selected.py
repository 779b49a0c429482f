"""The commands of the selected state (RFC 9051 §6.4, with UID EXPUNGE, ESEARCH, CONDSTORE/QRESYNC and
MOVE), and ``Extension``, a plug-in's command. Part of the command AST re-exported by ``commands``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from maildird.imap.commands_search import SearchAll, SearchKey
from maildird.imap.commands_session import Command
from maildird.imap.commands_values import SEQ_ALL, FetchItem, SequenceSet

# -- selected (RFC 9051 §6.4) ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Check(Command):
    """RFC 3501 §6.4.1 (removed in RFC 9051; kept as NOOP)."""


@dataclass(frozen=True, slots=True)
class Close(Command):
    """RFC 9051 §6.4.1."""


@dataclass(frozen=True, slots=True)
class Unselect(Command):
    """RFC 3691 / RFC 9051 §6.4.2."""


@dataclass(frozen=True, slots=True)
class Expunge(Command):
    """EXPUNGE (RFC 9051 §6.4.3) or ``UID EXPUNGE set`` (RFC 4315 §2.1, ``uids`` not None)."""

    uids: SequenceSet | None = None


@dataclass(frozen=True, slots=True)
class Search(Command):
    """SEARCH / UID SEARCH (RFC 9051 §6.4.4), with ESEARCH ``RETURN (...)`` (RFC 4731 §3.1).

    ``return_options`` is None for the plain form (untagged ``* SEARCH``), otherwise a tuple of
    upper-cased options (MIN MAX ALL COUNT SAVE); an empty ``RETURN ()`` means ``ALL``.
    ``charset`` is upper-cased or None.
    """

    key: SearchKey = field(default_factory=SearchAll)
    uid: bool = False
    charset: str | None = None
    return_options: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Fetch(Command):
    """FETCH / UID FETCH (RFC 9051 §6.4.5), with CHANGEDSINCE and VANISHED (RFC 7162 §3.1.4, §3.2.6).

    For UID FETCH the grammar does not add UID to ``items``; the handler always sends it first.
    """

    set: SequenceSet = SEQ_ALL
    items: tuple[FetchItem, ...] = ()
    uid: bool = False
    changedsince: int | None = None
    vanished: bool = False


@dataclass(frozen=True, slots=True)
class Store(Command):
    """STORE / UID STORE (RFC 9051 §6.4.6), with UNCHANGEDSINCE (RFC 7162 §3.1.3).

    ``mode`` is ``"replace"`` (FLAGS), ``"add"`` (+FLAGS) or ``"remove"`` (-FLAGS).
    """

    set: SequenceSet = SEQ_ALL
    mode: Literal["replace", "add", "remove"] = "replace"
    silent: bool = False
    flags: tuple[str, ...] = ()
    uid: bool = False
    unchangedsince: int | None = None


@dataclass(frozen=True, slots=True)
class Copy(Command):
    """COPY / UID COPY (RFC 9051 §6.4.7)."""

    set: SequenceSet = SEQ_ALL
    mailbox: str = ""
    uid: bool = False


@dataclass(frozen=True, slots=True)
class Move(Command):
    """MOVE / UID MOVE (RFC 6851 §3.1)."""

    set: SequenceSet = SEQ_ALL
    mailbox: str = ""
    uid: bool = False


@dataclass(frozen=True, slots=True)
class Extension(Command):
    """A command registered by a plug-in (the seed's ``add_command``): the name upper-cased and the
    rest of the line as raw bytes, literals inlined; the plug-in parses its own arguments."""

    name: str = ""
    arguments: bytes = b""
