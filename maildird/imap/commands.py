"""Client commands as values: what the grammar produces and the handlers consume.

Every command of RFC 3501 and RFC 9051, plus the extension commands maildird speaks
(capabilities.md), is one frozen dataclass, importable from here. The grammar (``grammar.py``)
builds them from framed bytes; the session table (``session.py``) decides which are allowed in
which state; the handlers act on them. Nothing here does I/O.

Conventions:
- Mailbox names are Unicode ``str``: the grammar decodes modified UTF-7 (RFC 3501 §5.1.3), or
  takes raw UTF-8 after ``ENABLE UTF8=ACCEPT`` (RFC 6855 §3). Any case of ``INBOX`` is spelled
  ``"INBOX"`` (RFC 9051 §5.1).
- Flags are ``str`` as sent, with their backslash: ``"\\Seen"``, ``"$Forwarded"``. System flags are
  normalised to their canonical case (``\\SEEN`` -> ``\\Seen``), keywords are kept as sent.
- Sequence sets keep ``*`` as ``None`` and ``$`` (RFC 5182) as ``SequenceSet.saved``.

The values live in four modules by family, all re-exported here (callers import ``commands``):
``commands_values`` (sequence sets, FETCH items), ``commands_search`` (SEARCH keys),
``commands_session`` (``Command`` and the any/not-authenticated/authenticated commands) and
``commands_selected`` (the selected-state commands and ``Extension``).
"""

from __future__ import annotations

from maildird.imap.commands_search import (
    SearchAll,
    SearchAnd,
    SearchDate,
    SearchFlag,
    SearchHeader,
    SearchKey,
    SearchModSeq,
    SearchNot,
    SearchOr,
    SearchSet,
    SearchSize,
    SearchText,
    SearchWithin,
)
from maildird.imap.commands_selected import (
    Check,
    Close,
    Copy,
    Expunge,
    Extension,
    Fetch,
    Move,
    Search,
    Store,
    Unselect,
)
from maildird.imap.commands_session import (
    Append,
    AppendMessage,
    Authenticate,
    Capability,
    Command,
    Compress,
    Create,
    Delete,
    Enable,
    Id,
    Idle,
    List,
    Login,
    Logout,
    Namespace,
    Noop,
    QresyncParams,
    Rename,
    Select,
    StartTLS,
    Status,
    Subscribe,
    Unsubscribe,
)
from maildird.imap.commands_values import (
    SEQ_ALL,
    FetchAtt,
    FetchBinary,
    FetchBody,
    FetchItem,
    Section,
    SequenceSet,
)

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

__all__ = [
    "ANY_STATE",
    "AUTHENTICATED",
    "Append",
    "AppendMessage",
    "Authenticate",
    "Capability",
    "Check",
    "Close",
    "Command",
    "Compress",
    "Copy",
    "Create",
    "Delete",
    "Enable",
    "Expunge",
    "Extension",
    "Fetch",
    "FetchAtt",
    "FetchBinary",
    "FetchBody",
    "FetchItem",
    "Id",
    "Idle",
    "List",
    "Login",
    "Logout",
    "Move",
    "NOT_AUTHENTICATED",
    "Namespace",
    "Noop",
    "QresyncParams",
    "Rename",
    "SELECTED",
    "SEQ_ALL",
    "Search",
    "SearchAll",
    "SearchAnd",
    "SearchDate",
    "SearchFlag",
    "SearchHeader",
    "SearchKey",
    "SearchModSeq",
    "SearchNot",
    "SearchOr",
    "SearchSet",
    "SearchSize",
    "SearchText",
    "SearchWithin",
    "Section",
    "Select",
    "SequenceSet",
    "StartTLS",
    "Status",
    "Store",
    "Subscribe",
    "Unselect",
    "Unsubscribe",
]
