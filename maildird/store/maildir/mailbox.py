"""``MaildirMailbox``: one open handle on a Maildir folder (``store.base.Mailbox``).

Theory of operation:

* Handles are light: the folder's state lives in one shared ``sync.Folder`` per folder path and
  process (``maildird.store.registry``), so 20 sessions on one INBOX share one rescan. ``readonly``
  belongs to the handle: an EXAMINE handle never moves new/ files and refuses STORE/EXPUNGE.
* Every operation takes the folder's ``trio.Lock`` and runs its file-system work in a worker thread
  (``trio.to_thread.run_sync`` with the module-level ``FS_LIMITER``); the blocking bodies below
  (``_append``, ``_store``, ``_expunge``, ``_prepare_copy``) take ``dovecot-uidlist.lock`` and start
  with a locked sync, so memory matches the disk before anything changes.
* APPEND (maildir-format.md §1.2, §3.4 "order when saving"): each message is written to the folder's
  tmp/ (``O_EXCL``, fsync, mtime = INTERNALDATE) before the lock is taken; then under the lock the
  files are renamed into new/ (no flags) or cur/ (``:2,<flags>``), the directories fsynced and the
  uidlist records appended. A failure before the records are written removes every published file:
  all or nothing (RFC 3502). ENOSPC becomes ``NoSpace``. A crash after a rename but before the record
  leaves a file without UID, which the next sync numbers: nothing lost, no UID reused.
* COPY (§4.1, §8.11): every source file is hard-linked (a real copy across file systems) into the
  destination's tmp/ under a FRESH base name that keeps ``,S=``/``,W=``; then the destination
  delivers them like APPEND, translating keyword names to its own dovecot-keywords letters.
  MOVE is COPY followed by the expunge of the sources (link + unlink: a crash in between leaves a
  duplicate, never a loss).
* STORE renames files under the lock in one batch; ENOENT means someone renamed the file, so it is
  looked up again (``Folder.locate``) and the operation re-applied to the flags found.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import trio

from maildird.store.base import (
    AppendResult,
    CopyResult,
    FlagOp,
    LimitExceeded,
    Mailbox,
    MessageGone,
    NewMessage,
    NoSpace,
    PermissionDenied,
    Snapshot,
    StoreError,
    StoreResult,
)
from maildird.store.maildir.filenames import is_system_flag, new_base_name, parse_name, with_flags
from maildird.store.maildir.keywords import Keywords
from maildird.store.maildir.lock import LockTimeout, dir_file_mode, fsync_dir
from maildird.store.maildir.state import Record, next_modseq
from maildird.store.maildir.sync import Entry, Folder, crash_point, crlf_size, open_message
from maildird.store.maildir.uidlist import UidRecord

T = TypeVar("T")

FS_THREADS = 8
"""Worker threads doing Maildir file-system work at once, over all folders of the process."""
FS_LIMITER = trio.CapacityLimiter(FS_THREADS)
RECENT_FLAG = "\\recent"


async def run_fs(fn: Any, *args: Any) -> Any:
    """Run blocking file-system work in a worker thread under the module limiter."""
    return await trio.to_thread.run_sync(partial(fn, *args), limiter=FS_LIMITER)


@dataclass(frozen=True, slots=True)
class Prepared:
    """A message file sitting in the destination's tmp/, ready to be delivered."""

    tmp: Path
    base: str
    flags: frozenset[str]
    size: int
    mtime_ns: int
    guid: str | None = None
    """For a copy: the source's message GUID, kept as the uidlist ``G`` extension (§3.3.2)."""


def _split_flags(flags: frozenset[str]) -> tuple[frozenset[str], frozenset[str]]:
    """(system flag names incl. $Forwarded, keywords); ``\\Recent`` is dropped (session state)."""
    system = frozenset(f for f in flags if is_system_flag(f))
    keywords = frozenset(f for f in flags if not is_system_flag(f) and f.lower() != RECENT_FLAG)
    return system, keywords


