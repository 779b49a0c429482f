"""SEARCH keys (RFC 9051 §6.4.4) as a tree, with MODSEQ (RFC 7162 §3.1.5) and OLDER/YOUNGER (RFC 5032).
Part of the command AST re-exported by ``commands``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from maildird.imap.commands_values import SequenceSet


@dataclass(frozen=True, slots=True)
class SearchAll:
    """``ALL``."""


@dataclass(frozen=True, slots=True)
class SearchFlag:
    """A flag test: ``SEEN`` is ``SearchFlag("\\Seen", True)``, ``UNSEEN`` is ``SearchFlag("\\Seen", False)``;
    ``KEYWORD $Junk`` is ``SearchFlag("$Junk", True)``. ``RECENT`` uses ``"\\Recent"``. ``NEW`` is
    ``SearchAnd((SearchFlag("\\Recent", True), SearchFlag("\\Seen", False)))`` and ``OLD`` is
    ``SearchFlag("\\Recent", False)``."""

    flag: str
    present: bool = True


@dataclass(frozen=True, slots=True)
class SearchHeader:
    """``HEADER field value``; FROM/TO/CC/BCC/SUBJECT become ``SearchHeader("FROM", value)`` etc.
    An empty value matches every message that has the field (RFC 9051 §6.4.4)."""

    field: str
    value: str


@dataclass(frozen=True, slots=True)
class SearchText:
    """``BODY value`` (``body_only``) or ``TEXT value`` (header and body)."""

    value: str
    body_only: bool = False


@dataclass(frozen=True, slots=True)
class SearchDate:
    """``BEFORE/ON/SINCE`` (internal date) and ``SENTBEFORE/SENTON/SENTSINCE`` (``sent``)."""

    op: Literal["before", "on", "since"]
    when: date
    sent: bool = False


@dataclass(frozen=True, slots=True)
class SearchSize:
    """``LARGER n`` / ``SMALLER n`` on RFC822.SIZE."""

    larger: bool
    size: int


@dataclass(frozen=True, slots=True)
class SearchSet:
    """A bare sequence set, or ``UID set`` (``uid``)."""

    set: SequenceSet
    uid: bool = False


@dataclass(frozen=True, slots=True)
class SearchModSeq:
    """``MODSEQ [entry-name entry-type] n`` (RFC 7162 §3.1.5); the entry is kept but not used."""

    modseq: int
    entry: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class SearchWithin:
    """``OLDER n`` / ``YOUNGER n`` (RFC 5032), seconds against INTERNALDATE."""

    older: bool
    seconds: int


@dataclass(frozen=True, slots=True)
class SearchNot:
    key: SearchKey


@dataclass(frozen=True, slots=True)
class SearchOr:
    left: SearchKey
    right: SearchKey


@dataclass(frozen=True, slots=True)
class SearchAnd:
    """A parenthesised list, or the top-level list of keys (all must match)."""

    keys: tuple[SearchKey, ...]


SearchKey = (
    SearchAll
    | SearchFlag
    | SearchHeader
    | SearchText
    | SearchDate
    | SearchSize
    | SearchSet
    | SearchModSeq
    | SearchWithin
    | SearchNot
    | SearchOr
    | SearchAnd
)
