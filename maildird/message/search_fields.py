"""SEARCH on header fields from cached texts (RFC 9051 §6.4.4 FROM, TO, CC, BCC, SUBJECT, HEADER).

Theory of operation
-------------------
A header key compares its needle against one text per message: every ``field`` line of the top-level
header, decoded (RFC 2047), joined and normalised (``search_texts.field_text``, read off the stored
block by ``search_octets.Octets.field_text``), or None when the message has no such field. ``RECIPE``
derives exactly that text, so a store can keep it per message (``store.maildir.searchcache``) and a
later SEARCH needs no header block at all. ``texts_test`` then evaluates a key whose content leaves
are all such header keys as one function of (sequence number, snapshot info): header leaves look the
text up and test ``normalize(needle) in text`` (an empty needle: the field is present), exactly what
``search.matches`` does; the other leaves are ``snapshot.snapshot_test``. tests/message/
test_search_fields.py holds the answers to ``search.matches`` over generated messages.

The cached texts are only as good as the code that made them: ``RECIPE.version`` is a digest of that
code's source (the modules that decode and normalise), so a changed decoder empties older caches.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

from maildird.imap.commands import (
    SearchAnd,
    SearchDate,
    SearchHeader,
    SearchKey,
    SearchNot,
    SearchOr,
    SearchText,
)
from maildird.message.decode import normalize, plain
from maildird.message.header_scan import stored_field_values
from maildird.message.search_octets import Octets
from maildird.message.snapshot import Info, Mailbox, SnapshotTest, snapshot_test

CACHED_FIELDS = frozenset({"FROM", "TO", "CC", "BCC", "SUBJECT", "MESSAGE-ID", "REPLY-TO", "LIST-ID"})
"""Header fields whose texts a store may cache (upper case): the SEARCH keys with their own names,
and the ones clients search with HEADER (Message-ID to find an appended message, List-Id for filters)."""

RECIPE_REVISION = 1
"""Bumped by hand when ``derive`` changes in a way the source digest cannot see."""

_SOURCES = (
    "maildird.message.decode",
    "maildird.message.header_scan",
    "maildird.message.parse",
    "maildird.message.search_octets",
    "maildird.message.search_texts",
    "maildird.message.search_fields",
    "maildird.message.search_bodies",
)
"""The modules whose code makes the texts and the body rows of SEARCH TEXT (their source goes into
``RECIPE.version``, which names the body rows' derivation too)."""

Texts = dict[int, "str | None"]
"""uid -> text (None: the message has no such field)."""


def key_fields(key: SearchKey) -> frozenset[str] | None:
    """The (upper-cased) fields of ``key``'s content leaves when every one of them is a header key on
    a ``CACHED_FIELDS`` field, else None (the key needs something the texts do not hold)."""
    if isinstance(key, SearchHeader):
        name = key.field.upper()
        return frozenset({name}) if key.field.isascii() and name in CACHED_FIELDS else None
    if isinstance(key, SearchText) or (isinstance(key, SearchDate) and key.sent):
        return None
    subs: tuple[SearchKey, ...]
    if isinstance(key, SearchNot):
        subs = (key.key,)
    elif isinstance(key, SearchOr):
        subs = (key.left, key.right)
    elif isinstance(key, SearchAnd):
        subs = key.keys
    else:
        return frozenset()  # a snapshot key
    out: frozenset[str] = frozenset()
    for sub in subs:
        found = key_fields(sub)
        if found is None:
            return None
        out |= found
    return out


def derive(blocks: Mapping[int, bytes], fields: Sequence[str]) -> dict[str, Texts]:
    """Per field, each block's text: ``Octets.field_text``, what the exact path compares against. A
    block without CRs that is its own text (``decode.plain``: ASCII, no encoded word, so neither is
    any value unfolded from it) takes a shorter way to the same text: its values as ASCII, joined and
    normalised, without an ``Octets`` and its memos."""
    out: dict[str, Texts] = {field: {} for field in fields}
    tables = [(field, out[field]) for field in fields]
    for uid, raw in blocks.items():
        if plain(raw) and b"\r" not in raw:
            low = raw.lower()
            for field, table in tables:
                values = stored_field_values(raw, low, field)
                assert values is not None  # the block holds no CR
                table[uid] = normalize(b"\n".join(values).decode("ascii")) if values else None
            continue
        octets = Octets(raw, header_only=True)
        for field, table in tables:
            table[uid] = octets.field_text(field)
    return out


def _digest() -> str:
    h = hashlib.sha256(str(RECIPE_REVISION).encode())
    for name in _SOURCES:
        origin = getattr(import_module(name), "__file__", None)
        try:
            h.update(Path(origin).read_bytes() if origin else name.encode())
        except OSError:
            h.update(name.encode())
    return h.hexdigest()[:16]


VERSION = _digest()
"""The recipe's name: computed at import (a server start), not by the first SEARCH after a restart,
when the source files may no longer be in the page cache."""


@dataclass(frozen=True, slots=True)
class Recipe:
    """``store.maildir.searchcache.Recipe``: how the texts are made, and a name for that."""

    version: str = VERSION

    def derive(self, blocks: Mapping[int, bytes], fields: Sequence[str]) -> dict[str, Texts]:
        return derive(blocks, fields)


RECIPE = Recipe()


TextTest = Callable[[int, Info], bool]


def texts_test(key: SearchKey, box: Mailbox, tables: Mapping[str, Texts]) -> TextTest:
    """``key`` (``key_fields`` not None) as a test of (sequence number, info), its header leaves
    answered from ``tables`` (field -> uid -> text), which must hold every UID tested."""
    if isinstance(key, SearchHeader):
        table = tables[key.field.upper()]
        if key.value == "":
            return lambda s, i: table[i.uid] is not None  # RFC 9051 §6.4.4: the field is present
        needle = normalize(key.value)

        def has(s: int, i: Info) -> bool:
            text = table[i.uid]
            return text is not None and needle in text

        return has
    if isinstance(key, SearchNot):
        inner = texts_test(key.key, box, tables)
        return lambda s, i: not inner(s, i)
    if isinstance(key, SearchOr):
        left, right = _cheap_first((key.left, key.right), box, tables)
        return lambda s, i: left(s, i) or right(s, i)
    if isinstance(key, SearchAnd):
        tests = _cheap_first(key.keys, box, tables)
        return lambda s, i: all(t(s, i) for t in tests)
    return snapshot_test(key, box)


def _cheap_first(keys: Iterable[SearchKey], box: Mailbox, tables: Mapping[str, Texts]) -> list[TextTest]:
    """Snapshot keys before header ones (both are cheap here; the answer is the same either way)."""
    ordered = sorted(keys, key=lambda k: bool(key_fields(k)))
    return [texts_test(k, box, tables) for k in ordered]


def texts_filter(
    key: SearchKey, box: Mailbox, tables: Mapping[str, Texts], candidates: Sequence[tuple[int, Info]]
) -> list[int]:
    """Indexes into ``candidates`` of the ones matching ``key``, ascending. A lone header key is one
    comprehension without a call per message; NOT, OR and AND of several keys are evaluated a key at
    a time over all candidates, as sets of indexes (a call per message per node of the key cost
    more than the substring tests: 16 ms for an OR of four fields over 10,000 messages)."""
    if isinstance(key, SearchHeader) and key.value != "":
        table = tables[key.field.upper()]
        needle = normalize(key.value)
        return [n for n, (_s, i) in enumerate(candidates) if needle in (table[i.uid] or "")]
    if isinstance(key, SearchNot | SearchOr | SearchAnd):
        return sorted(_indexes(key, box, tables, candidates))
    test = texts_test(key, box, tables)
    return [n for n, (s, i) in enumerate(candidates) if test(s, i)]


def _indexes(
    key: SearchKey, box: Mailbox, tables: Mapping[str, Texts], candidates: Sequence[tuple[int, Info]]
) -> set[int]:
    """``texts_filter`` as a set: unions, intersections and complements of its keys' sets."""
    if isinstance(key, SearchNot):
        return set(range(len(candidates))) - _indexes(key.key, box, tables, candidates)
    if isinstance(key, SearchOr):
        return _indexes(key.left, box, tables, candidates) | _indexes(key.right, box, tables, candidates)
    if isinstance(key, SearchAnd):
        found: set[int] | None = None
        for sub in key.keys:
            part = _indexes(sub, box, tables, candidates)
            found = part if found is None else found & part
        return found if found is not None else set(range(len(candidates)))
    return set(texts_filter(key, box, tables, candidates))


__all__ = [
    "CACHED_FIELDS",
    "RECIPE",
    "Recipe",
    "SnapshotTest",
    "TextTest",
    "Texts",
    "derive",
    "key_fields",
    "texts_filter",
    "texts_test",
]