def _nospace(exc: OSError) -> StoreError | OSError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return NoSpace("the disk is full; nothing was stored")
    return exc


def _write_tmp(folder: Path, data: bytes, mtime_ns: int, fsync: bool) -> Prepared:
    """Write one message into ``folder/tmp`` (O_EXCL, fsync, mtime = INTERNALDATE)."""
    base = new_base_name(len(data), crlf_size(data))
    path = folder / "tmp" / base
    # Mode from the folder directory (& 0666), as Dovecot's mailbox_get_permissions (§3.4).
    mode = dir_file_mode(folder)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if fsync:
            os.fsync(fd)
        os.utime(fd, ns=(mtime_ns, mtime_ns))
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    os.close(fd)
    return Prepared(path, base, frozenset(), crlf_size(data), mtime_ns)


def _discard(items: Sequence[Prepared]) -> None:
    for it in items:
        with contextlib.suppress(OSError):
            os.unlink(it.tmp)


def allocate_letters(folder: Folder, keywords: frozenset[str]) -> frozenset[str]:
    """The letters of these keywords, allocating new ones (under the lock). On ``KeywordLimit``
    nothing stays allocated: the mapping is re-read, so no keyword without a file is recorded."""
    try:
        return frozenset(c for k in sorted(keywords) if (c := folder.keywords.letter_for(k, allocate=True)))
    except LimitExceeded:
        folder.keywords = Keywords.load(folder.path)
        raise


def deliver(folder: Folder, items: Sequence[Prepared], step: str) -> tuple[int, ...]:
    """Publish tmp/ files with UIDs under the lock (blocking; hold ``folder.lock``). All or nothing."""
    with folder.dotlock():
        folder.refresh_locked()
        assert folder.uidlist is not None
        targets: list[tuple[Prepared, Entry]] = []
        for it in items:
            system, keywords = _split_flags(it.flags)
            letters = allocate_letters(folder, keywords)
            if system or letters:
                targets.append((it, Entry(with_flags(parse_name(it.base), system, letters), False)))
            else:
                targets.append((it, Entry(it.base, True)))  # "files in new/ can't have flags"
        if folder.keywords.dirty:
            folder.keywords.save(folder.path, fsync=folder.fsync)
        crash_point(f"{step}:before-rename")
        published: list[Path] = []
        ul = folder.uidlist
        first = max(ul.effective_next_uid, folder.max_uid + 1)
        records = [
            UidRecord(first + i, it.base, (("G", it.guid),) if it.guid else ())
            for i, (it, _) in enumerate(targets)
        ]
        try:
            for it, entry in targets:
                dest = entry.path(folder.path)
                os.rename(it.tmp, dest)
                published.append(dest)
            if folder.fsync:
                for sub in {"new" if e.in_new else "cur" for _, e in targets}:
                    fsync_dir(folder.path / sub)
            crash_point(f"{step}:after-rename")
            folder.uidlist = folder._write_records(ul, [*ul.records, *records], dropped=False)
        except OSError as exc:
            for path in published:
                with contextlib.suppress(OSError):
                    os.unlink(path)
            raise _nospace(exc) from exc
        crash_point(f"{step}:after-record")
        modseq = next_modseq(folder.highestmodseq)
        upserts = [
            Record(rec.uid, rec.base, entry.name, entry.in_new, it.size, it.mtime_ns, modseq)
            for rec, (it, entry) in zip(records, targets, strict=True)
        ]
        folder._apply(upserts, [], modseq)
        folder.persist(upserts, [])
        return tuple(r.uid for r in records)


def _append(folder: Folder, messages: Sequence[NewMessage]) -> AppendResult:
    prepared: list[Prepared] = []
    try:
        for msg in messages:
            when = msg.internaldate or datetime.now(UTC)
            mtime_ns = int(when.timestamp()) * 1_000_000_000
            it = _write_tmp(folder.path, msg.data, mtime_ns, folder.fsync)
            prepared.append(replace(it, flags=msg.flags))
        crash_point("append:after-tmp")
        uids = deliver(folder, prepared, "append")
    except OSError as exc:
        _discard(prepared)
        raise _nospace(exc) from exc
    except BaseException:
        _discard(prepared)
        raise
    return AppendResult(folder.uidvalidity, uids)


