"""Fill-ahead of the search-text cache: a large folder's texts are derived in the background after
it is opened, so even its first header SEARCH (after a restart, with a cold page cache) reads a few
hundred KB of texts instead of hundreds of header blocks (what Dovecot's cache of fetched header
fields gives it; ``searchcache`` holds the texts).

Theory of operation:

* ``fill_later`` runs when ``MaildirStore.open`` hands out a handle (Trio thread, no I/O): the first
  time in a process a folder is opened it spawns one background task (a Trio system task: it belongs
  to no session) and does nothing on later opens.
* The task first waits for the opening session's snapshot to load the folder, then opens the
  folder's cache file if there is one and asks the kernel to read it in the background
  (``prepare``: what Dovecot does with its cache file when a mailbox is opened), so a SEARCH right
  after SELECT finds the file open and its pages cached. It then goes on only if the folder holds at
  least ``FILL_MIN_MESSAGES`` (a smaller folder's first search derives its texts quickly enough) and its
  file lacks rows (one ``COUNT`` per field, after ``FILL_DELAY``, so that the session that opened the
  folder gets its first commands answered first: a restart of a filled folder costs that and no more).
* Otherwise it asks ``searchcache.header_texts`` for ``FILL_FIELDS`` of the newest
  ``FILL_MAX_MESSAGES`` messages in UID order, ``FILL_CHUNK`` at a time with a ``FILL_PAUSE`` between
  chunks, so it takes a fraction of a core and the event loop is never held for long. Texts already
  in the file are only read; missing ones are derived from the header blocks the handle reads (the
  header cache, or the files; for more than ``FILL_FILE_READS`` messages only the header cache) and
  written; the memory layer is not filled (a background fill must not
  push out what sessions use).
* Then, for a folder of ``FILL_MIN_MESSAGES`` to ``FILL_FILE_READS`` messages, ``fill_bodies`` gives
  every message the file has no body row for (SEARCH TEXT's: ``message.search_bodies``) one, reading
  ``FILL_BODY_CHUNK`` whole messages (at most ``FILL_BODY_BYTES``) per round with a ``FILL_PAUSE``
  between rounds, so the first SEARCH TEXT reads no attachment (a tenth of the messages, most of
  the octets) and classifies no message. A larger folder's rows are made by its searches.
* Every step (the start after ``FILL_DELAY``, each chunk or round after ``FILL_PAUSE``) also waits
  until no session has run a command for ``activity.QUIET_SECONDS``: the fill takes the event loop's
  idle moments, never a busy session's time (``activity``).
* It stops when the folder is closed or a new incarnation begins; an error ends it with a warning (the
  cache is never an error: searches derive what is missing).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import trio

from maildird import activity
from maildird.store.maildir import headercache, searchcache
from maildird.store.maildir.sync import Entry, Folder

log = logging.getLogger("maildird.store")

FILL_FIELDS = ("FROM", "TO", "CC", "SUBJECT")
"""The fields filled ahead: what clients search most (Thunderbird's quick filter: sender, recipients,
subject). Other cached fields are derived by the first search that asks for them."""

FILL_MIN_MESSAGES = 2000
"""Folders with fewer messages are not filled ahead: a first search derives their texts in ~10 ms."""

FILL_MAX_MESSAGES = 50_000
"""At most this many of a folder's newest messages are filled ahead (older ones on demand)."""

FILL_FILE_READS = 20_000
"""A fill of more messages than this reads only the header blocks the header cache holds (those a
header FETCH read: what Dovecot caches too), never message files: a first open of a 100,000-message
folder must not be followed by reading 100,000 files in the background."""

FILL_BODY_CHUNK = 64
"""Messages read whole and given body rows per round of ``fill_bodies`` (a round holds a worker
thread for ~10 ms, more with large attachments to parse)."""

FILL_BODY_BYTES = 8 << 20
"""Octets read per round of ``fill_bodies`` at most (a folder of large attachments)."""

FILL_DELAY = 1.0
"""Seconds after a folder is first opened before its fill starts."""

