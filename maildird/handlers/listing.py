"""LIST and LSUB (RFC 9051 §6.3.9, RFC 3501 §6.3.8-§6.3.9, LIST-EXTENDED RFC 5258, LIST-STATUS
RFC 5819, SPECIAL-USE RFC 6154, CHILDREN RFC 3348).

Theory of operation
-------------------
The reference and each pattern are joined (RFC 3501 §6.3.8: "the reference name and mailbox name
are interpreted ... as if concatenated") and matched by a bit-parallel automaton (``Pattern``):
``*`` matches anything, ``%`` anything but the hierarchy delimiter, in time linear in the name.
``INBOX`` is matched without regard to case (RFC 9051 §5.1). The store lists every mailbox with
implied parents marked ``\\Noselect``; the children attributes are computed here from the full name
list, so they are right whatever the store says. ``LIST "" ""`` answers the delimiter and root
(RFC 9051 §6.3.9).

Basic LIST sends special-use attributes too (Dovecot does; Thunderbird reads them from plain LIST).
LSUB keeps RFC 3501 semantics, with Dovecot's ``tb-lsub-flags`` behaviour: subscribed names that are
not selectable carry ``\\Noselect``, and with ``%`` a parent of a deeper subscribed name is returned as
``\\Noselect`` when it is not subscribed itself.
"""

from __future__ import annotations

from collections.abc import Iterable

from maildird.handlers.context import Context
from maildird.handlers.mailboxes import INBOX, require_store, status_items
from maildird.imap import commands as cmd
from maildird.imap.errors import Bad
from maildird.imap.responses import Atom, MailboxName, Tagged, Untagged, Value
from maildird.store.base import StoreError

NOSELECT = "\\Noselect"
NONEXISTENT = "\\NonExistent"
SUBSCRIBED = "\\Subscribed"
HAS_CHILDREN = "\\HasChildren"
HAS_NO_CHILDREN = "\\HasNoChildren"
SPECIAL_USE = frozenset({"\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash"})
MAX_PATTERNS = 100
"""Patterns in one LIST (RFC 5258 allows a list); each costs a pass over every mailbox name."""

_ORDER = (
    NOSELECT,
    NONEXISTENT,
    "\\Noinferiors",
    "\\Marked",
    "\\Unmarked",
    SUBSCRIBED,
    HAS_CHILDREN,
    HAS_NO_CHILDREN,
)


class Pattern:
    """A LIST pattern (RFC 9051 §6.3.9): ``*`` matches anything, ``%`` anything but the delimiter.

    Matching simulates the pattern as an automaton with one bit per position (shift-and), so its
    cost is linear in the name whatever the client sends: a backtracking regex would take
    exponential time on ``*a*a*a*...b`` (a denial of service).
    """

    __slots__ = ("_accept", "_delimiter", "_literal", "_pct", "_star", "_wild")

    def __init__(self, full: str, delimiter: str) -> None:
        tokens: list[str] = []
        for ch in full:
            if ch in "*%" and tokens and tokens[-1] in "*%":
                if ch == "*":
                    tokens[-1] = "*"  # "%*", "*%" and "**" all mean "*"
                continue
            tokens.append(ch)
        self._literal: dict[str, int] = {}
        self._star = self._pct = 0
        for i, t in enumerate(tokens):
            if t == "*":
                self._star |= 1 << i
            elif t == "%":
                self._pct |= 1 << i
            else:
                self._literal[t] = self._literal.get(t, 0) | 1 << i
        self._wild = self._star | self._pct
        self._accept = 1 << len(tokens)
        self._delimiter = delimiter

    def _closure(self, states: int) -> int:
        # A wildcard may match nothing. Wildcards are never adjacent after collapsing, so one
        # step covers every chain.
        return states | (states & self._wild) << 1

    def fullmatch(self, name: str) -> bool:
        states = self._closure(1)
        for ch in name:
            nxt = (states & self._literal.get(ch, 0)) << 1 | states & self._star
            if ch != self._delimiter:
                nxt |= states & self._pct
            states = self._closure(nxt)
            if not states:
                return False
        return bool(states & self._accept)


def compile_pattern(reference: str, pattern: str, delimiter: str) -> Pattern:
    """The matcher for ``reference + pattern``; a leading INBOX is matched without regard to case."""
    full = reference + pattern
    if full[:5].upper() == INBOX and (len(full) == 5 or full[5] in (delimiter, "*", "%")):
        full = INBOX + full[5:]
    return Pattern(full, delimiter)


def _matches(patterns: list[Pattern], name: str) -> bool:
    return any(p.fullmatch(name) for p in patterns)


def _ancestors(name: str, delimiter: str) -> Iterable[str]:
    parts = name.split(delimiter)
    for i in range(1, len(parts)):
        yield delimiter.join(parts[:i])


def _sorted_names(names: Iterable[str]) -> list[str]:
    return sorted(names, key=lambda n: (n != INBOX, n))


def _attr_atoms(attrs: Iterable[str]) -> tuple[Atom, ...]:
    attrs = set(attrs)
    head = [a for a in _ORDER if a in attrs]
    return tuple(Atom(a) for a in head + sorted(attrs - set(head)))


