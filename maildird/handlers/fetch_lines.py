"""FETCH responses formatted straight to bytes, for the items a message list asks for
(RFC 9051 §6.4.5, §7.5.2).

Theory of operation
-------------------
Thunderbird's header fetch names only items that come from the snapshot (UID, FLAGS, INTERNALDATE,
RFC822.SIZE, MODSEQ) or from the message's top-level header (``BODY[HEADER]``,
``BODY[HEADER.FIELDS (...)]``, ``.NOT``, ``RFC822.HEADER``); a plan without a header item (a flag
resync, ``UID FETCH 1:* (UID FLAGS)``) is answered by ``fetch_flags`` from its ``names``. For those the
general path (``fetch._render``: a list of ``Atom``/``Raw``/``Literal`` values per message, then
``responses.serialize``) spends more time building and walking values than the data is worth, so
``LinePlan`` works out once per command what each item becomes and writes each ``* n FETCH (...)`` line
as bytes: flag lists come from a cache per flag set (``updates.flag_list_bytes``), header sections from
``message.header_fields``, which reads the CRLF header block without a ``ParsedMessage``. The plan names
each distinct selection once (``LinePlan.specs``) and ``render`` takes each message's rendered sections
(``Sections``): the Maildir store keeps them per message (``store.maildir.sectioncache``: memory, then
``<guid>.sections.db``), so a message list after a restart neither reads nor renders a header block;
other stores give header blocks, rendered per FETCH (``fetch_read.read_sections``).

The lines are byte for byte what ``_render`` + ``serialize`` give (``tests/handlers/test_fetch_lines.py``
compares both over many messages, flags, keywords, CONDSTORE, UTF8=ACCEPT, NUL and 8-bit headers): the
same item order, UID first when asked, FLAGS/MODSEQ added after an implicit ``\\Seen``, literals for header
data (never quoted), the same section labels and ``<origin>`` of a partial, the same per-message budget
for section data (``BAD [LIMIT]``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from maildird.handlers.updates import flag_bytes_table, flag_list_bytes, internaldate
from maildird.imap import commands as cmd
from maildird.imap.errors import Bad
from maildird.message.header_fields import WHOLE_HEADER, HeaderSpec, selector
from maildird.message.sections import apply_partial
from maildird.store.base import MessageInfo

SECTION_BUDGET_FACTOR = 2
SECTION_BUDGET_SLACK = 64 * 1024
"""One message's BODY/BINARY/RFC822 data in one FETCH may add up to twice the message plus 64 KiB
(BODY[] beside BODY[TEXT] is fine); past that the FETCH is refused with ``BAD [LIMIT]``, so 64 partials
of a 50 MiB message cannot make the server hold gigabytes."""

SNAPSHOT_BATCH = 2048
"""Messages formatted per round when no file is read (one write per round, a checkpoint between rounds)."""
HEADER_BATCH = 1024
"""Messages per round when their header sections are read (one store call, and at most one worker-thread
hop, per round). After a restart a message list's sections come from the cache file: 10,000 of them
in rounds of 256 took 57-101 ms in-process, in rounds of 1,024 22-66 ms."""

PLAN_MEMO_SIZE = 256
"""Item lists whose plan (``LinePlan``, ``fetch_structs.StructPlan``) is remembered, per kind of plan."""

Items = tuple[cmd.FetchItem, ...]
P = TypeVar("P")


class PlanMemo(Generic[P]):
    """FETCH plans remembered by the items tuple itself (the grammar hands a repeated item list out as
    the same tuple): one lookup by ``id``, and the entry holds the tuple, so its ``id`` cannot be
    reused while the entry lives. Emptied when ``PLAN_MEMO_SIZE`` are kept."""

    __slots__ = ("_build", "_plans")

    def __init__(self, build: Callable[[Items], P]) -> None:
        self._build = build
        self._plans: dict[int, tuple[Items, P]] = {}

    def __call__(self, items: Items) -> P:
        hit = self._plans.get(id(items))
        if hit is not None and hit[0] is items:
            return hit[1]
        plan = self._build(items)
        if len(self._plans) >= PLAN_MEMO_SIZE:
            self._plans.clear()
        self._plans[id(items)] = (items, plan)
        return plan


Sections = tuple[tuple[bytes, int], ...]
"""One message's header sections, in the order of ``LinePlan.specs``: each the section's octets and
the length of the message's CRLF header (``header_fields.header_section_of``)."""


_FLAGS, _INTERNALDATE, _SIZE, _MODSEQ, _SECTION = range(5)
_SNAPSHOT_KINDS = {"FLAGS": _FLAGS, "INTERNALDATE": _INTERNALDATE, "RFC822.SIZE": _SIZE, "MODSEQ": _MODSEQ}
_HEADER_TEXTS = frozenset({"HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT"})


@dataclass(frozen=True, slots=True)
class _Item:
    """One FETCH item as the plan renders it: ``kind``; for a section its label (``BODY[HEADER]<0>``,
    ``RFC822.HEADER``), section text, field names and partial."""

    kind: int
    label: bytes = b""
    slot: int = 0
    """Where the section is in a message's ``Sections`` (the index of its spec in ``LinePlan.specs``)."""
    partial: tuple[int, int] | None = None


