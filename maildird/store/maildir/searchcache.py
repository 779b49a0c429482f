"""The search-text cache: per message, the texts SEARCH compares a header key against (RFC 9051 §6.4.4:
FROM, TO, CC, BCC, SUBJECT... decoded and case-folded), so a header SEARCH reads and decodes no header
block once a message's texts are known (what Dovecot answers from its ``dovecot.index.cache``).

Theory of operation:

* The store does not know how a text is made: the caller passes a ``Recipe`` (``derive`` turns header
  blocks into one text per field, or None for a message without that field; ``version`` names the
  derivation). The cache keeps what ``derive`` returned per ``(mailbox GUID, UIDVALIDITY, field, UID)``.
  A Maildir message file never changes its content, so a text never goes stale; UIDs are never reused
  within one UIDVALIDITY, so a row left by an expunge can never be served for another message.
* Lookup order for one request: the memory layer (Trio thread, no I/O, no lock); then the cache file
  (one worker-thread hop for all the misses); then the header blocks of what is still missing, read by
  the caller's reader (``MaildirMailbox.read_messages(header_only=True)``: the header cache, or the
  files), derived and written to the file in one more hop. A message whose header reads as empty (gone,
  or a broken file) is left out of the answer: the caller decides those the slow way.
* Memory layer (``searchmemory``): per folder and field a dict uid -> text, in a process-wide LRU
  of such tables bounded by ``MEMORY_BYTES`` (text length plus ``ENTRY_OVERHEAD`` per entry); a table
  that alone would pass the bound stops growing (its misses are read from the file each time).
  Touched from the Trio thread only.
* Disk layer (``searchfile``): ``<guid>.search.db`` beside the sidecar (``drop_state`` removes it
  with the mailbox, and ``reindex`` with the whole state directory), WAL, ``synchronous=NORMAL``: a
  lost tail loses cache rows, nothing else. Rows are clustered by (field, uid), so one field's texts
  for a UID range are contiguous pages: a SEARCH after a restart with a cold page cache reads a few
  hundred KB. Any difference in schema, GUID, UIDVALIDITY or recipe version empties the file. Rows of
  UIDs the folder no longer knows are deleted the first time a process writes to the file (a scan of
  the file: not on the read path of a SEARCH). ``searchfill`` opens the file when the folder is
  opened and fills large folders ahead of their first SEARCH.
* Failure (``FolderTexts``, searchfolder.py): the cache is never an error to the client. A file
  SQLite finds damaged is deleted (rebuilt by later searches); any other SQLite or OS error turns the
  file off for ``RETRY_SECONDS``, and texts are derived from header blocks meanwhile.
  Texts longer than ``MAX_CACHED_TEXT`` are not cached.
* Body rows (SEARCH TEXT/BODY, ``message.search_bodies``): the same file holds one opaque row per
  UID; ``body_rows`` reads those of a set of UIDs, ``keep_body_rows`` writes rows a search or the
  fill-ahead derived (dropped when the folder's incarnation changed meanwhile). No memory layer:
  a SEARCH TEXT reads them once, and they are a few hundred bytes per message.
* Threads: the file is used in worker threads under the cache's own ``trio.Lock`` (not the folder's:
  a search need not wait for a sync); the folder's GUID and UIDVALIDITY are read in the Trio thread,
  and derived texts are kept only if they did not change while the blocks were read.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

import trio

from maildird.store.maildir.searchfile import (
    CACHE_SUFFIX,
    MAX_CACHED_TEXT,
    TextFile,
    cache_path,
)
from maildird.store.maildir.searchfolder import FolderTexts, Recipe
from maildird.store.maildir.searchmemory import ENTRY_OVERHEAD, MEMORY, Ident, MemoryLayer, Texts
from maildird.store.maildir.sync import Folder

__all__ = [
    "CACHE_SUFFIX",
    "ENTRY_OVERHEAD",
    "LIMITER",
    "MAX_CACHED_TEXT",
    "MEMORY",
    "FolderTexts",
    "HeaderReader",
    "Ident",
    "MemoryLayer",
    "Recipe",
    "TextFile",
    "Texts",
    "body_row_uids",
    "body_rows",
    "cache_path",
    "file_of",
    "for_folder",
    "header_texts",
    "ident_of",
    "keep_body_rows",
]

log = logging.getLogger("maildird.store")


THREADS = 4
"""Worker threads doing search-cache work at once, over all folders of the process."""
LIMITER = trio.CapacityLimiter(THREADS)

HeaderReader = Callable[[Sequence[int]], Awaitable[dict[int, bytes]]]


_by_folder: weakref.WeakKeyDictionary[Folder, FolderTexts] = weakref.WeakKeyDictionary()
_next_token = iter(range(1, 1 << 62))


def for_folder(folder: Folder) -> FolderTexts:
    """The search-text cache of ``folder``, made on first use (Trio thread: no I/O)."""
    cache = _by_folder.get(folder)
    if cache is None:
        cache = _by_folder[folder] = FolderTexts(next(_next_token))
    return cache


def existing(folder: Folder) -> FolderTexts | None:
    return _by_folder.get(folder)


def ident_of(folder: Folder, recipe: Recipe) -> Ident:
    """What the folder's texts belong to now (Trio thread)."""
    return (folder.guid or "", folder.uidvalidity, recipe.version)


