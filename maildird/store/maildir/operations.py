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
from maildird.store.maildir.filenames import INFO_SEP, is_system_flag, new_base_name, parse_name, with_flags
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


class _FlagEdit:
    """One STORE's flag change as a function of a file name's info (the part from its LAST ``:``).

    The result depends only on that info string (§1.5: flags come from the last ``:``; the rest of
    the name is kept), and a folder has few distinct ones, so each is worked out once per STORE with
    ``filenames.with_flags`` and then reused for every message that carries it.
    """

    def __init__(self, op: FlagOp, system: frozenset[str], letters: frozenset[str]) -> None:
        self.op, self.system, self.letters = op, system, letters
        self._cache: dict[str, str | None] = {}

    def new_name(self, name: str) -> str | None:
        """The file name with the change applied, or None when it changes no flag."""
        cut = name.rfind(INFO_SEP)
        stem, info = (name[:cut], name[cut:]) if cut >= 0 else (name, "")
        try:
            new_info = self._cache[info]
        except KeyError:
            new_info = self._cache[info] = self._edit(info)
        return None if new_info is None else stem + new_info

    def _edit(self, info: str) -> str | None:
        mn = parse_name(STEM + info)
        old_sys, old_letters = mn.system_flags, mn.keyword_letters
        if self.op == "replace":
            new_sys, new_letters = self.system, self.letters
        elif self.op == "add":
            new_sys, new_letters = old_sys | self.system, old_letters | self.letters
        else:
            new_sys, new_letters = old_sys - self.system, old_letters - self.letters
        if new_sys == old_sys and new_letters == old_letters:
            return None
        return with_flags(mn, new_sys, new_letters)[len(STEM) :]


STEM = "x"
"""A stand-in base name: ``_FlagEdit`` works on the info alone."""


def _store(
    folder: Folder, uids: Sequence[int], op: FlagOp, flags: frozenset[str], unchanged_since: int | None
) -> StoreResult:
    """STORE under the lock: one rename per message whose flags change, then one sidecar commit.
    The name to rename is the one the sync last saw; ENOENT (someone renamed it meanwhile) goes
    the slow way, ``Folder.locate``, and the change is applied to the flags found (§5.2 rule 5)."""
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
        edit = _FlagEdit(op, system, letters)
        modseq = next_modseq(folder.highestmodseq)
        upserts: list[Record] = []
        failed: list[int] = []
        msgs, hints, cur = folder.msgs, folder.hints, f"{folder.path}/cur/"
        for uid in sorted(set(uids)):
            rec = msgs.get(uid)
            if rec is None:
                continue
            if unchanged_since is not None and rec.modseq > unchanged_since:
                failed.append(uid)  # RFC 7162 §3.1.3
                continue
            hint = hints.get(uid)
            name, in_new = (hint.name, hint.in_new) if hint is not None else (rec.name, rec.in_new)
            new_name = edit.new_name(name)
            if new_name is None:
                continue
            try:
                os.rename(folder.file_path(Entry(name, in_new)), cur + new_name)
            except FileNotFoundError:
                new = _store_slow(folder, rec, edit, modseq)
                if new is not None:
                    upserts.append(new)
                continue
            upserts.append(Record(uid, rec.base, new_name, False, rec.size, rec.mtime_ns, modseq))
        if upserts and folder.fsync:
            fsync_dir(folder.path / "cur")
        changed = [r for r in upserts if r.modseq == modseq]
        folder._apply(upserts, [], modseq if changed else None)
        if upserts:
            folder.persist(upserts, [])
        infos = folder.infos
        return StoreResult(tuple(infos[r.uid] for r in changed), tuple(failed))


def _store_slow(folder: Folder, rec: Record, edit: _FlagEdit, modseq: int) -> Record | None:
    """The file was not under its last known name: find it again and apply the change to it."""

    def rename(path: Path, entry: Entry) -> Record | None:
        new_name = edit.new_name(entry.name)
        if new_name is None:
            return None  # a rename by someone else is left to the next sync (its modseq)
        os.rename(path, folder.path / "cur" / new_name)
        return Record(rec.uid, rec.base, new_name, False, rec.size, rec.mtime_ns, modseq)

    try:
        return folder.locate(rec.uid, rename)
    except StoreError:
        return None  # gone meanwhile: the next sync expunges it


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