class LinePlan:
    """The items of one FETCH, ready to be written per message (module docstring)."""

    __slots__ = ("has_flags", "has_modseq", "header", "items", "names", "one_section", "specs")

    def __init__(self, items: tuple[_Item, ...], specs: tuple[HeaderSpec, ...] = ()) -> None:
        self.items = items
        self.specs = specs
        """The distinct selections of the section items (HEADER.FIELDS(.NOT)'s compiled selectors,
        ``WHOLE_HEADER`` for BODY[HEADER] and RFC822.HEADER), in the order of first use."""
        self.header = any(i.kind == _SECTION for i in items)
        """True when the sections of each message are needed."""
        self.has_flags = any(i.kind == _FLAGS for i in items)
        sections = [i for i in items if i.kind == _SECTION]
        self.one_section = len(sections) == 1 and sections[0].partial is None
        """A message list's shape: one whole section (``_section_lines``)."""
        self.has_modseq = any(i.kind == _MODSEQ for i in items)
        self.names = tuple(_NAMES[i.kind] for i in items if i.kind != _SECTION)
        """The snapshot items' names in order (UID left out), for ``fetch_flags`` when there is no
        section: it answers such a plan (``header`` False)."""

    @property
    def batch(self) -> int:
        return HEADER_BATCH if self.header else SNAPSHOT_BATCH

    @classmethod
    def for_items(cls, items: tuple[cmd.FetchItem, ...]) -> LinePlan | None:
        """The plan, or None when an item needs more than the snapshot and the top-level header (then
        the general path renders the command); remembered (``PlanMemo``)."""
        return _LINE_PLANS(items)

    def sections_of(self, raw: bytes) -> Sections:
        """A message's sections rendered from its header block (as stored)."""
        return tuple(spec.section(raw) for spec in self.specs)

    @classmethod
    def _plan(cls, items: tuple[cmd.FetchItem, ...]) -> LinePlan | None:
        out: list[_Item] = []
        specs: dict[HeaderSpec, int] = {}
        for item in items:
            if isinstance(item, cmd.FetchAtt):
                if item.name == "UID":
                    continue  # always first, see ``render``
                kind = _SNAPSHOT_KINDS.get(item.name)
                if kind is not None:
                    out.append(_Item(kind))
                elif item.name == "RFC822.HEADER":
                    out.append(_Item(_SECTION, b"RFC822.HEADER", specs.setdefault(WHOLE_HEADER, len(specs))))
                else:
                    return None
            elif isinstance(item, cmd.FetchBody) and not item.section.part:
                section = item.section
                if section.text not in _HEADER_TEXTS:
                    return None
                origin = b"" if item.partial is None else b"<%d>" % item.partial[0]
                name = b"BODY[" + section_label(section) + b"]" + origin
                spec: HeaderSpec = WHOLE_HEADER
                if section.text != "HEADER":
                    spec = selector(section.fields, section.text == "HEADER.FIELDS.NOT")
                out.append(_Item(_SECTION, name, specs.setdefault(spec, len(specs)), item.partial))
            else:
                return None
        return cls(tuple(out), tuple(specs))

    def render(
        self,
        batch: list[tuple[int, MessageInfo]],
        sections: dict[int, Sections] | None,
        changed: dict[int, MessageInfo],
        recent: Callable[[int], bool] | None,
        *,
        uid_first: bool,
        condstore: bool,
        wants_modseq: bool,
    ) -> Iterator[bytes]:
        """``* seq FETCH (...)`` lines, CRLF included, for the messages of ``batch`` (those missing from
        ``sections`` when sections are asked are skipped). ``changed`` holds the new state of messages
        this FETCH marked ``\\Seen``; ``recent`` tells this session's \\Recent (None: none is)."""
        if sections is not None and not changed and self.one_section:
            yield from self._section_lines(
                batch, sections, recent, uid_first=uid_first, wants_modseq=wants_modseq
            )
            return
        items = self.items
        has_flags, has_modseq = self.has_flags, self.has_modseq
        for seq, info in batch:
            uid = info.uid
            mine: Sections = ()
            if sections is not None:
                found = sections.get(uid)
                if found is None:
                    continue
                mine = found
            seen_now = uid in changed
            if seen_now:
                info = changed[uid]
            flags = flag_list_bytes(info.flags, recent is not None and recent(uid))
            # A FETCH that set \Seen under CONDSTORE carries UID and MODSEQ too (fetch.fetch).
            parts: list[bytes] = [b"UID %d" % uid] if uid_first or (condstore and seen_now) else []
            budget = -1  # set by the first section: twice the CRLF header plus the slack
            for item in items:
                kind = item.kind
                if kind == _FLAGS:
                    parts.append(b"FLAGS " + flags)
                elif kind == _SIZE:
                    parts.append(b"RFC822.SIZE %d" % info.size)
                elif kind == _SECTION:
                    data, header_size = mine[item.slot]
                    if budget < 0:
                        budget = SECTION_BUDGET_FACTOR * header_size + SECTION_BUDGET_SLACK
                    if item.partial is not None:
                        data = apply_partial(data, *item.partial)
                    budget -= len(data)
                    if budget < 0:
                        raise Bad(
                            "FETCH asks for more message data than twice the message; ask in fewer pieces.",
                            "LIMIT",
                        )
                    parts.append(b"%s {%d}\r\n%s" % (item.label, len(data), data))
                elif kind == _INTERNALDATE:
                    parts.append(b'INTERNALDATE "%s"' % internaldate(info.internaldate).encode("ascii"))
                else:
                    parts.append(b"MODSEQ (%d)" % info.modseq)
            if seen_now and not has_flags:
                parts.append(b"FLAGS " + flags)
            if (wants_modseq or (condstore and seen_now)) and not has_modseq:
                parts.append(b"MODSEQ (%d)" % info.modseq)
            yield b"* %d FETCH (%s)\r\n" % (seq, b" ".join(parts))

    def _section_lines(
        self,
        batch: list[tuple[int, MessageInfo]],
        sections: dict[int, Sections],
        recent: Callable[[int], bool] | None,
        *,
        uid_first: bool,
        wants_modseq: bool,
    ) -> Iterator[bytes]:
        """``render`` for one section without a partial and no flag changed (a message list): one
        format per command and one ``%`` per message, the same octets as the item loop. No budget to
        check: a whole section is at most the CRLF header and a blank line, below twice the header
        plus ``SECTION_BUDGET_SLACK``."""
        kinds = [item.kind for item in self.items]
        formats = [
            item.label + b" {%d}\r\n%s" if item.kind == _SECTION else _FORMATS[item.kind]
            for item in self.items
        ]
        if wants_modseq and not self.has_modseq:
            kinds.append(_MODSEQ)
            formats.append(_FORMATS[_MODSEQ])
        fmt = b"* %d FETCH (" + b" ".join(([b"UID %d"] if uid_first else []) + formats) + b")\r\n"
        plain = flag_bytes_table(False)
        get = sections.get
        if uid_first and recent is None and kinds in ([_SIZE, _FLAGS, _SECTION], [_FLAGS, _SIZE, _SECTION]):
            size_first = kinds[0] == _SIZE  # Thunderbird's UID RFC822.SIZE FLAGS BODY.PEEK[...]
            for seq, info in batch:
                found = get(info.uid)
                if found is None:
                    continue
                data = found[0][0]
                flags = plain.get(info.flags) or flag_list_bytes(info.flags, False)
                if size_first:
                    yield fmt % (seq, info.uid, info.size, flags, len(data), data)
                else:
                    yield fmt % (seq, info.uid, flags, info.size, len(data), data)
            return
        for seq, info in batch:
            found = get(info.uid)
            if found is None:
                continue
            args: list[object] = [seq, info.uid] if uid_first else [seq]
            for item, kind in zip(self.items, kinds, strict=False):
                if kind == _SECTION:
                    data = found[item.slot][0]
                    args += (len(data), data)
                elif kind == _FLAGS:
                    if recent is not None and recent(info.uid):
                        args.append(flag_list_bytes(info.flags, True))
                    else:
                        args.append(plain.get(info.flags) or flag_list_bytes(info.flags, False))
                elif kind == _SIZE:
                    args.append(info.size)
                elif kind == _MODSEQ:
                    args.append(info.modseq)
                else:
                    args.append(internaldate(info.internaldate).encode("ascii"))
            if len(kinds) > len(self.items):
                args.append(info.modseq)
            yield fmt % tuple(args)


