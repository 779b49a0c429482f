"""FETCH of message bodies written straight to bytes (RFC 9051 §6.4.5, §7.5.2; RFC 3516 §4.2).

Theory of operation
-------------------
A client opening messages one by one sends ``UID FETCH n (UID RFC822.SIZE FLAGS BODY.PEEK[])`` (Thunderbird),
``BODY.PEEK[TEXT]``, ``BODY.PEEK[1]``, ``BINARY.PEEK[1]`` or a preview ``BODY.PEEK[]<0.2048>``: snapshot
items beside body sections, no ENVELOPE/BODY/BODYSTRUCTURE. For those the general path
(``fetch_render.render``: a list of ``Atom``/``Literal`` values, then ``responses.serialize``) builds values
only to walk them again, and copies each section into a literal, then into the line. ``BodyPlan`` works
out once per command what each item becomes and writes each ``* n FETCH (...)`` line with one join, the
section octets handed to the join as they are (one copy of the body into the line).

The sections themselves come from the same functions as the general path (``sections.body_section`` and
``binary_section`` over a ``ParsedMessage``, whose MIME tree is built only when a part number asks for it:
``BODY[]`` and ``BODY[TEXT]`` need the CRLF octets and the end of the header, nothing more), so the octets
are the same by construction: NUL as 0x80 outside BINARY, ``~{n}`` for BINARY data holding NUL, the same
``<origin>`` label, the same per-message budget (``BAD [LIMIT]``) and ``NO [UNKNOWN-CTE]`` at the same item.

Bodies read recently are kept in memory in their CRLF form (``BodyCache``, at most ``BODY_CACHE_BYTES``,
messages up to ``BODY_CACHE_MESSAGE``): a preview followed by the whole message, or a client fetching
``1``, ``1.MIME`` and ``2`` of one message in three commands, read and convert the file once, and a hit
costs neither the folder lock nor a worker-thread hop. A message's octets never change under its UID
within one UIDVALIDITY (RFC 9051 §2.3.1.1; Maildir files are never rewritten, only renamed), so the key
is the mailbox handle (a token per ``Mailbox`` object: a folder deleted and created again under the same
name is a new handle), UIDVALIDITY, UID, size and INTERNALDATE; a message the view no longer shows is
never answered from the cache (``read_raw`` reports it as today).
"""

from __future__ import annotations

import itertools
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import datetime

from maildird.handlers.context import Context, Selected
from maildird.handlers.fetch_lines import SECTION_BUDGET_FACTOR, SECTION_BUDGET_SLACK, section_label
from maildird.handlers.updates import flag_list_bytes, internaldate
from maildird.imap import commands as cmd
from maildird.imap.errors import UNKNOWN_CTE, Bad, No
from maildird.message import (
    ParsedMessage,
    UnknownTransferEncoding,
    apply_partial,
    binary_section,
    binary_size,
    body_section,
)
from maildird.store.base import Mailbox, MessageInfo

BODY_CACHE_BYTES = 16 << 20
"""Octets of CRLF message text kept by ``BodyCache``, server-wide."""
BODY_CACHE_MESSAGE = 1 << 20
"""Messages larger than this (CRLF octets) are never kept: one would push out dozens of others."""

_FLAGS, _INTERNALDATE, _SIZE, _MODSEQ, _BODY, _BINARY, _BINARY_SIZE = range(7)
_SNAPSHOT_KINDS = {"FLAGS": _FLAGS, "INTERNALDATE": _INTERNALDATE, "RFC822.SIZE": _SIZE, "MODSEQ": _MODSEQ}
# RFC822, RFC822.HEADER and RFC822.TEXT are BODY[], BODY.PEEK[HEADER] and BODY[TEXT] under other names
# (RFC 3501 §6.4.5).
_RFC822 = {
    "RFC822": cmd.Section(),
    "RFC822.HEADER": cmd.Section(text="HEADER"),
    "RFC822.TEXT": cmd.Section(text="TEXT"),
}
_LIMIT_TEXT = "FETCH asks for more message data than twice the message; ask in fewer pieces."

CacheKey = tuple[int, int, int, int, datetime]
"""Mailbox handle token, UIDVALIDITY, UID, RFC822.SIZE, INTERNALDATE."""


class BodyCache:
    """Recently read messages' CRLF octets by (folder, UIDVALIDITY, UID, size), least recently used
    first out (module docstring)."""

    __slots__ = ("_entries", "_size", "capacity")

    def __init__(self, capacity: int = BODY_CACHE_BYTES) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[CacheKey, bytes] = OrderedDict()
        self._size = 0

    def get(self, key: CacheKey) -> bytes | None:
        data = self._entries.get(key)
        if data is not None:
            self._entries.move_to_end(key)
        return data

    def put(self, key: CacheKey, data: bytes) -> None:
        if len(data) > BODY_CACHE_MESSAGE or key in self._entries:
            return
        self._entries[key] = data
        self._size += len(data)
        while self._size > self.capacity:
            _key, old = self._entries.popitem(last=False)
            self._size -= len(old)

    def clear(self) -> None:
        self._entries.clear()
        self._size = 0

    def __len__(self) -> int:
        return len(self._entries)


