"""The blocking bodies of the Maildir write operations: APPEND, STORE, EXPUNGE and COPY's first half.

Theory of operation (maildir-format.md §1.2, §3.4 "order when saving", §4.1, §8.11):

* Every function here runs in a worker thread while the caller holds the folder's ``trio.Lock``; each
  takes ``dovecot-uidlist.lock`` and starts with a locked sync, so memory matches the disk before
  anything changes.
* APPEND: each message is written to the folder's tmp/ (``O_EXCL``, fsync, mtime = INTERNALDATE)
  before the lock is taken; then under the lock the files are renamed into new/ (no flags) or cur/
  (``:2,<flags>``), the directories fsynced and the uidlist records appended. A failure before the
  records are written removes every published file: all or nothing (RFC 3502). ENOSPC becomes
  ``NoSpace``. A crash after a rename but before the record leaves a file without UID, which the next
  sync numbers: nothing lost, no UID reused.
* COPY: every source file is hard-linked (a real copy across file systems) into the destination's
  tmp/ under a FRESH base name that keeps ``,S=``/``,W=``; then the destination delivers them like
  APPEND, translating keyword names to its own dovecot-keywords letters.
* STORE renames files under the lock in one batch (``flagstore``); ENOENT means someone renamed the
  file, so it is looked up again (``Folder.locate``) and the operation re-applied to the flags found.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from maildird.store.base import (
    AppendResult,
    FlagOp,
    LimitExceeded,
    NewMessage,
    NoSpace,
    StoreError,
    StoreResult,
)
from maildird.store.maildir.filenames import is_system_flag, new_base_name, parse_name, with_flags
from maildird.store.maildir.flagstore import FlagEdit, store_locked
from maildird.store.maildir.keywords import Keywords
from maildird.store.maildir.lock import dir_file_mode, fsync_dir
from maildird.store.maildir.state import Record, next_modseq
from maildird.store.maildir.sync import Entry, Folder, crash_point, crlf_size
from maildird.store.maildir.uidlist import UidRecord

RECENT_FLAG = "\\recent"


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
    vsize = crlf_size(data)
    base = new_base_name(len(data), vsize)
    path = folder / "tmp" / base
    # Mode from the folder directory (& 0666), as Dovecot's mailbox_get_permissions (§3.4).
    mode = dir_file_mode(folder)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.utime(fd, ns=(mtime_ns, mtime_ns))  # before the fsync: INTERNALDATE must be durable too
        if fsync:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    os.close(fd)
    return Prepared(path, base, frozenset(), vsize, mtime_ns)


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
        folder.refresh_for_delivery_locked()
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
            folder.uidlist = folder.add_records(ul, records)
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


_FlagEdit = FlagEdit
"""The per-info flag edit (``flagstore.FlagEdit``), under the name the tests know it by."""


def _store(
    folder: Folder,
    uids: Sequence[int],
    op: FlagOp,
    flags: frozenset[str],
    unchanged_since: int | None,
    watched: int | None = None,
) -> StoreResult:
    """STORE under the lock (``flagstore``): bring memory up to date (``watched``, the folder's
    watch token drawn in the Trio thread before this hop, spares the stats and the listing when
    nothing happened since the last complete look), allocate the keywords' letters, then rename."""
    system, keywords = _split_flags(flags)
    with folder.dotlock():
        if folder.needs_sync(claim_recent=False, watched=watched):
            folder.sync_locked(claim_recent=False, watched=watched)
        kw = folder.keywords
        if op == "remove":
            letters = frozenset(c for k in keywords if (c := kw.letter_for(k)) is not None)
        else:  # the 27th keyword raises KeywordLimit here, before any file is renamed
            letters = allocate_letters(folder, keywords)
        if kw.dirty:
            kw.save(folder.path, fsync=folder.fsync)
        return store_locked(folder, uids, op, system, letters, unchanged_since)


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
