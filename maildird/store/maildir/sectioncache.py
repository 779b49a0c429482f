"""The section cache: each message's rendered header sections (``BODY[HEADER.FIELDS (...)]``), so a
message list's FETCH after a restart neither reads nor renders a header block (what Dovecot's
``dovecot.index.cache`` does for the fields a client fetched).

Theory of operation:

* What is cached is what ``spec.section(raw)`` returns for a message's header block ``raw`` (the
  octets ``MaildirMailbox.read_messages(..., header_only=True)`` returns): the section's octets and
  the length of the CRLF header. The protocol layer renders it (``message.header_fields``); the store
  only keeps it, under the selection's canonical ``key`` (the kind and the sorted field names: two
  requests naming the same fields in another order share it). A spec whose ``key`` is None (the
  whole header) is rendered each time from the block. A Maildir message file never changes its
  content, so a section stays right for ``(folder, GUID, UIDVALIDITY, UID, key)`` forever.
* Memory layer: ``SECTION_MEMORY``, process-wide, bounded by ``MEMORY_BYTES``, first in first out (a
  hit is one dict lookup per section; a message list sweeps the folder in order). A request it fully
  answers needs no folder lock and no thread hop: the 8-client workload's ``FETCH n:n+9 (...
  BODY.PEEK[HEADER.FIELDS (From Subject Date)])`` after the first round, and a warm header fetch.
* Disk layer: the section file beside the header cache file (``sectionfile``: why a file of its
  own), at most ``sectionfile.MAX_SPECS`` selections, and per selection a pack of its rows in one
  blob (``sectionpack``), written at the end of a message list's sweep when missing or stale and
  read instead of the rows by a large request (the cold header fetch after a restart). A miss in
  memory costs one worker-thread hop under the folder lock (``read_locked``): the stored sections
  first; the header blocks (header cache rows, then files) only of messages still missing one,
  rendered in that thread, and the new rows of both files written in that hop, one transaction per
  file. Sections of empty or over-long blocks are not stored.
* Invalidation: the header cache's: ``FolderHeaders.forget_locked``/``forget_memory`` (EXPUNGE, MOVE)
  drop sections with blocks; a new incarnation makes the file again and changes the memory key; a
  corrupt file is deleted and rebuilt; DELETE (``store.drop_state``) and ``maildird reindex``
  remove it. Rows of messages other programs expunged are pruned when the file is opened. A pack is
  a copy of rows, which never change under their (selection, UID): it is never wrong, only short of
  new mail or holding expunged messages, and only UIDs the folder knows are taken from it.
* Threads: ``recall``/``remember`` run in the Trio thread; ``read_locked`` in a worker thread with
  the folder lock held.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from maildird.bytecache import ByteBoundCache
from maildird.store.maildir.cachefile import collector_paused
from maildird.store.maildir.headerfile import MAX_CACHED_BLOCK
from maildird.store.maildir.packedsections import PACK_MAX_MESSAGES, pack_at_sweep_end, read_packed
from maildird.store.maildir.sectionfile import Section, SectionFile, SectionRow

if TYPE_CHECKING:
    from maildird.store.maildir.headercache import FolderHeaders, Reader
    from maildird.store.maildir.sync import Folder

MEMORY_BYTES = 16 * 1024 * 1024
"""Bound of the memory layer (section octets plus ``ENTRY_OVERHEAD`` each): Thunderbird's sections of
a 10,000-message folder take about 7 MiB."""

ENTRY_OVERHEAD = 200
"""Python's cost of one memory entry beyond its octets: the int key and the ordered-dict slot (107
octets by tracemalloc on CPython 3.11), the value tuple (56) and the bytes object's header (33)."""

MAX_MEMORY_SPECS = 16
"""Selections one folder may keep sections of in memory (``FolderHeaders.section_keys``, which an
expunge walks); a client's further field lists are rendered each time."""

READ_AHEAD_MIN = 256
"""A request of at least this many messages (a round of a message list's FETCH) also reads the stored
sections of the folder's next messages (``read_locked``), so the rounds after it are answered from
memory: one thread hop and one run of the file for a whole message list instead of one per round."""

