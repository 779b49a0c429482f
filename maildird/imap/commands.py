"""Client commands as values: what the grammar produces and the handlers consume.

Every command of RFC 3501 and RFC 9051, plus the extension commands maildird speaks
(capabilities.md), is one frozen dataclass here. The grammar (``grammar.py``) builds them from
framed bytes; the session table (``session.py``) decides which are allowed in which state; the
handlers act on them. Nothing here does I/O.

Conventions:
- Mailbox names are Unicode ``str``: the grammar decodes modified UTF-7 (RFC 3501 §5.1.3), or
  takes raw UTF-8 after ``ENABLE UTF8=ACCEPT`` (RFC 6855 §3). Any case of ``INBOX`` is spelled
  ``"INBOX"`` (RFC 9051 §5.1).
- Flags are ``str`` as sent, with their backslash: ``"\\Seen"``, ``"$Forwarded"``. System flags are
  normalised to their canonical case (``\\SEEN`` -> ``\\Seen``), keywords are kept as sent.
- Sequence sets keep ``*`` as ``None`` and ``$`` (RFC 5182) as ``SequenceSet.saved``.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

# --------------------------------------------------------------------------------------------------
# Sequence sets (RFC 9051 §9 "sequence-set", RFC 5182 "$")


@dataclass(frozen=True, slots=True)
class SequenceSet:
    """A sequence set. ``ranges`` holds inclusive ``(low, high)`` pairs as sent; ``None`` is ``*``.

    ``saved`` is True for ``$`` (SEARCHRES, RFC 5182 §2.1), in which case ``ranges`` is empty.
    A range ``4:2`` is kept as sent; ``resolve`` orders it (RFC 9051 §9: "2:4 and 4:2 are equivalent").
    """

    ranges: tuple[tuple[int | None, int | None], ...]
    saved: bool = False
    _merged: dict[int, list[tuple[int, int]]] = field(
        default_factory=dict, init=False, compare=False, hash=False, repr=False
    )
    """``resolve`` results by ``largest``: SEARCH asks ``contains`` once per message."""

    def resolve(self, largest: int) -> list[tuple[int, int]]:
        """The set as sorted, disjoint, merged inclusive ranges, ``*`` replaced by ``largest``.

        Merging matters: a 64 KiB command line can repeat ``1:*`` 16,000 times, and whatever walks
        the ranges must cost no more than the mailbox, not ranges x mailbox. With ``largest == 0``
        (empty mailbox), ``*`` stands for 0 and callers find no messages.
        """
        cached = self._merged.get(largest)
        if cached is not None:
            return list(cached)
        spans = sorted(
            (min(a, b), max(a, b))
            for a, b in (
                (largest if low is None else low, largest if high is None else high)
                for low, high in self.ranges
            )
        )
        out: list[tuple[int, int]] = []
        for a, b in spans:
            if out and a <= out[-1][1] + 1:
                if b > out[-1][1]:
                    out[-1] = (out[-1][0], b)
            else:
                out.append((a, b))
        if len(self._merged) > 4:  # a set is resolved against one or two sizes in practice
            self._merged.clear()
        self._merged[largest] = out
        return list(out)

    def contains(self, number: int, largest: int) -> bool:
        """True if ``number`` lies in the set, given ``largest`` for ``*`` (a bisection)."""
        ranges = self._merged.get(largest) or self.resolve(largest)
        i = bisect.bisect_right(ranges, (number, float("inf"))) - 1
        return i >= 0 and ranges[i][0] <= number <= ranges[i][1]

    def iter_in(self, candidates: list[int], largest: int) -> Iterator[int]:
        """The members of the sorted list ``candidates`` that lie in the set, in ascending order, once each.

        Used to map a UID set onto the UIDs that exist: a UID set may name UIDs that do not exist
        (RFC 9051 §6.4.9), and ``1:4294967295`` must not be expanded number by number. The ranges
        are disjoint and sorted, so the slices come out in order and never overlap.
        """
        for a, b in self.resolve(largest):
            lo = bisect.bisect_left(candidates, a)
            hi = bisect.bisect_right(candidates, b)
            yield from candidates[lo:hi]


SEQ_ALL = SequenceSet(((1, None),))
"""``1:*``."""


# --------------------------------------------------------------------------------------------------
# FETCH items (RFC 9051 §6.4.5, RFC 3516 BINARY, RFC 7162 MODSEQ)


@dataclass(frozen=True, slots=True)
class Section:
    """A body section spec (RFC 9051 §6.4.5 ``section``).

    ``part`` is the part path (``(1, 2)`` for ``1.2``; empty for the whole message).
    ``text`` is one of None, ``"HEADER"``, ``"HEADER.FIELDS"``, ``"HEADER.FIELDS.NOT"``, ``"TEXT"``,
    ``"MIME"``; ``fields`` holds the header field names for the two FIELDS forms, upper-cased as the
    grammar reads them case-insensitively but echoed as sent (``fields_as_sent``).
    """

    part: tuple[int, ...] = ()
    text: Literal["HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME"] | None = None
    fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FetchAtt:
    """A simple FETCH item: ``ENVELOPE``, ``FLAGS``, ``INTERNALDATE``, ``RFC822.SIZE``, ``UID``,
    ``BODY`` (non-extensible structure), ``BODYSTRUCTURE``, ``RFC822``, ``RFC822.HEADER``,
    ``RFC822.TEXT``, ``MODSEQ`` (RFC 7162 §3.1.4), ``SAVEDATE`` (RFC 8514), ``EMAILID``/``THREADID``
    (RFC 8474). The macros ALL, FAST and FULL are expanded by the grammar (RFC 9051 §6.4.5)."""

    name: str


@dataclass(frozen=True, slots=True)
class FetchBody:
    """``BODY[section]<partial>`` or ``BODY.PEEK[...]`` (RFC 9051 §6.4.5).

    ``partial`` is ``(origin, count)``; the response names only the origin (RFC 3501 §7.4.2).
    """

    section: Section
    peek: bool = False
    partial: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class FetchBinary:
    """``BINARY[part]<partial>``, ``BINARY.PEEK[...]`` (RFC 3516 §4.2), ``BINARY.SIZE[part]`` (``size``)."""

    part: tuple[int, ...]
    peek: bool = False
    partial: tuple[int, int] | None = None
    size: bool = False


FetchItem = FetchAtt | FetchBody | FetchBinary


# --------------------------------------------------------------------------------------------------
# SEARCH keys (RFC 9051 §6.4.4), as a tree


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


ANY_STATE: tuple[type[Command], ...] = (Capability, Noop, Logout, Id, Enable, Compress)
NOT_AUTHENTICATED: tuple[type[Command], ...] = (StartTLS, Authenticate, Login)
AUTHENTICATED: tuple[type[Command], ...] = (
    Select,
    Create,
    Delete,
    Rename,
    Subscribe,
    Unsubscribe,
    List,
    Namespace,
    Status,
    Append,
    Idle,
)
SELECTED: tuple[type[Command], ...] = (Check, Close, Unselect, Expunge, Search, Fetch, Store, Copy, Move)
"""The RFC grammar's ``command-any``, ``command-nonauth``, ``command-auth`` and ``command-select``
groups (RFC 9051 §9). The session table in ``session.py`` is built from these; ENABLE is valid only
once authenticated (RFC 5161 §3.1), which the table says, not this grouping."""