async def list_entry(ctx: Context, name: str) -> Untagged:
    """``* LIST (attributes) "." name`` for one existing mailbox: what SELECT sends under IMAP4rev2
    (RFC 9051 §6.3.2: "The server MUST return a LIST response with the mailbox name")."""
    store = require_store(ctx)
    delim = store.delimiter
    attrs: set[str] = set()
    children = False
    for info in await store.list_mailboxes():
        if info.name == name:
            attrs = set(info.attributes) - {HAS_CHILDREN, HAS_NO_CHILDREN, SUBSCRIBED}
        elif info.name.startswith(name + delim):
            children = True
    attrs.add(HAS_CHILDREN if children else HAS_NO_CHILDREN)
    return Untagged((Atom("LIST"), _attr_atoms(attrs), delim, MailboxName(name)))


async def list_(ctx: Context, c: cmd.List) -> Tagged:
    if len(c.patterns) > MAX_PATTERNS:
        raise Bad(f"At most {MAX_PATTERNS} patterns per LIST.", "LIMIT")
    if c.lsub:
        return await _lsub(ctx, c)
    store = require_store(ctx)
    delim = store.delimiter
    verb = "LIST"
    if len(c.patterns) == 1 and c.patterns[0] == "" and not c.select_options:
        # RFC 9051 §6.3.9: the delimiter and the root of the reference.
        root = c.reference.split(delim, 1)[0] + delim if delim in c.reference else ""
        await ctx.send(Untagged((Atom(verb), (Atom(NOSELECT),), delim, MailboxName(root) if root else "")))
        return Tagged(c.tag, "OK", "LIST completed.")

    patterns = [compile_pattern(c.reference, p, delim) for p in c.patterns if p != ""]
    infos = {i.name: set(i.attributes) for i in await store.list_mailboxes()}
    infos.setdefault(INBOX, set())
    sel_subscribed = "SUBSCRIBED" in c.select_options
    want_subscribed = sel_subscribed or "SUBSCRIBED" in c.return_options
    subscriptions = await store.subscriptions() if want_subscribed else frozenset()
    special_only = "SPECIAL-USE" in c.select_options
    recursive = "RECURSIVEMATCH" in c.select_options and sel_subscribed

    # Children are known from every name, existing or implied.
    parents: set[str] = set()
    for name in infos:
        parents.update(_ancestors(name, delim))

    entries: dict[str, tuple[set[str], tuple[Value, ...]]] = {}
    if sel_subscribed:
        candidates = set(subscriptions)
        if recursive:
            for name in subscriptions:
                candidates.update(_ancestors(name, delim))
    else:
        candidates = set(infos)
    for name in candidates:
        if not _matches(patterns, name):
            continue
        # A subscribed name that does not exist is \NonExistent, which implies \Noselect (RFC 5258 §3).
        attrs = set(infos.get(name, {NONEXISTENT})) - {HAS_CHILDREN, HAS_NO_CHILDREN, SUBSCRIBED}
        # RECURSIVEMATCH: a name with a subscribed descendant carries CHILDINFO, whether or not it is
        # subscribed itself (RFC 5258 §3.5; §5 Example 9 shows it on a \Subscribed mailbox).
        subscribed_child = recursive and any(s.startswith(name + delim) for s in subscriptions)
        if sel_subscribed and name not in subscriptions and not subscribed_child:
            continue
        extra: tuple[Value, ...] = (("CHILDINFO", ("SUBSCRIBED",)),) if subscribed_child else ()
        if special_only and not (attrs & SPECIAL_USE):
            continue
        if name in infos:
            attrs.add(HAS_CHILDREN if name in parents else HAS_NO_CHILDREN)
        if want_subscribed and name in subscriptions:
            attrs.add(SUBSCRIBED)
        entries[name] = (attrs, extra)

    status = "STATUS" in c.return_options and bool(c.status_items)
    for name in _sorted_names(entries):
        attrs, extra = entries[name]
        await ctx.send(Untagged((Atom(verb), _attr_atoms(attrs), delim, MailboxName(name), *extra)))
        if status and not attrs & {NOSELECT, NONEXISTENT}:
            try:
                values = await status_items(ctx, name, c.status_items)
            except StoreError:
                continue  # RFC 5819 §2: a mailbox whose status cannot be read is just not reported
            await ctx.send(Untagged((Atom("STATUS"), MailboxName(name), values)))
    return Tagged(c.tag, "OK", "LIST completed.")


async def _lsub(ctx: Context, c: cmd.List) -> Tagged:
    """LSUB (RFC 3501 §6.3.9), as Dovecot answers it (module docstring)."""
    store = require_store(ctx)
    delim = store.delimiter
    if len(c.patterns) == 1 and c.patterns[0] == "":
        await ctx.send(Untagged((Atom("LSUB"), (Atom(NOSELECT),), delim, "")))
        return Tagged(c.tag, "OK", "LSUB completed.")
    patterns = [compile_pattern(c.reference, p, delim) for p in c.patterns if p != ""]
    selectable = {i.name for i in await store.list_mailboxes() if not i.attributes & {NOSELECT, NONEXISTENT}}
    selectable.add(INBOX)
    subscriptions = await store.subscriptions()
    out: dict[str, set[str]] = {}
    for name in subscriptions:
        if _matches(patterns, name):
            out[name] = set() if name in selectable else {NOSELECT}
        else:
            for parent in _ancestors(name, delim):
                if parent not in subscriptions and _matches(patterns, parent):
                    out.setdefault(parent, {NOSELECT})
    for name in _sorted_names(out):
        await ctx.send(Untagged((Atom("LSUB"), _attr_atoms(out[name]), delim, MailboxName(name))))
    return Tagged(c.tag, "OK", "LSUB completed.")