FILL_CHUNK = 256
"""Messages per round: a round holds the interpreter for a few milliseconds at most."""

FILL_PAUSE = 0.015
"""Seconds between rounds."""

LOAD_WAIT_SECONDS = 60.0
"""How long the task waits for the opening session's snapshot to load the folder (a first open of
100,000 messages takes seconds); a folder opened without one (an APPEND target) is left alone."""

LOAD_POLL_SECONDS = 0.02
"""How often it looks meanwhile."""


RowDeriver = Callable[[Mapping[int, bytes]], dict[int, bytes]]
"""uid -> message octets to uid -> body row (``message.search_bodies.derive_rows``)."""


class TextSource(Protocol):
    """What the fill reads header blocks through (``MaildirMailbox``)."""

    async def read_messages(self, uids: Sequence[int], *, header_only: bool = False) -> dict[int, bytes]: ...


_started: weakref.WeakSet[Folder] = weakref.WeakSet()


def default_recipe() -> searchcache.Recipe:
    """How SEARCH makes its texts (``message.search_fields``): imported here, late, as the store's one
    use of the message layer, so that the fill derives exactly what a search would."""
    from maildird.message.search_fields import RECIPE

    return RECIPE


def fill_later(folder: Folder, source: TextSource) -> None:
    """Start the folder's fill-ahead unless this process did already (module docstring)."""
    if folder in _started:
        return
    _started.add(folder)
    try:
        trio.lowlevel.spawn_system_task(fill_soon, folder, source, name="maildird search fill-ahead")
    except RuntimeError:  # no Trio run (a synchronous caller): nothing to fill with
        _started.discard(folder)


async def fill_soon(folder: Folder, source: TextSource) -> None:
    """``prepare``, then ``fill`` after ``FILL_DELAY``, then ``fill_bodies``; never raises."""
    try:
        if await prepare(folder) or folder.state is not None:
            await activity.wait_quiet(FILL_DELAY)
            await fill(folder, source)
            await fill_bodies(folder, source)
    except Exception:
        log.warning("search fill-ahead of %s stopped", folder.path, exc_info=True)


async def prepare(folder: Folder, recipe: searchcache.Recipe | None = None) -> bool:
    """Once the opening session's snapshot has loaded the folder, open its cache file if it has one
    and have the kernel read it in the background (``FolderTexts.prepare_locked``): Dovecot likewise
    opens its cache file with the mailbox. False when the folder did not load or has no usable file;
    no file is created here."""
    recipe = recipe or default_recipe()
    with trio.move_on_after(LOAD_WAIT_SECONDS):
        # Loaded: the opening snapshot has set the incarnation and is over (it holds the lock while
        # it reads the folder's messages).
        while folder.state is None or folder.lock.locked():
            await trio.sleep(LOAD_POLL_SECONDS)
    path = searchcache.file_of(folder) if not folder.lock.locked() else None
    if path is None:
        return False
    cache = searchcache.for_folder(folder)
    ident = searchcache.ident_of(folder, recipe)
    async with cache.lock:
        ready: bool = await trio.to_thread.run_sync(
            cache.prepare_locked, path, ident, limiter=searchcache.LIMITER
        )
    return ready


async def fill(folder: Folder, source: TextSource, recipe: searchcache.Recipe | None = None) -> int:
    """Fill the folder's texts (module docstring); returns how many messages were looked at."""
    recipe = recipe or default_recipe()
    path = searchcache.file_of(folder)
    if path is None or len(folder.msgs) < FILL_MIN_MESSAGES:
        return 0
    cache = searchcache.for_folder(folder)
    ident = searchcache.ident_of(folder, recipe)
    async with cache.lock:
        have = await trio.to_thread.run_sync(
            cache.least_count_locked, path, ident, FILL_FIELDS, limiter=searchcache.LIMITER
        )
    if have >= len(folder.msgs):
        return 0
    # Ascending: SQLite fills its pages best when keys come in order (a cold read then touches few).
    uids = sorted(folder.msgs)[-FILL_MAX_MESSAGES:]
    read = _reader(source) if len(uids) <= FILL_FILE_READS else _cached_reader(folder)
    done = 0
    for start in range(0, len(uids), FILL_CHUNK):
        if folder.state is None or searchcache.ident_of(folder, recipe) != ident:
            break  # closed, or a new incarnation: its own open starts again
        chunk = [u for u in uids[start : start + FILL_CHUNK] if u in folder.msgs]
        await searchcache.header_texts(folder, FILL_FIELDS, chunk, recipe, read, remember=False)
        done += len(chunk)
        await activity.wait_quiet(FILL_PAUSE)  # after a pause, when no session is busy
    return done