def file_of(folder: Folder) -> Path | None:
    """The folder's cache file, or None (no on-disk sidecar, or no GUID yet)."""
    state = folder.state
    return cache_path(state.path) if state is not None and folder.guid is not None else None


def _own(out: dict[str, Texts], uids: Sequence[int], cache: FolderTexts, ident: Ident) -> None:
    """Replace the memory tables in ``out`` by copies of their ``uids`` before ``out`` is added to."""
    for field, texts in out.items():
        if texts is cache.memory.table((cache.token, ident, field)):
            out[field] = {uid: texts[uid] for uid in uids if uid in texts}


async def header_texts(
    folder: Folder,
    fields: Sequence[str],
    uids: Sequence[int],
    recipe: Recipe,
    read: HeaderReader,
    *,
    remember: bool = True,
) -> dict[str, Texts]:
    """The texts of ``fields`` for ``uids`` (module docstring): for every field, a dict holding each
    UID whose header could be read (and maybe others: a memory table that holds every UID asked for
    is returned as it is, not copied; the caller only reads it, and before its next checkpoint); gone
    or empty ones are left out of every field's dict. Without ``remember`` (the background fill,
    ``searchfill``) the memory layer is only read, not filled."""
    cache = for_folder(folder)
    ident = ident_of(folder, recipe)
    out: dict[str, Texts] = {}
    missing: set[int] = set()
    asked = set(uids)
    for field in fields:
        table = cache.memory.table((cache.token, ident, field))
        if table is None:
            out[field] = {}
            missing |= asked
        elif table.keys() >= asked:
            out[field] = table
        else:
            out[field] = {uid: table[uid] for uid in uids if uid in table}
            missing |= asked - table.keys()
    if not missing:
        return out
    path = file_of(folder)

    def live() -> set[int]:
        return set(folder.msgs)  # one C-level copy: atomic under the GIL

    wanted = sorted(missing)
    if path is not None:
        async with cache.lock:
            loaded = await trio.to_thread.run_sync(
                cache.load_locked, path, ident, fields, wanted, limiter=LIMITER
            )
        _own(out, uids, cache, ident)
        for field, texts in loaded.items():
            out[field].update(texts)
            if remember:
                cache.memory.add((cache.token, ident, field), texts)
        wanted = [u for u in wanted if any(u not in out[f] for f in fields)]
    if not wanted:
        return out
    blocks = {uid: raw for uid, raw in (await read(wanted)).items() if raw}
    if not blocks:
        return out
    # Blocks read after a new incarnation began are derived for this answer but not kept.
    keep = ident_of(folder, recipe) == ident
    async with cache.lock:
        derived = await trio.to_thread.run_sync(
            cache.derive_locked, path if keep else None, ident, live, recipe, blocks, fields, limiter=LIMITER
        )
    _own(out, uids, cache, ident)
    for field, texts in derived.items():
        out[field].update(texts)
        if keep and remember:
            cache.memory.add((cache.token, ident, field), texts)
    return out


# Body rows (SEARCH TEXT/BODY: ``message.search_bodies``): opaque octets per UID, in the same file.


async def body_rows(folder: Folder, uids: Sequence[int], recipe: Recipe) -> tuple[Ident, dict[int, bytes]]:
    """The body rows the folder's file holds for ``uids`` (one worker-thread hop), with the
    incarnation they belong to (give it back to ``keep_body_rows``). Empty without a usable file."""
    ident = ident_of(folder, recipe)
    path = file_of(folder)
    if path is None or not uids:
        return ident, {}
    cache = for_folder(folder)
    async with cache.lock:
        rows: dict[int, bytes] = await trio.to_thread.run_sync(
            cache.rows_locked, path, ident, uids, limiter=LIMITER
        )
    return ident, rows


async def body_row_uids(folder: Folder, recipe: Recipe) -> set[int] | None:
    """The UIDs the folder's file holds body rows for; None without a usable file."""
    path = file_of(folder)
    if path is None:
        return None
    cache = for_folder(folder)
    ident = ident_of(folder, recipe)
    async with cache.lock:
        found: set[int] | None = await trio.to_thread.run_sync(
            cache.row_uids_locked, path, ident, limiter=LIMITER
        )
    return found


async def keep_body_rows(folder: Folder, ident: Ident, rows: Mapping[int, bytes]) -> None:
    """Write body rows derived from messages of incarnation ``ident`` (``body_rows`` gave it); rows of
    an incarnation that is over are dropped (their UIDs may mean other messages now)."""
    path = file_of(folder)
    if path is None or not rows or ident_of_version(folder, ident[2]) != ident:
        return
    cache = for_folder(folder)

    def live() -> set[int]:
        return set(folder.msgs)

    async with cache.lock:
        await trio.to_thread.run_sync(cache.put_rows_locked, path, ident, live, rows, limiter=LIMITER)


def ident_of_version(folder: Folder, version: str) -> Ident:
    """``ident_of`` for a recipe known by its version."""
    return (folder.guid or "", folder.uidvalidity, version)
