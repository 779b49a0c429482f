"""STORE's blocking body: one rename per message whose flags change, then memory and the sidecar once.

Theory of operation (maildir-format.md §1.5, §5.2; RFC 9051 §6.4.6; RFC 7162 §3.1.3):

* Runs in a worker thread while the caller holds the folder's ``trio.Lock``; takes
  ``dovecot-uidlist.lock`` for the whole batch (not per message) and first brings memory up to date.
  The caller draws the folder's watch token (``maildird.watchproof``) before the hop: when nothing
  happened since the last complete look, the check costs no ``stat`` and no listing (two listings
  of a 10,000-message folder when STOREs come within Dovecot's one-second dirty window).
* Flags live in the file name after its LAST ``:`` (§1.5), and a folder has few distinct info
  strings, so ``FlagEdit`` works each one out once per STORE (``filenames.with_flags``) together with
  the IMAP flags of the result, and every message carrying it reuses both. The loop does one dict
  lookup, two string slices and one ``rename(2)`` per message.
* The name renamed is the one the sync last saw; ENOENT (someone renamed it meanwhile) goes the slow
  way, ``Folder.locate``, and the change is applied to the flags found (§5.2 rule 5). A message whose
  modseq is above UNCHANGEDSINCE is not touched and reported failed (RFC 7162 §3.1.3).
* Every renamed message gets the same new modseq; memory takes the new names in one pass
  (``FolderFiles._apply_renames``: UID, base, size and INTERNALDATE stay), and the sidecar in one
  transaction (``persist``: one ``executemany``). One ``fsync`` of cur/ makes the renames durable.
* Crash safety needs nothing more: each rename is atomic, the sidecar is a cache whose sync mark a
  STORE clears (``persist``) and whose stamps no longer match cur/ after a crash mid-batch, so the
  next open lists the folder and finds every name as it is on disk.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from maildird.store.base import FlagOp, StoreError, StoreResult
from maildird.store.maildir.collector import bulk_build
from maildird.store.maildir.filenames import INFO_SEP, parse_name, with_flags
from maildird.store.maildir.lock import fsync_dir
from maildird.store.maildir.state import Record, next_modseq
from maildird.store.maildir.sync import Entry, Folder, crash_point

__all__ = ["QUIET_MIN_MESSAGES", "STEM", "FlagEdit", "store_locked"]

QUIET_MIN_MESSAGES = 128
"""A STORE on at least this many messages silences the folder's new/ and cur/ watches while it
renames (``watchproof.quiet``): 10,000 renames would otherwise queue 20,000 inotify events that the
event loop reads back, one GIL hand-off at a time, while the worker thread renames."""

STEM = "x"
"""A stand-in base name: ``FlagEdit`` works on the info alone."""

Change = tuple[str, frozenset[str]]
"""A new info string (from the last ``:``) and the IMAP flags it stands for."""

_new_record = tuple.__new__  # Record(...) through NamedTuple's __new__ costs twice as much
_UNSEEN: Change = ("", frozenset())  # ``FlagEdit.table`` has no entry yet (None means "no change")


class FlagEdit:
    """One STORE's flag change as a function of a file name's info (the part from its LAST ``:``).

    The result depends only on that info string (§1.5: flags come from the last ``:``; the rest of
    the name is kept), and a folder has few distinct ones, so each is worked out once per STORE with
    ``filenames.with_flags`` and then reused for every message that carries it.
    """

    def __init__(self, op: FlagOp, system: frozenset[str], letters: frozenset[str]) -> None:
        self.op, self.system, self.letters = op, system, letters
        self._infos: dict[str, str | None] = {}
        self.table: dict[str, Change | None] = {}
        """What follows the last ``:`` of a name -> ``change`` of its info, filled by the loop
        (``_rename_all``) as it meets each one."""

    def new_name(self, name: str) -> str | None:
        """The file name with the change applied, or None when it changes no flag."""
        cut = name.rfind(INFO_SEP)
        stem, info = (name[:cut], name[cut:]) if cut >= 0 else (name, "")
        new_info = self.new_info(info)
        return None if new_info is None else stem + new_info

    def new_info(self, info: str) -> str | None:
        """The info string (``""`` or from the last ``:``) with the change applied, or None when it
        changes no flag."""
        try:
            return self._infos[info]
        except KeyError:
            new_info = self._infos[info] = self._edit(info)
            return new_info

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

    def change(self, info: str, flags_of: Callable[[str], frozenset[str]]) -> Change | None:
        """The new info string for ``info`` and the flags ``flags_of`` (the folder's, which knows
        its keyword letters) reads in a name ending so; None when the change changes no flag."""
        new_info = self.new_info(info)
        return None if new_info is None else (new_info, flags_of(STEM + new_info))


def store_locked(
    folder: Folder,
    uids: Sequence[int],
    op: FlagOp,
    system: frozenset[str],
    letters: frozenset[str],
    unchanged_since: int | None,
) -> StoreResult:
    """Rename, update memory and the sidecar (module docstring). Hold the dotlock, and have the
    folder synced and the keyword letters allocated."""
    edit = FlagEdit(op, system, letters)
    modseq = next_modseq(folder.highestmodseq)
    with bulk_build():  # three objects per message, none in a cycle: no collection over the heap
        renamed, failed = _rename_all(folder, uids, edit, modseq, unchanged_since)
        crash_point("store:after-rename")
        if renamed:
            if folder.fsync:
                fsync_dir(folder.path / "cur")
            folder._apply_renames(renamed, modseq)
            folder.persist([], [], renamed=[rec for rec, _ in renamed])
        crash_point("store:after-record")
    infos = folder.infos
    return StoreResult(tuple(infos[rec.uid] for rec, _ in renamed), tuple(failed))


def _rename_all(
    folder: Folder, uids: Sequence[int], edit: FlagEdit, modseq: int, unchanged_since: int | None
) -> tuple[list[tuple[Record, frozenset[str]]], list[int]]:
    """The renames: (new record, its flags) of every message renamed, and the UIDs that failed
    UNCHANGEDSINCE. The common name (``<base>:2,<letters>``, no hint) costs one dict lookup, one
    ``rpartition``, two concatenations and the ``rename(2)``."""
    renamed: list[tuple[Record, frozenset[str]]] = []
    failed: list[int] = []
    done = renamed.append
    get, hints, table, flags_of = folder.msgs.get, folder.hints, edit.table, folder._flags
    new_dir, cur_dir = folder.dir_prefixes()
    rename = os.rename
    for uid in sorted(set(uids)):
        rec = get(uid)
        if rec is None:
            continue
        _, base, name, in_new, size, mtime_ns, old_modseq = rec
        if unchanged_since is not None and old_modseq > unchanged_since:
            failed.append(uid)  # RFC 7162 §3.1.3
            continue
        if hints and (hint := hints.get(uid)) is not None:
            name, in_new = hint.name, hint.in_new
        stem, sep, tail = name.rpartition(INFO_SEP)
        if sep:
            change = table.get(tail, _UNSEEN)
            if change is _UNSEEN:
                change = table[tail] = edit.change(sep + tail, flags_of)
            if change is None:
                continue
            new_name = stem + change[0]
            flags = change[1]
        else:  # no info at all (a file in new/): rare, the general way
            new_name = edit.new_name(name) or name
            if new_name == name:
                continue
            flags = flags_of(new_name)
        try:
            rename((new_dir if in_new else cur_dir) + name, cur_dir + new_name)
        except FileNotFoundError:
            slow = _store_slow(folder, rec, edit, modseq)
            if slow is not None:
                done((slow, flags_of(slow.name)))
            continue
        done((_new_record(Record, (uid, base, new_name, False, size, mtime_ns, modseq)), flags))
    return renamed, failed


def _store_slow(folder: Folder, rec: Record, edit: FlagEdit, modseq: int) -> Record | None:
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