def default_rows() -> RowDeriver:
    """How SEARCH TEXT makes its body rows (``message.search_bodies.derive_rows``), imported late like
    ``default_recipe``."""
    from maildird.message.search_bodies import derive_rows

    return derive_rows


async def fill_bodies(
    folder: Folder,
    source: TextSource,
    recipe: searchcache.Recipe | None = None,
    derive: RowDeriver | None = None,
) -> int:
    """Derive the body rows of SEARCH TEXT (``searchcache.body_rows``) the folder's file lacks,
    in UID order, in rounds of messages read whole (``_rounds``; module docstring); returns
    how many messages were read. Rows a search wrote meanwhile are not derived again."""
    recipe = recipe or default_recipe()
    derive = derive or default_rows()
    count = len(folder.msgs)
    if searchcache.file_of(folder) is None or not FILL_MIN_MESSAGES <= count <= FILL_FILE_READS:
        return 0
    have = await searchcache.body_row_uids(folder, recipe)
    if have is None:
        return 0
    ident = searchcache.ident_of(folder, recipe)
    uids = [u for u in sorted(folder.msgs) if u not in have]
    done = 0
    for round_uids in _rounds(folder, uids):
        if folder.state is None or searchcache.ident_of(folder, recipe) != ident:
            break
        chunk = [u for u in round_uids if u in folder.msgs]
        _ident, known = await searchcache.body_rows(folder, chunk, recipe)
        chunk = [u for u in chunk if u not in known]  # a search derived them meanwhile
        if chunk:
            raws = {uid: raw for uid, raw in (await source.read_messages(chunk)).items() if raw}
            rows = await trio.to_thread.run_sync(derive, raws, limiter=searchcache.LIMITER)
            await searchcache.keep_body_rows(folder, ident, rows)
            done += len(chunk)
        await activity.wait_quiet(FILL_PAUSE)  # after a pause, when no session is busy
    return done


def _rounds(folder: Folder, uids: Sequence[int]) -> Iterator[list[int]]:
    """``uids`` in rounds of at most ``FILL_BODY_CHUNK`` messages and ``FILL_BODY_BYTES`` octets
    (the first message of a round counts whatever its size)."""
    batch: list[int] = []
    size = 0
    for uid in uids:
        rec = folder.msgs.get(uid)
        octets = rec.size if rec is not None else 0
        if batch and (len(batch) >= FILL_BODY_CHUNK or size + octets > FILL_BODY_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(uid)
        size += octets
    if batch:
        yield batch


def _reader(source: TextSource) -> searchcache.HeaderReader:
    async def read(uids: Sequence[int]) -> dict[int, bytes]:
        return await source.read_messages(uids, header_only=True)

    return read


def _no_file(path: Path, entry: Entry) -> bytes:
    return b""  # an empty block: left out, never cached


def _cached_reader(folder: Folder) -> searchcache.HeaderReader:
    """Header blocks the header cache holds (``headercache``: its memory, then its file, under the
    folder lock as ``MaildirMailbox.read_messages`` reads them); no message file is opened."""

    async def read(uids: Sequence[int]) -> dict[int, bytes]:
        cache = headercache.for_folder(folder)
        hits, missing = cache.recall(folder, uids)
        if missing:
            async with folder.lock:
                found, _files = await trio.to_thread.run_sync(
                    cache.read_locked, folder, missing, _no_file, limiter=searchcache.LIMITER
                )
            hits.update(found)
        return hits

    return read