_LINE_PLANS: PlanMemo[LinePlan | None] = PlanMemo(LinePlan._plan)


FORMATS = {
    "FLAGS": b"FLAGS %s",
    "RFC822.SIZE": b"RFC822.SIZE %d",
    "INTERNALDATE": b'INTERNALDATE "%s"',
    "MODSEQ": b"MODSEQ (%d)",
}
"""Each snapshot item's place in a line's format (``_section_lines``, ``fetch_flags``)."""
_NAMES = {kind: name for name, kind in _SNAPSHOT_KINDS.items()}
_FORMATS = {kind: FORMATS[name] for name, kind in _SNAPSHOT_KINDS.items()}

_ATOM_FIELD = re.compile(r"[!#$&'+,\-./0-9:;<=>?@A-Z\[^_`a-z|}~]+")


def _field_name(name: str) -> str:
    """A header field name as the client can match it: an atom, or a quoted string with ``"`` and
    ``\\`` escaped (the grammar already refused control characters)."""
    if _ATOM_FIELD.fullmatch(name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def section_label(section: cmd.Section) -> bytes:
    """The section spec as the response names it: ``1.2.HEADER.FIELDS (FROM TO)``."""
    parts = [".".join(str(n) for n in section.part)] if section.part else []
    if section.text is not None:
        text: str = section.text
        if section.fields:
            names = " ".join(_field_name(f) for f in section.fields)
            text += f" ({names})"
        parts.append(text)
    return ".".join(parts).encode("ascii", "replace")
