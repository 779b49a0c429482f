"""A selection's pack of stored sections (``sectionpack``: one blob instead of 10,000 rows): when a
message list reads it and when the end of a sweep writes it (``sectioncache.read_locked``).

Theory of operation: a pack is a copy of rows, which never change under their (selection, UID), so it
is never wrong, only short of new mail or holding expunged messages; only UIDs the folder knows are
taken from it (``read_packed``). It is written again when more than ``PACK_STALE`` of it is stale,
by the request whose messages reach the folder's last one (``pack_at_sweep_end``), and only for
folders of at most ``PACK_MAX_MESSAGES``. Runs in a worker thread with the folder lock held.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING

from maildird.store.maildir.sectionfile import MAX_SPECS, Section, SectionFile

if TYPE_CHECKING:
    from maildird.store.maildir.headercache import FolderHeaders
    from maildird.store.maildir.sync import Folder

PACK_MAX_MESSAGES = 16384
"""Folders of at most this many messages keep packs: a large request reads the stored sections of the
whole folder then (its read-ahead, ``sectioncache.READ_AHEAD_MAX``, the same number), so the whole
pack is used. A larger folder's request would decode
a pack of every message to use a part of it; it reads the rows."""

UNPACKED_MAX = 4 * MAX_SPECS
"""Selections a folder remembers as not worth packing at its message count (``FolderHeaders.unpacked``);
past this the memory is forgotten (keys of selections the file no longer keeps: a client sending ever
new field lists), at the cost of one more look at the stored rows per selection."""

PACK_STALE = 0.1
"""A selection's pack (``sectionpack``) is written again at the end of a sweep when more than this
share of the sections read lacked from it (mail that came since) or of its entries are of messages the
folder no longer has (expunged since)."""


def read_packed(
    sf: SectionFile, spec: int, key: str, wanted: list[int], present: int
) -> tuple[dict[int, Section], bool]:
    """The stored sections of ``wanted`` (UIDs the folder knows) from the selection's pack, those it
    lacks from the rows; and whether the pack is missing or stale (``PACK_STALE``; ``present`` is the
    folder's message count). Only ``wanted`` UIDs are taken from the pack: it may still hold messages
    expunged since it was written, which are never served."""
    packed = sf.get_pack(spec, key)
    if packed is None:
        return sf.get_sections(spec, wanted), True
    get = packed.get
    found: dict[int, Section] = {}
    rest: list[int] = []
    for uid in wanted:
        one = get(uid)
        if one is None:
            rest.append(uid)
        else:
            found[uid] = one
    if rest:
        found.update(sf.get_sections(spec, rest))
    stale = len(rest) > PACK_STALE * len(wanted) or len(packed) > (1 + PACK_STALE) * present
    return found, stale


def pack_at_sweep_end(
    cache: FolderHeaders,
    folder: Folder,
    uids: Sequence[int],
    ahead: list[int],
    spec: int | None,
    key: str | None,
    repack: bool,
    *,
    grew: bool,
) -> None:
    """Write the selection's pack when it is missing or stale and this request reached the folder's
    last message (the last round of a message list: its rows are all stored now, the first list's
    included), from the stored rows of the messages the folder has. Nothing when fewer than all but
    ``PACK_STALE`` of them have a row (a list still filling them, or many messages without a
    cacheable header); when this request stored no new row (``grew``), not tried again until the
    folder's message count changes."""
    slot = cache.section_file
    sf = slot.file
    if not repack or sf is None or spec is None or key is None:
        return
    count = len(folder.msgs)
    if not count or count > PACK_MAX_MESSAGES or (not grew and cache.unpacked.get(key) == count):
        return
    # A request that stored rows counts only when its own messages reach the end (the last round of
    # a list filling the file); one that only read, also through what it read ahead.
    reached = max(uids) if grew or not ahead else ahead[-1]
    if reached < max(folder.msgs):
        return
    try:
        rows = sf.all_sections(spec)
        msgs = folder.msgs
        keep = {uid: section for uid, section in rows.items() if uid in msgs}
        if len(keep) >= (1 - PACK_STALE) * count:
            sf.put_pack(spec, key, keep)
            cache.unpacked.pop(key, None)
        elif not grew:
            if len(cache.unpacked) >= UNPACKED_MAX:  # keys of selections the file no longer keeps
                cache.unpacked.clear()
            cache.unpacked[key] = count
    except sqlite3.Error as exc:
        slot.failed(exc, sf.path)


__all__ = ["PACK_MAX_MESSAGES", "PACK_STALE", "UNPACKED_MAX", "pack_at_sweep_end", "read_packed"]