def _store(
    folder: Folder, uids: Sequence[int], op: FlagOp, flags: frozenset[str], unchanged_since: int | None
) -> StoreResult:
    system, keywords = _split_flags(flags)
    with folder.dotlock():
        folder.refresh_locked()
        kw = folder.keywords
        if op == "remove":
            letters = frozenset(c for k in keywords if (c := kw.letter_for(k)) is not None)
        else:  # the 27th keyword raises KeywordLimit here, before any file is renamed
            letters = allocate_letters(folder, keywords)
        if kw.dirty:
            kw.save(folder.path, fsync=folder.fsync)
        modseq = next_modseq(folder.highestmodseq)
        upserts: list[Record] = []
        failed: list[int] = []
        for uid in sorted(set(uids)):
            rec = folder.msgs.get(uid)
            if rec is None:
                continue
            if unchanged_since is not None and rec.modseq > unchanged_since:
                failed.append(uid)  # RFC 7162 §3.1.3
                continue

            def rename(path: Path, entry: Entry, rec: Record = rec) -> Record | None:
                mn = parse_name(entry.name)
                old_sys, old_letters = mn.system_flags, mn.keyword_letters
                if op == "replace":
                    new_sys, new_letters = system, letters
                elif op == "add":
                    new_sys, new_letters = old_sys | system, old_letters | letters
                else:
                    new_sys, new_letters = old_sys - system, old_letters - letters
                if new_sys == old_sys and new_letters == old_letters:
                    return None  # a rename by someone else is left to the next sync (its modseq)
                name = with_flags(mn, new_sys, new_letters)
                os.rename(path, folder.path / "cur" / name)
                return replace(rec, name=name, in_new=False, modseq=modseq)

            with contextlib.suppress(StoreError):  # gone meanwhile: the next sync expunges it
                new = folder.locate(uid, rename)
                if new is not None:
                    upserts.append(new)
        if upserts and folder.fsync:
            fsync_dir(folder.path / "cur")
        changed = [r for r in upserts if r.modseq == modseq]
        folder._apply(upserts, [], modseq if changed else None)
        if upserts:
            folder.persist(upserts, [])
        return StoreResult(tuple(folder.infos[r.uid] for r in changed), tuple(failed))


def _expunge(folder: Folder, uids: Sequence[int] | None, require_deleted: bool) -> tuple[int, ...]:
    wanted = None if uids is None else set(uids)
    with folder.dotlock():
        folder.refresh_locked()
        removed: list[int] = []
        for uid, rec in list(folder.msgs.items()):
            if wanted is not None and uid not in wanted:
                continue
            if require_deleted and "T" not in parse_name(rec.name).letters:
                continue

            def unlink(path: Path, entry: Entry) -> bool:
                if require_deleted and "T" not in parse_name(entry.name).letters:
                    return False  # someone removed \Deleted meanwhile
                os.unlink(path)
                return True

            try:
                if folder.locate(uid, unlink):
                    removed.append(uid)
            except StoreError:
                removed.append(uid)  # already gone: expunged all the same
        if not removed:
            return ()
        crash_point("expunge:after-unlink")
        ul = folder.uidlist
        assert ul is not None
        gone = set(removed)
        folder.uidlist = folder._write_records(ul, [r for r in ul.records if r.uid not in gone], dropped=True)
        modseq = next_modseq(folder.highestmodseq)
        folder._apply([], removed, modseq)
        folder.persist([], [(u, modseq) for u in removed])
        return tuple(sorted(removed))