CACHE = BodyCache()

_PLANS: dict[tuple[cmd.FetchItem, ...], BodyPlan | None] = {}

_TOKENS: weakref.WeakKeyDictionary[Mailbox, int] = weakref.WeakKeyDictionary()
_NEXT_TOKEN = itertools.count(1)


def _token(mailbox: Mailbox) -> int:
    """A number of this mailbox handle's own, never reused while the process runs."""
    token = _TOKENS.get(mailbox)
    if token is None:
        token = _TOKENS[mailbox] = next(_NEXT_TOKEN)
    return token


class _Item:
    __slots__ = ("binary_part", "kind", "label", "partial", "section")

    def __init__(
        self,
        kind: int,
        label: bytes = b"",
        section: cmd.Section | None = None,
        partial: tuple[int, int] | None = None,
        binary_part: tuple[int, ...] = (),
    ) -> None:
        self.kind = kind
        self.label = label
        self.section = section
        self.partial = partial
        self.binary_part = binary_part


PLAN_MEMO_SIZE = 256
"""Item lists whose ``BodyPlan`` is remembered."""


class BodyPlan:
    """The items of one FETCH of body sections beside snapshot items (module docstring)."""

    __slots__ = ("has_flags", "has_modseq", "items")

    def __init__(self, items: tuple[_Item, ...]) -> None:
        self.items = items
        self.has_flags = any(i.kind == _FLAGS for i in items)
        self.has_modseq = any(i.kind == _MODSEQ for i in items)

    @classmethod
    def for_items(cls, items: tuple[cmd.FetchItem, ...]) -> BodyPlan | None:
        """The plan, or None when an item is not a snapshot item or a body section (ENVELOPE, BODY,
        BODYSTRUCTURE, unknown attributes: the general path), or when no item reads the message text.
        Plans are remembered by the items' values (a client opening messages sends the same list each
        time; the items are frozen values)."""
        try:
            return _PLANS[items]
        except KeyError:
            pass
        plan = cls._plan(items)
        if len(_PLANS) >= PLAN_MEMO_SIZE:
            _PLANS.clear()
        _PLANS[items] = plan
        return plan

    @classmethod
    def _plan(cls, items: tuple[cmd.FetchItem, ...]) -> BodyPlan | None:
        out: list[_Item] = []
        text = False
        for item in items:
            if isinstance(item, cmd.FetchAtt):
                name = item.name
                if name == "UID":
                    continue  # always first (``line``)
                kind = _SNAPSHOT_KINDS.get(name)
                if kind is not None:
                    out.append(_Item(kind))
                elif name in _RFC822:
                    out.append(_Item(_BODY, name.encode("ascii"), _RFC822[name]))
                    text = True
                else:
                    return None
            elif isinstance(item, cmd.FetchBody):
                origin = b"" if item.partial is None else b"<%d>" % item.partial[0]
                label = b"BODY[" + section_label(item.section) + b"]" + origin
                out.append(_Item(_BODY, label, item.section, item.partial))
                text = True
            else:
                part = ".".join(str(n) for n in item.part).encode("ascii")
                if item.size:
                    out.append(_Item(_BINARY_SIZE, b"BINARY.SIZE[" + part + b"]", binary_part=item.part))
                else:
                    origin = b"" if item.partial is None else b"<%d>" % item.partial[0]
                    label = b"BINARY[" + part + b"]" + origin
                    out.append(_Item(_BINARY, label, partial=item.partial, binary_part=item.part))
                text = True
        return cls(tuple(out)) if text else None

    def line(
        self,
        seq: int,
        info: MessageInfo,
        msg: ParsedMessage,
        *,
        recent: bool,
        uid_first: bool,
        add_flags: bool,
        add_modseq: bool,
    ) -> list[bytes]:
        """One ``* seq FETCH (...)`` line as pieces to join (the section octets among them, uncopied):
        the octets ``fetch_render.render`` + ``serialize`` give. Raises ``Bad`` [LIMIT] past the
        message's budget and ``No`` [UNKNOWN-CTE] at the item that needs it, as ``render`` does."""
        out: list[bytes] = [b"* %d FETCH (" % seq]
        sep = b""
        if uid_first:
            out.append(b"UID %d" % info.uid)
            sep = b" "
        budget = SECTION_BUDGET_FACTOR * len(msg.data) + SECTION_BUDGET_SLACK
        flags: bytes | None = None
        for item in self.items:
            kind = item.kind
            if sep:
                out.append(sep)
            sep = b" "
            if kind == _BODY:
                assert item.section is not None
                data = body_section(msg, item.section)
                if item.partial is not None:
                    data = apply_partial(data, *item.partial)
                budget -= len(data)
                if budget < 0:
                    raise Bad(_LIMIT_TEXT, "LIMIT")
                out += (item.label, b" {%d}\r\n" % len(data), data)
            elif kind == _FLAGS:
                flags = flags or flag_list_bytes(info.flags, recent)
                out += (b"FLAGS ", flags)
            elif kind == _SIZE:
                out.append(b"RFC822.SIZE %d" % msg.size)
            elif kind == _BINARY:
                try:
                    data = binary_section(msg, item.binary_part)
                except UnknownTransferEncoding as exc:
                    raise No(f"Unknown Content-Transfer-Encoding: {exc}", UNKNOWN_CTE) from exc
                if item.partial is not None:
                    data = apply_partial(data, *item.partial)
                budget -= len(data)
                if budget < 0:
                    raise Bad(_LIMIT_TEXT, "LIMIT")
                tilde = b"~" if b"\0" in data else b""
                out += (item.label, b" %s{%d}\r\n" % (tilde, len(data)), data)
            elif kind == _BINARY_SIZE:
                try:
                    size = binary_size(msg, item.binary_part)
                except UnknownTransferEncoding as exc:
                    raise No(f"Unknown Content-Transfer-Encoding: {exc}", UNKNOWN_CTE) from exc
                out.append(b"%s %d" % (item.label, size))
            elif kind == _INTERNALDATE:
                out.append(b'INTERNALDATE "%s"' % internaldate(info.internaldate).encode("ascii"))
            else:
                out.append(b"MODSEQ (%d)" % info.modseq)
        if add_flags and not self.has_flags:
            out += (sep, b"FLAGS ", flags or flag_list_bytes(info.flags, recent))
            sep = b" "
        if add_modseq and not self.has_modseq:
            out += (sep, b"MODSEQ (%d)" % info.modseq)
        out.append(b")\r\n")
        return out


