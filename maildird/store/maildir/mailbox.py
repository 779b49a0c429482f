"""``MaildirMailbox``: one open handle on a Maildir folder (``store.base.Mailbox``).

Theory of operation:

* Handles are light: the folder's state lives in one shared ``sync.Folder`` per folder path and
  process (``maildird.store.registry``), so 20 sessions on one INBOX share one rescan. ``readonly``
  belongs to the handle: an EXAMINE handle never moves new/ files and refuses STORE/EXPUNGE.
* Every operation takes the folder's ``trio.Lock`` and runs its file-system work in a worker thread
  (``trio.to_thread.run_sync`` with the module-level ``FS_LIMITER``); the blocking bodies of the
  writes (APPEND, STORE, EXPUNGE, COPY) live in ``operations``.
* One exception: ``snapshot``'s freshness check (``Folder.needs_sync``: a stat of new/, cur/,
  dovecot-uidlist and dovecot-keywords, no directory listing) runs on the event loop. It is what every
  command pays when nothing changed (``updates.flush`` asks for a snapshot after each one), and a
  worker-thread hand-off costs ten times those four system calls: with 8 busy clients the hand-off was
  the largest item of the server's profile. Only a sync that has work to do goes to a thread. On a
  local file system these stats answer from the inode cache; on NFS (maildir-format.md §5.5) they
  may wait for the server, as Dovecot's own per-command stats do. While the server watches the
  folder with inotify, the check draws the folder's watch token first (``maildird.watchproof``)
  and an unchanged token replaces the stats. When no operation holds the folder's lock, an
  unchanged folder is answered without taking it (no checkpoint): nothing else can touch the
  folder's memory while the Trio thread runs this synchronous check.
* A STORE on many messages silences the folder's inotify watch of new/ and cur/ while its worker
  thread renames (``watchproof.quiet``), so the event loop does not read its 20,000 events back one
  GIL hand-off at a time; lifting it draws a fresh token and wakes the folder's IDLE sessions.
* MOVE is COPY followed by the expunge of the sources (link + unlink: a crash in between leaves a
  duplicate, never a loss).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from maildird.store.base import (
    AppendResult,
    CopyResult,
    FlagOp,
    Mailbox,
    MessageGone,
    NewMessage,
    PermissionDenied,
    Snapshot,
    StoreResult,
)
from maildird.store.maildir import headercache, readers, searchcache, sectioncache, structcache
from maildird.store.maildir.flagstore import QUIET_MIN_MESSAGES
from maildird.store.maildir.fsthreads import run_fs
from maildird.store.maildir.lock import LockTimeout
from maildird.store.maildir.operations import (
    Prepared,
    _append,
    _discard,
    _expunge,
    _prepare_copy,
    _store,
    deliver,
)
from maildird.store.maildir.sync import Entry, Folder, crash_point, open_message
from maildird.watchproof import quiet as quiet_watch
from maildird.watchproof import token as watch_token

T = TypeVar("T")

HEADER_READ_CHUNK = 16 * 1024
"""Octets read at a time while looking for the end of a message's header (most headers fit in one)."""


def _read_whole(path: Path, entry: Entry) -> bytes:
    with open_message(path) as fh:
        return fh.read()


def _open_advised(path: Path, entry: Entry) -> BinaryIO:
    fh = open_message(path)
    with contextlib.suppress(OSError):
        os.posix_fadvise(fh.fileno(), 0, 0, os.POSIX_FADV_WILLNEED)
    return fh


def _read_batch(folder: Folder, uids: Sequence[int]) -> dict[int, bytes]:
    """Several messages' octets (gone ones left out). With more than one, every file of the batch is
    opened and announced to the kernel (``posix_fadvise`` WILLNEED starts all their reads at once)
    before any is read, so a cold batch waits for the disk about once, not once per file: a cold
    ``SEARCH TEXT`` reading the 10k INBOX in order took 0.90 s, 0.45 s with the advice."""
    out: dict[int, bytes] = {}
    if len(uids) < 2 or not hasattr(os, "posix_fadvise"):
        for uid in uids:
            try:
                out[uid] = folder.locate(uid, _read_whole)
            except MessageGone:
                continue
        return out
    handles: dict[int, BinaryIO] = {}
    try:
        for uid in uids:
            try:
                handles[uid] = folder.locate(uid, _open_advised)
            except MessageGone:
                continue
        for uid, fh in handles.items():
            out[uid] = fh.read()
    finally:
        for fh in handles.values():
            fh.close()
    return out