def _prepare_copy(
    src: Folder, uids: Sequence[int], dest_dir: Path, fsync: bool
) -> list[tuple[int, Prepared]]:
    """Link (or copy) each source file into ``dest_dir/tmp`` under a fresh base name."""
    out: list[tuple[int, Prepared]] = []
    try:
        for uid in sorted(set(uids)):
            rec = src.msgs.get(uid)
            if rec is None:
                continue

            def link(path: Path, entry: Entry, rec: Record = rec) -> Prepared:
                mn = parse_name(entry.name)
                size = mn.size if mn.size is not None else os.stat(path).st_size
                base = new_base_name(size, rec.size)
                tmp = dest_dir / "tmp" / base
                try:
                    os.link(path, tmp)
                except FileNotFoundError:
                    raise
                except OSError:  # EXDEV, EPERM (no hard links): a real copy, same mtime
                    shutil.copyfile(path, tmp)
                    os.utime(tmp, ns=(rec.mtime_ns, rec.mtime_ns))
                    if fsync:
                        with open(tmp, "rb+") as f:
                            os.fsync(f.fileno())
                flags = src._flags(entry.name)
                return Prepared(tmp, base, flags, rec.size, rec.mtime_ns, src.message_guid(rec.base))

            out.append((uid, src.locate(uid, link)))
    except BaseException:
        _discard([p for _, p in out])
        raise
    return out


HEADER_READ_CHUNK = 16 * 1024
"""Octets read at a time while looking for the end of a message's header (most headers fit in one)."""


def _read_whole(path: Path, entry: Entry) -> bytes:
    with open_message(path) as fh:
        return fh.read()


def _read_header(path: Path, entry: Entry) -> bytes:
    """The file's octets up to and including the first empty line (the whole file if it has none)."""
    data = b""
    with open_message(path) as fh:
        while chunk := fh.read(HEADER_READ_CHUNK):
            start = max(0, len(data) - 3)  # an empty line may straddle two chunks
            data += chunk
            if data.startswith((b"\n", b"\r\n")) or b"\n\n" in data[start:] or b"\n\r\n" in data[start:]:
                break
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
        async with f.lock:

            def work() -> Snapshot:
                recent: frozenset[int] = frozenset()
                if f.needs_sync(claim_recent=claim):
                    try:
                        with f.dotlock():
                            recent = f.sync_locked(claim_recent=claim)
                    except LockTimeout:
                        if f.uidlist is None:
                            raise
                        # Dovecot goes on "showing only old mails" when a live lock stays (E5e).
                if claim or self._readonly:
                    recent = f.recent_uids(recent, claim=claim)
                return f.snapshot(recent)

            result: Snapshot = await run_fs(work)
            return result

    async def append(self, messages: Sequence[NewMessage]) -> AppendResult:
        async with self._folder.lock:
            result: AppendResult = await run_fs(_append, self._folder, messages)
            self._folder.unclaimed.update(result.uids)  # \Recent to the next session (RFC 3501 §6.3.11)
            return result

    async def store_flags(
        self, uids: Sequence[int], op: FlagOp, flags: frozenset[str], *, unchanged_since: int | None = None
    ) -> StoreResult:
        self._check_writable()
        async with self._folder.lock:
            result: StoreResult = await run_fs(_store, self._folder, uids, op, flags, unchanged_since)
            return result

    async def expunge(self, uids: Sequence[int] | None = None) -> tuple[int, ...]:
        self._check_writable()
        async with self._folder.lock:
            result: tuple[int, ...] = await run_fs(_expunge, self._folder, uids, True)
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
            async with self._folder.lock:
                await run_fs(_expunge, self._folder, moved, False)
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
        ``header_only`` each file is read only up to the blank line that ends its header. Messages
        gone meanwhile are left out; other store errors propagate."""
        f = self._folder
        reader = _read_header if header_only else _read_whole
        async with f.lock:

            def work() -> dict[int, bytes]:
                out: dict[int, bytes] = {}
                for uid in uids:
                    try:
                        out[uid] = f.locate(uid, reader)
                    except MessageGone:
                        continue
                return out

            result: dict[int, bytes] = await run_fs(work)
            return result

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