ReadRaw = Callable[..., Awaitable[dict[int, bytes]]]
Parse = Callable[[bytes], Awaitable[ParsedMessage]]


async def read_bodies(
    sel: Selected, batch: list[tuple[int, MessageInfo]], outcome: object, read_raw: ReadRaw, parse: Parse
) -> dict[int, ParsedMessage]:
    """The batch's messages parsed (lazily: ``ParsedMessage``), from ``CACHE`` or read by ``read_raw``
    (which notes vanished and broken ones in ``outcome``, as for the general path) and then kept."""
    view = sel.view
    token, uidvalidity = _token(sel.mailbox), view.snapshot.uidvalidity
    found: dict[int, ParsedMessage] = {}
    rest: list[tuple[int, MessageInfo]] = []
    for target in batch:
        info = target[1]
        data = (
            None
            if view.is_expunged(info.uid)
            else CACHE.get((token, uidvalidity, info.uid, info.size, info.internaldate))
        )
        if data is None:
            rest.append(target)
        else:
            found[info.uid] = ParsedMessage(data)
    if rest:
        raws = await read_raw(sel, rest, outcome)
        for _seq, info in rest:
            raw = raws.get(info.uid)
            if raw is None:
                continue
            msg = await parse(raw)
            if msg.data:
                CACHE.put((token, uidvalidity, info.uid, info.size, info.internaldate), msg.data)
            found[info.uid] = msg
    return found


async def send_lines(
    ctx: Context,
    sel: Selected,
    plan: BodyPlan,
    batch: list[tuple[int, MessageInfo]],
    parsed: dict[int, ParsedMessage],
    changed: dict[int, MessageInfo],
    *,
    uid_first: bool,
    wants_modseq: bool,
) -> None:
    """Each message's line written as soon as it is made (a failing message's predecessors are out
    first, as on the general path). No checkpoint of its own: ``fetch`` checkpoints between rounds
    and the connection loop after every command, and a one-message FETCH (a client opening messages
    one by one) would pay a second pass through the scheduler for nothing."""
    view = sel.view
    check_recent = not ctx.rev2 and view.recent_count > 0
    condstore = ctx.condstore
    for seq, info in batch:
        msg = parsed.get(info.uid)
        if msg is None:
            continue
        seen_now = info.uid in changed
        if seen_now:
            info = changed[info.uid]
        # A FETCH that set \Seen under CONDSTORE carries UID and MODSEQ too (fetch.fetch).
        pieces = plan.line(
            seq,
            info,
            msg,
            recent=check_recent and view.is_recent(info.uid),
            uid_first=uid_first or (condstore and seen_now),
            add_flags=seen_now,
            add_modseq=wants_modseq or (condstore and seen_now),
        )
        await ctx.send_bytes(b"".join(pieces))


__all__ = [
    "BODY_CACHE_BYTES",
    "BODY_CACHE_MESSAGE",
    "CACHE",
    "BodyCache",
    "BodyPlan",
    "read_bodies",
    "send_lines",
]