READ_AHEAD_MAX = PACK_MAX_MESSAGES  # 16,384: a folder a pack serves is read ahead whole
"""Messages read ahead at most (divided among the selections): about 11 MiB of Thunderbird sections,
within ``MEMORY_BYTES``, so what is read ahead is still there when its round comes."""

BULK_MIN = READ_AHEAD_MIN
"""Requests of at least this many messages read and remember their sections with the cyclic garbage
collector paused (``cachefile.collector_paused``): 10,000 sections are some 30,000 new objects, none in
a cycle, walked by about 40 young and 4 middle collections as they are built; paused, by one. Those
collections also count towards a fresh process's first full collection (the whole heap, 20-100 ms on
the benchmark machine), which otherwise tends to fall in the first message list after a restart."""

SectionKey = int
"""``FolderHeaders.section_base(folder, selection key) | uid``."""
Sections = tuple[Section, ...]
"""One message's sections, in the order of the specs asked for."""


class SectionSpec(Protocol):
    """What the store needs of a header section item (``message.header_fields`` implements it)."""

    @property
    def key(self) -> str | None: ...

    def section(self, raw: bytes) -> Section: ...

    def derivable_from(self, key: str) -> bool: ...

    def section_from(self, wider: Section) -> Section: ...


def _cost(key: SectionKey, value: Section) -> int:
    return len(value[0]) + ENTRY_OVERHEAD


class SectionMemory(ByteBoundCache[SectionKey, Section]):
    """The byte-bounded first-in-first-out memory layer (module docstring). Trio thread only."""

    __slots__ = ()

    def __init__(self, limit: int = MEMORY_BYTES) -> None:
        super().__init__(limit, _cost)


SECTION_MEMORY = SectionMemory()
"""The process-wide memory layer, shared by every folder and session."""


def _keys(specs: Sequence[SectionSpec]) -> list[str | None]:
    return [spec.key for spec in specs]


def recall(
    cache: FolderHeaders, folder: Folder, uids: Sequence[int], specs: Sequence[SectionSpec]
) -> tuple[dict[int, Sections], list[int]]:
    """The messages whose every section the memory layer holds, and the UIDs still to read (UIDs the
    folder no longer knows among them: the reader reports them gone). A single selection the memory
    layer misses is narrowed from a wider one it holds (``_narrowed``)."""
    hits, missing = _recall(cache, folder, uids, specs)
    if hits or not missing or len(specs) != 1:
        return hits, missing
    return _narrowed(cache, folder, uids, specs[0])


def _narrowed(
    cache: FolderHeaders, folder: Folder, uids: Sequence[int], spec: SectionSpec
) -> tuple[dict[int, Sections], list[int]]:
    """Sections of ``spec`` cut from the memory layer's sections of a wider selection of the same
    messages (``spec.derivable_from``), and kept in memory under ``spec``'s own key: a client's second
    field list that is part of its first (a FETCH of From, Subject and Date after Thunderbird's
    message list) is answered without a thread hop, a header block or a file, as Dovecot answers any
    field its cache holds. The UIDs no wider selection holds are left to read."""
    key = spec.key
    if key is None:
        return {}, list(uids)
    get = cache.sections.get
    msgs = folder.msgs
    first = next((u for u in uids if u in msgs), None)
    for wider in cache.section_keys:
        if wider == key or not spec.derivable_from(wider):
            continue
        base = cache.section_base(folder, wider)
        if first is None or get(base | first) is None:
            continue
        hits: dict[int, Sections] = {}
        missing: list[int] = []
        for uid in uids:
            one = get(base | uid) if uid in msgs else None
            if one is None:
                missing.append(uid)
            else:
                hits[uid] = (spec.section_from(one),)
        remember(cache, folder, hits, (spec,))
        return hits, missing
    return {}, list(uids)