def header_end(data: bytes, start: int = 0) -> int:
    """The length of ``data``'s header block: up to and including the first empty line, LF or CRLF
    (RFC 5322 §2.1), or -1 when ``data`` holds no empty line. ``start`` is where to begin looking
    for the line end before the empty line (earlier data is known to hold none)."""
    if data.startswith(b"\n"):
        return 1
    if data.startswith(b"\r\n"):
        return 2
    lf = data.find(b"\n\n", start)
    # A CRLF empty line counts only if it ends before the first LF one does (an LF file holds none,
    # and must not be scanned to its end); "\n\r\n\n" ends at its CRLF empty line.
    crlf = data.find(b"\n\r\n", start, len(data) if lf < 0 else lf + 1)
    if crlf >= 0:
        return crlf + 3
    return -1 if lf < 0 else lf + 2


def _read_header(path: Path, entry: Entry) -> bytes:
    """The file's octets up to and including the first empty line (the whole file if it has none);
    what the header cache stores."""
    data = b""
    with open_message(path) as fh:
        while chunk := fh.read(HEADER_READ_CHUNK):
            start = max(0, len(data) - 2)  # an empty line may straddle two chunks
            data += chunk
            end = header_end(data, start)
            if end >= 0:
                return data[:end]
    return data


class MaildirMailbox(Mailbox):
    """A handle on a shared ``Folder`` (module docstring)."""

    def __init__(self, folder: Folder, name: str, *, readonly: bool, watch_key: str, on_close: Any = None):
        self._folder = folder
        self._name = name
        self._readonly = readonly
        self._watch_key = watch_key
        self._on_close = on_close
        self._closed = False

    @property
    def name(self) -> str:
        return self._name

    @property
    def readonly(self) -> bool:
        return self._readonly

    @property
    def watch_key(self) -> str:
        return self._watch_key

    @property
    def folder(self) -> Folder:
        return self._folder

    def _check_writable(self) -> None:
        if self._readonly:
            raise PermissionDenied("the mailbox is open read-only")

    async def snapshot(self, *, claim_recent: bool = False) -> Snapshot:
        claim = claim_recent and not self._readonly
        f = self._folder
        if not f.lock.locked() and not f.needs_sync(claim_recent=claim, watched=watch_token(self._watch_key)):
            # Nothing holds the folder and nothing changed: no lock, no checkpoint (module docstring).
            return self._unchanged(claim)
        async with f.lock:
            watched = watch_token(self._watch_key)  # drawn before the check and the sync (sync.py)
            if not f.needs_sync(claim_recent=claim, watched=watched):
                # The quick check runs on the event loop (module docstring): nothing to sync.
                return self._unchanged(claim)

            def work() -> Snapshot:
                recent: frozenset[int] = frozenset()
                try:
                    with f.dotlock():
                        recent = f.sync_locked(claim_recent=claim, watched=watched)
                except LockTimeout:
                    if f.uidlist is None:
                        raise
                    # Dovecot goes on "showing only old mails" when a live lock stays (E5e).
                if claim or self._readonly:
                    recent = f.recent_uids(recent, claim=claim)
                return f.snapshot(recent)

            result: Snapshot = await run_fs(work)
            return result

    def _unchanged(self, claim: bool) -> Snapshot:
        """The snapshot when the quick check found nothing to sync."""
        f = self._folder
        return f.snapshot(f.recent_uids(frozenset(), claim=claim) if claim or self._readonly else frozenset())

    async def append(self, messages: Sequence[NewMessage]) -> AppendResult:
        async with self._folder.lock:
            result: AppendResult = await run_fs(_append, self._folder, messages)
            self._folder.unclaimed.update(result.uids)  # \Recent to the next session (RFC 3501 §6.3.11)
            return result

    async def store_flags(
        self, uids: Sequence[int], op: FlagOp, flags: frozenset[str], *, unchanged_since: int | None = None
    ) -> StoreResult:
        self._check_writable()
        f, key = self._folder, self._watch_key
        async with f.lock:
            watched = watch_token(key)  # drawn before _store's freshness check (sync.py)
            # A large batch silences the folder's watch while it renames (flagstore.QUIET_MIN_MESSAGES).
            quiet = quiet_watch(key) if len(uids) >= QUIET_MIN_MESSAGES else contextlib.nullcontext()
            with quiet:
                result: StoreResult = await run_fs(_store, f, uids, op, flags, unchanged_since, watched)
            return result

    async def expunge(self, uids: Sequence[int] | None = None) -> tuple[int, ...]:
        self._check_writable()
        return await self._expunge(uids, require_deleted=True)

    async def _expunge(self, uids: Sequence[int] | None, *, require_deleted: bool) -> tuple[int, ...]:
        """EXPUNGE (or MOVE's removal of the sources), then drop the removed UIDs' cached headers and
        structures."""
        f = self._folder
        cache = headercache.for_folder(f)
        structs = structcache.for_folder(f)
        async with f.lock:

            def work() -> tuple[int, ...]:
                removed = _expunge(f, uids, require_deleted)
                cache.forget_locked(f, removed)
                structs.forget_locked(f, removed)
                return removed

            result: tuple[int, ...] = await run_fs(work)
            cache.forget_memory(f, result)
            structs.forget_memory(f, result)
            return result

    async def copy(self, uids: Sequence[int], dest: Mailbox) -> CopyResult:
        if not isinstance(dest, MaildirMailbox):
            return await self._copy_generic(uids, dest)
        src, dst = self._folder, dest._folder
        async with src.lock:

            def prepare() -> list[tuple[int, Prepared]]:
                if src.needs_sync(claim_recent=False):
                    with src.dotlock():
                        src.sync_locked(claim_recent=False)
                return _prepare_copy(src, uids, dst.path, dst.fsync)

            prepared: list[tuple[int, Prepared]] = await run_fs(prepare)
        if not prepared:
            return CopyResult(dst.uidvalidity, ())
        crash_point("copy:after-link")
        async with dst.lock:
            try:
                new_uids: tuple[int, ...] = await run_fs(deliver, dst, [p for _, p in prepared], "copy")
            except BaseException:
                _discard([p for _, p in prepared])
                raise
            uidvalidity = dst.uidvalidity
            dst.unclaimed.update(new_uids)  # copies are \Recent in their new mailbox (RFC 3501 §6.4.7)
        pairs = tuple(zip((u for u, _ in prepared), new_uids, strict=True))
        return CopyResult(uidvalidity, pairs)

    async def _copy_generic(self, uids: Sequence[int], dest: Mailbox) -> CopyResult:
        snap = await self.snapshot()
        wanted = set(uids)
        msgs = [m for m in snap.messages if m.uid in wanted]
        new = [NewMessage(await self.read_message(m.uid), m.flags, m.internaldate) for m in msgs]
        res = await dest.append(new)
        return CopyResult(res.uidvalidity, tuple(zip((m.uid for m in msgs), res.uids, strict=True)))

    async def move(self, uids: Sequence[int], dest: Mailbox) -> CopyResult:
        self._check_writable()
        result = await self.copy(uids, dest)
        crash_point("move:after-copy")
        moved = [src for src, _ in result.pairs]
        if moved:
            await self._expunge(moved, require_deleted=False)
        return result

    async def read_message(self, uid: int) -> bytes:
        f = self._folder
        async with f.lock:

            def read(path: Path, entry: Entry) -> bytes:
                with open_message(path) as fh:
                    return fh.read()

            data: bytes = await run_fs(f.locate, uid, read)
            return data

    async def read_messages(self, uids: Sequence[int], *, header_only: bool = False) -> dict[int, bytes]:
        """Several messages' octets in one worker-thread hop under one lock (a FETCH of many
        messages paid a thread hand-off and a lock per file: a quarter of a header fetch). With
        ``header_only`` each message's header block (up to and including the blank line that ends
        it) comes from the header cache (``headercache``: memory, then its SQLite file) or, on a
        miss, from the file, read only that far, and is then cached. Messages gone meanwhile are
        left out; other store errors propagate. The hop goes to ``readers``' dedicated threads, half
        the cost of ``run_fs``'s: a client opening messages one by one waits for one per command."""
        f = self._folder
        if header_only:
            return await self._read_headers(uids)
        async with f.lock:
            return await readers.run(_read_batch, f, uids)

    async def _read_headers(self, uids: Sequence[int]) -> dict[int, bytes]:
        f = self._folder
        cache = headercache.for_folder(f)
        hits, missing = cache.recall(f, uids)
        if not missing:  # all in memory: no lock, no thread hop
            return hits
        async with f.lock:
            read: dict[int, bytes]
            files: list[int]
            read, files = await run_fs(cache.read_locked, f, missing, _read_header)
        cache.remember(f, read, files)
        if not hits:
            return read
        hits.update(read)
        return {uid: hits[uid] for uid in uids if uid in hits}

    async def header_texts(
        self, fields: Sequence[str], uids: Sequence[int], recipe: searchcache.Recipe
    ) -> dict[str, searchcache.Texts]:
        """Per field, the SEARCH texts ``recipe`` derives from each message's header block, cached
        in memory and beside the sidecar (``searchcache``); unreadable messages are left out."""
        return await searchcache.header_texts(self._folder, fields, uids, recipe, self._read_headers)

    async def search_rows(
        self, uids: Sequence[int], recipe: searchcache.Recipe
    ) -> tuple[searchcache.Ident, dict[int, bytes]]:
        """SEARCH TEXT's body rows for ``uids`` kept beside the sidecar (``searchcache.body_rows``),
        with the incarnation they belong to (for ``keep_search_rows``)."""
        return await searchcache.body_rows(self._folder, uids, recipe)

    async def keep_search_rows(self, ident: searchcache.Ident, rows: Mapping[int, bytes]) -> None:
        """Keep body rows a SEARCH derived (``searchcache.keep_body_rows``)."""
        await searchcache.keep_body_rows(self._folder, ident, rows)

    def structures(self) -> structcache.FolderAccess:
        """The folder's cache of serialized ENVELOPE/BODY/BODYSTRUCTURE (``store.structs``,
        ``structcache``), for ``handlers.fetch_structs``."""
        return structcache.access(self._folder)

    async def read_sections(
        self, uids: Sequence[int], specs: Sequence[sectioncache.SectionSpec]
    ) -> dict[int, sectioncache.Sections]:
        """Header sections of several messages (FETCH's ``BODY[HEADER.FIELDS (...)]``), rendered by
        ``specs`` from the header blocks ``read_messages(..., header_only=True)`` gives, in the order of
        ``specs``: from the section cache (``sectioncache``: memory without a lock or a thread hop, then
        the header cache file) or rendered and cached. Messages gone meanwhile are left out."""
        f = self._folder
        cache = headercache.for_folder(f)
        hits, missing = sectioncache.recall(cache, f, uids, specs)
        if not missing:
            return hits
        async with f.lock:
            read: dict[int, sectioncache.Sections]
            read = await run_fs(sectioncache.read_locked, cache, f, missing, specs, _read_header)
        sectioncache.remember(cache, f, read, specs)  # with what was read ahead (read_locked)
        hits.update(read)
        return {uid: hits[uid] for uid in uids if uid in hits}

    async def expunged_since(self, modseq: int) -> tuple[int, ...] | None:
        f = self._folder
        async with f.lock:
            if f.state is None:
                return None
            result: tuple[int, ...] | None = await run_fs(f.state.expunged_since, modseq)
            return result

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._on_close is not None:
            await self._on_close(self)
        f = self._folder
        cache = headercache.existing(f)
        if cache is not None and cache.is_open and f.state is None:
            # The registry closed the folder: close its header cache file too.
            async with f.lock:
                await run_fs(cache.close)
        structs = structcache.existing(f)
        if structs is not None and structs.is_open and f.state is None:
            await run_fs(structs.close)  # the registry closed the folder: close this file too