def _recall(
    cache: FolderHeaders, folder: Folder, uids: Sequence[int], specs: Sequence[SectionSpec]
) -> tuple[dict[int, Sections], list[int]]:
    known = cache.section_keys
    keys: list[str] = []
    for spec in specs:
        key = spec.key
        if key is None or key not in known:
            return {}, list(uids)
        keys.append(key)
    get = cache.sections.get
    bases = [cache.section_base(folder, key) for key in keys]
    msgs = folder.msgs
    hits: dict[int, Sections] = {}
    missing: list[int] = []
    if len(bases) == 1:  # the usual message list: one selection
        (base,) = bases
        for uid in uids:
            one = get(base | uid) if uid in msgs else None
            if one is None:
                if not hits:  # the first one missed: most likely all do (after a restart)
                    return hits, list(uids)
                missing.append(uid)
            else:
                hits[uid] = (one,)
        return hits, missing
    for uid in uids:
        found: list[Section] = []
        if uid in msgs:
            for base in bases:
                one = get(base | uid)
                if one is None:
                    break
                found.append(one)
        if len(found) == len(bases):
            hits[uid] = tuple(found)
        elif not hits:  # as above
            return hits, list(uids)
        else:
            missing.append(uid)
    return hits, missing


def remember(
    cache: FolderHeaders, folder: Folder, found: dict[int, Sections], specs: Sequence[SectionSpec]
) -> None:
    """Keep the sections just read or rendered in memory (not those of an empty header block, which
    are read again each time, like the block); a large batch with the collector paused (``BULK_MIN``)."""
    if len(found) < BULK_MIN:
        _remember(cache, folder, found, specs)
        return
    with collector_paused():
        _remember(cache, folder, found, specs)


def _remember(
    cache: FolderHeaders, folder: Folder, found: dict[int, Sections], specs: Sequence[SectionSpec]
) -> None:
    for i, key in enumerate(_keys(specs)):
        if key is None or not cache.may_remember_sections(key):
            continue
        base = cache.section_base(folder, key)
        cache.sections.put_many(
            (base | uid, sections[i])
            for uid, sections in found.items()
            if sections[i][1] > 0 and len(sections[i][0]) <= MAX_CACHED_BLOCK
        )


def _has_wider(sf: SectionFile, spec: SectionSpec) -> bool:
    """Whether the file holds a selection ``spec``'s sections can be cut from."""
    return any(wider != spec.key and spec.derivable_from(wider) for wider in sf.specs)


def _narrow_stored(sf: SectionFile, spec: SectionSpec, missing: list[int], into: dict[int, Section]) -> None:
    """Sections of ``spec`` the file lacks, cut from the rows of a wider selection it holds (as
    ``_narrowed`` does from memory, after a restart): no header block read, no render, and no row
    written (they can be cut again as cheaply as read)."""
    for wider, wider_id in list(sf.specs.items()):
        if not missing:
            return
        if wider == spec.key or not spec.derivable_from(wider):
            continue
        found = sf.get_sections(wider_id, missing)
        for uid, section in found.items():
            into[uid] = spec.section_from(section)
        missing = [u for u in missing if u not in found]


def read_locked(
    cache: FolderHeaders, folder: Folder, uids: Sequence[int], specs: Sequence[SectionSpec], reader: Reader
) -> dict[int, Sections]:
    """The sections of ``uids`` (gone ones left out): stored rows first, then rendered from the header
    blocks (header rows, then files) of the messages still missing one; new rows are stored in one
    transaction. A large request also gets the stored sections of the folder's next messages (at most
    ``READ_AHEAD_MAX``; more UIDs than asked for: the caller remembers them and returns only its own),
    with the collector paused (``BULK_MIN``). Worker thread, folder lock held."""
    if len(uids) < BULK_MIN:
        return _read_locked(cache, folder, uids, specs, reader)
    with collector_paused():
        return _read_locked(cache, folder, uids, specs, reader)


def _read_locked(
    cache: FolderHeaders, folder: Folder, uids: Sequence[int], specs: Sequence[SectionSpec], reader: Reader
) -> dict[int, Sections]:
    keys = _keys(specs)
    slot = cache.section_file
    sf = slot.open(folder) if any(k is not None for k in keys) else None
    ids: list[int | None] = [None] * len(keys)
    stored: list[dict[int, Section]] = [{} for _ in keys]
    known = [u for u in uids if u in folder.msgs]
    ahead: list[int] = []
    large = sf is not None and len(uids) >= READ_AHEAD_MIN and None not in keys
    repack = False  # the selection's pack is missing or stale (``_read_stored``)
    if large:
        top = max(uids)
        ahead = sorted(u for u in folder.msgs if u > top)[: READ_AHEAD_MAX // len(keys)]
    elif (
        sf is not None
        and len(keys) == 1
        and keys[0] is not None
        and keys[0] not in cache.cut_ahead
        and _has_wider(sf, specs[0])
    ):
        # A small request the memory layer missed, of a selection cut from a wider stored one: the
        # folder's other messages are cut now too (one hop, and what the memory layer keeps answers
        # the next windows without one), as Dovecot has its whole cache file mapped. Once per
        # folder and selection: a memory layer churned by other folders must not make every
        # small FETCH read the whole folder's rows.
        cache.cut_ahead.add(keys[0])
        asked = set(uids)
        ahead = sorted(u for u in folder.msgs if u not in asked)[:READ_AHEAD_MAX]
    if sf is not None:
        try:
            for i, key in enumerate(keys):
                if key is not None:
                    ids[i] = sid = sf.spec_id(key)
                    if known and large and len(keys) == 1 and len(folder.msgs) <= PACK_MAX_MESSAGES:
                        stored[i], repack = read_packed(sf, sid, key, known + ahead, len(folder.msgs))
                    elif known:
                        stored[i] = sf.get_sections(sid, known + ahead)
            if len(specs) == 1 and keys[0] is not None:
                lacking = [u for u in (*known, *ahead) if u not in stored[0]]
                _narrow_stored(sf, specs[0], lacking, stored[0])
        except sqlite3.Error as exc:
            slot.failed(exc, sf.path)
            sf = None
            ids = [None] * len(keys)
            stored = [{} for _ in keys]
    # The messages whose every section is stored need no header block (a message list after a
    # restart: all of them).
    complete: set[int] | dict[int, Section] = set()
    if keys and None not in keys:
        complete = stored[0] if len(stored) == 1 else set(stored[0]).intersection(*stored[1:])
    need = [u for u in uids if u not in complete]
    # What was read ahead and is complete goes back too, for the memory layer.
    ready = [u for u in ahead if u in complete]
    if not need:  # the usual case, in one comprehension
        if large and len(keys) == 1 and slot.file is sf:
            pack_at_sweep_end(cache, folder, uids, ahead, ids[0], keys[0], repack, grew=False)
        if len(stored) == 1:
            return {u: (stored[0][u],) for u in (*uids, *ready)}
        return {u: tuple(have[u] for have in stored) for u in (*uids, *ready)}
    blocks, _files, fill = cache.blocks_locked(folder, cache.open_file(folder), need, reader)
    out: dict[int, Sections] = {u: tuple(have[u] for have in stored) for u in ready}
    rows: list[SectionRow] = []
    for uid in uids:
        raw = blocks.get(uid)
        found: list[Section] = []
        for spec, spec_id, have in zip(specs, ids, stored, strict=True):
            one = have.get(uid)
            if one is None:
                if raw is None:
                    break  # gone
                one = spec.section(raw)
                if spec_id is not None and 0 < len(raw) <= MAX_CACHED_BLOCK:
                    rows.append((spec_id, uid, one[0], one[1]))
            found.append(one)
        else:
            out[uid] = tuple(found)
    if fill:
        cache.store_locked(folder, fill)
    if rows and sf is not None and slot.file is sf:
        try:
            sf.put(rows)
        except sqlite3.Error as exc:
            slot.failed(exc, sf.path)
    if large and len(keys) == 1 and slot.file is sf:
        pack_at_sweep_end(cache, folder, uids, ahead, ids[0], keys[0], repack, grew=bool(rows))
    return out
