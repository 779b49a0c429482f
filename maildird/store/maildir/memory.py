"""The in-memory picture of one Maildir folder: its records, their ``MessageInfo``, its snapshots.

Theory of operation (maildir-format.md §1.5, §7.3):

* ``msgs`` holds the sidecar's ``Record`` of every message by UID, ``by_base`` maps base names back
  to UIDs, and ``infos`` mirrors ``msgs`` in UID order as the ``MessageInfo`` values a ``Snapshot``
  hands out (so a snapshot of an unchanged folder is a cached tuple).
* Flags depend only on the info after a name's LAST ``:`` (§1.5) and a folder has few distinct
  ones, so each info string is turned into a flag ``frozenset`` once (``_flags``) and the same
  object is shared by every message carrying it. A restart builds the ``MessageInfo`` of every
  message at once (``adopt_rows``: column-wise, C-level ``map``/``dict`` wherever it can; a full
  sync's ``_rebuild_infos``), with that cache inlined; a flag change keeps the message's
  INTERNALDATE object.
* Bulk building is the cost of opening a large folder: ``make_info`` fills a ``MessageInfo``'s
  slots directly (half its constructor's cost), ``make_infos`` does so column by column in C-level
  ``map`` calls for a whole folder, and ``bulk_build`` pauses the cyclic garbage collector meanwhile
  (the young collections triggered by 300,000 new objects for 100,000 messages, none of which is in
  a cycle, cost as much as the building itself); a large build is promoted to the oldest
  generation unwalked, and the full collection that owes is paid at a quiet moment
  (``collection_owed``), not by the next commands.
* A restart whose sidecar has a valid packed copy of its rows (``statepack``) adopts its columns
  (``adopt_columns``): names, flags (once per distinct name suffix) and dates come ready-made. A
  settled sync's write packs the records memory holds then (``pack_rows``), which are the rows it
  leaves (``controlfiles.persist``).
* \\Recent: UIDs that arrived through this process and no read-write session has claimed yet
  (``unclaimed``), plus files still in new/ (RFC 3501 §2.3.2, §6.3.11).

No I/O here; ``sync.Folder`` (which derives from this through ``files``, ``controlfiles`` and
``fastpaths``) keeps it in step with the disk.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from itertools import islice, repeat
from operator import attrgetter, itemgetter, lt
from typing import Any

from maildird.store.base import MessageInfo, Snapshot
from maildird.store.maildir.filenames import INFO_SEP, parse_name
from maildird.store.maildir.keywords import Keywords
from maildird.store.maildir.stamps import NS_PER_SEC
from maildird.store.maildir.state import Record
from maildird.store.maildir.statepack import ROW_WIDTH, Columns, columns

_INFO_FIELDS = ("uid", "flags", "size", "internaldate", "modseq")
_DATE_OF = attrgetter("internaldate")
_UID_OF = itemgetter(0)
_BASE_OF = itemgetter(1)


def _slot_setters() -> tuple[Any, ...] | None:
    """The slot setters of ``MessageInfo``'s fields in order, or None if its shape is not the one
    ``make_info`` was written for (then ``make_info`` is its constructor)."""
    if getattr(MessageInfo, "__slots__", None) != _INFO_FIELDS:
        return None
    return tuple(getattr(MessageInfo, f).__set__ for f in _INFO_FIELDS)


_SETTERS = _slot_setters()


def make_info(uid: int, flags: frozenset[str], size: int, internaldate: datetime, modseq: int) -> MessageInfo:
    """``MessageInfo(uid, flags, size, internaldate, modseq)``, at half the cost: a frozen
    dataclass's ``__init__`` sets each slot through ``object.__setattr__``; this fills the slots
    through their descriptors. A restart makes one per message of the folder (100,000: ~110 ms with
    the constructor, ~55 ms so). Equal to the constructor's value (tests/store/test_open_fast.py)."""
    if _SETTERS is None:
        return MessageInfo(uid, flags, size, internaldate, modseq)
    info: MessageInfo = _new(MessageInfo)
    set_uid, set_flags, set_size, set_date, set_modseq = _SETTERS
    set_uid(info, uid)
    set_flags(info, flags)
    set_size(info, size)
    set_date(info, internaldate)
    set_modseq(info, modseq)
    return info


_new = object.__new__


def make_infos(
    uids: Sequence[int],
    flags: Iterable[frozenset[str]],
    sizes: Iterable[int],
    dates: Iterable[datetime],
    modseqs: Iterable[int],
) -> list[MessageInfo]:
    """``make_info`` for a whole folder, column by column: the empty objects, then each slot of all
    of them, every step a C-level ``map`` (no Python frame per message: ~3x cheaper than calling
    ``make_info`` per message). Equal to the constructor's values (tests/store/test_open_fast.py)."""
    if _SETTERS is None:
        return list(map(make_info, uids, flags, sizes, dates, modseqs))
    infos: list[MessageInfo] = list(map(_new, repeat(MessageInfo, len(uids))))
    for setter, column in zip(_SETTERS, (uids, flags, sizes, dates, modseqs), strict=True):
        deque(map(setter, infos, column), maxlen=0)  # runs the map, keeps nothing
    return infos


def ascending(uids: Sequence[int]) -> bool:
    """Strictly ascending (C-level ``map``: a restart checks 100,000 UIDs)."""
    return all(map(lt, uids, islice(uids, 1, None)))


class FolderMemory:
    """Records, infos and snapshots of one folder (module docstring). Not thread-safe."""

    def __init__(self) -> None:
        self.uidvalidity = 0
        self.msgs: dict[int, Record] = {}
        self.by_base: dict[str, int] = {}
        self.infos: dict[int, MessageInfo] = {}
        # UIDs that arrived through this process (APPEND, COPY, MOVE) and that no read-write session
        # has claimed as \Recent yet (RFC 3501 §2.3.2, §6.3.11). Files still in new/ are unclaimed
        # too; they are found by their place. In memory only: after a restart only new/ counts.
        self.unclaimed: set[int] = set()
        self._in_new_cache: tuple[int, frozenset[int]] = (-1, frozenset())
        self._keywords = Keywords()
        self._flag_cache: dict[str, frozenset[str]] = {}
        self.highestmodseq = 1
        self.max_uid = 0
        self.version = 0
        self._snapshot_cache: tuple[int, tuple[MessageInfo, ...]] = (-1, ())
        self._last_snapshot: tuple[tuple[object, ...], Snapshot] | None = None
        self._ul_next = 1  # the uidlist's effective next UID (kept by controlfiles and fastpaths)

    @property
    def keywords(self) -> Keywords:
        """The folder's dovecot-keywords mapping (replacing it forgets the flags computed with it)."""
        return self._keywords

    @keywords.setter
    def keywords(self, value: Keywords) -> None:
        self._keywords = value
        self._flag_cache.clear()

    def _apply(self, upserts: list[Record], expunged: list[int], modseq: int | None) -> None:
        """Put records into memory (and their MessageInfo), drop expunged ones.

        ``infos`` mirrors ``msgs`` in UID order: new UIDs are the highest, so appending keeps the
        dict sorted; it is re-sorted in the (defensive) case where that does not hold.
        """
        if not self.msgs and not self.infos and self._adopt_new(upserts):
            pass  # a first open: every record is new, taken column-wise
        else:
            self._apply_each(upserts, expunged)
        if modseq is not None:
            self.highestmodseq = max(self.highestmodseq, modseq)
            self.version += 1

    def _adopt_new(self, upserts: list[Record]) -> bool:
        """``_apply_each`` into an empty memory (a first open: 100,000 new records) in C-level
        ``map``/``dict`` calls; False (nothing done) unless every UID is distinct."""
        uids = list(map(_UID_OF, upserts))
        fresh = dict(zip(uids, upserts, strict=True))
        if not fresh or len(fresh) != len(upserts):
            return False
        self.msgs = fresh
        self.by_base.update(zip(map(_BASE_OF, upserts), uids, strict=True))
        self.max_uid = max(self.max_uid, max(uids))
        self._rebuild_infos()
        return True

    def _apply_each(self, upserts: list[Record], expunged: list[int]) -> None:
        msgs, by_base, infos = self.msgs, self.by_base, self.infos
        for uid in expunged:
            rec = msgs.pop(uid, None)
            infos.pop(uid, None)
            if rec is not None and by_base.get(rec.base) == uid:
                del by_base[rec.base]
        new_uids = 0
        same_date: set[int] = set()  # flag changes keep the INTERNALDATE object: no datetime per message
        for rec in upserts:
            uid = rec.uid
            old = msgs.get(uid)
            if old is None:
                new_uids += 1
                if uid > self.max_uid:
                    self.max_uid = uid
            else:
                if old.base != rec.base and by_base.get(old.base) == uid:
                    del by_base[old.base]
                if old.mtime_ns == rec.mtime_ns:
                    same_date.add(uid)
            msgs[uid] = rec
            by_base[rec.base] = uid
        if not infos or len(infos) != len(msgs) - sum(1 for r in upserts if r.uid not in infos):
            self._rebuild_infos()  # cleared (new incarnation, keywords re-read): rebuild all
        else:
            top = next(reversed(infos), 0)
            ordered = True
            info, flags_of = self._info, self._flags
            for rec in sorted(upserts) if new_uids else upserts:
                uid = rec.uid
                prev = infos.get(uid)
                if prev is None:
                    if uid < top:
                        ordered = False
                    infos[uid] = info(rec)
                    top = max(top, uid)
                elif uid in same_date:
                    infos[uid] = make_info(uid, flags_of(rec.name), rec.size, prev.internaldate, rec.modseq)
                else:
                    infos[uid] = info(rec)
            if not ordered:
                self.infos = {uid: infos[uid] for uid in sorted(infos)}

    def adopt_rows(self, rows: list[tuple[Any, ...]]) -> None:
        """Take a sidecar's rows (``state.Loaded.rows``, in UID order) as the folder's records:
        ``msgs``, ``by_base`` and ``infos``, since a restart does this for every message of the
        folder (the keywords must be loaded first: they name the letters).

        Written column-wise: the columns come out of the rows in C (``statepack.columns``), the
        records, the base index, the dates and the ``MessageInfo`` values (``make_infos``) are
        built by C-level ``map``/``dict`` calls, and only the flag lookup costs a Python step per
        message."""
        if not rows:
            self.msgs, self.by_base, self.infos = {}, {}, {}
            return
        uids, bases, names, _in_new, sizes, mtimes, modseqs = columns(rows, ROW_WIDTH)
        if not ascending(uids):
            rows = sorted(rows)  # not in UID order (SQLite gives them so): sort once and start again
            uids, bases, names, _in_new, sizes, mtimes, modseqs = columns(rows, ROW_WIDTH)
        self.msgs = dict(zip(uids, map(tuple.__new__, repeat(Record), rows), strict=True))
        self.by_base = dict(zip(bases, uids, strict=True))
        cache, flags_of_name = self._flag_cache, self._flags
        flag_sets: list[frozenset[str]] = []
        add = flag_sets.append
        for name in names:
            cut = name.rfind(INFO_SEP)
            flags = cache.get(name[cut:] if cut >= 0 else "")
            add(flags_of_name(name) if flags is None else flags)
        seconds = [m // NS_PER_SEC for m in mtimes]
        dates = map(datetime.fromtimestamp, seconds, repeat(UTC))  # IMAP dates have whole seconds
        self.infos = dict(zip(uids, make_infos(uids, flag_sets, sizes, dates, modseqs), strict=True))

    def adopt_columns(self, cols: Columns) -> None:
        """``adopt_rows`` for a sidecar's packed columns (``statepack``): the names are built from
        base and suffix, the flags looked up per suffix and the dates come made, all in C-level
        ``map`` calls (the keywords must be loaded first)."""
        uids = cols.uids
        if not ascending(uids):
            self.adopt_rows(cols.rows())  # never written so: the general way sorts them
            return
        bases = cols.bases
        records = zip(
            uids, bases, cols.names, cols.in_new, cols.sizes, cols.mtimes, cols.modseqs, strict=True
        )
        self.msgs = dict(zip(uids, map(tuple.__new__, repeat(Record), records), strict=True))
        self.by_base = dict(zip(bases, uids, strict=True))
        flags_of = list(map(self._flags, cols.suffixes))  # a suffix holds its name's last ":" (statepack)
        flag_sets = map(flags_of.__getitem__, cols.suffix_index)
        infos = make_infos(uids, flag_sets, cols.sizes, cols.dates, cols.modseqs)
        self.infos = dict(zip(uids, infos, strict=True))

    def pack_rows(self) -> tuple[list[Record], list[datetime]] | None:
        """The records in UID order and their INTERNALDATEs, for the sidecar's packed copy
        (``statepack``); None when memory is not in its settled shape (infos not mirroring records)."""
        msgs, infos = self.msgs, self.infos
        uids = list(msgs)
        if not ascending(uids):
            uids.sort()
        if len(infos) != len(uids) or list(infos) != uids:
            return None
        return list(map(msgs.__getitem__, uids)), list(map(_DATE_OF, infos.values()))

    def _rebuild_infos(self) -> None:
        """Every ``MessageInfo`` from the records, in UID order (a first open does this for the
        whole folder): column-wise as ``adopt_rows``, flags from the per-info-string cache, dates
        in whole seconds (IMAP dates have no fractions)."""
        msgs = self.msgs
        if not ascending(list(msgs)):  # in UID order when loaded or appended; sort once otherwise
            self.msgs = msgs = {uid: msgs[uid] for uid in sorted(msgs)}
        if not msgs:
            self.infos = {}
            return
        uids, _bases, names, _in_new, sizes, mtimes, modseqs = columns(msgs.values(), ROW_WIDTH)
        cache, flags_of_name = self._flag_cache, self._flags
        flag_sets: list[frozenset[str]] = []
        add = flag_sets.append
        for name in names:
            cut = name.rfind(INFO_SEP)
            flags = cache.get(name[cut:] if cut >= 0 else "")
            add(flags_of_name(name) if flags is None else flags)
        seconds = [m // NS_PER_SEC for m in mtimes]
        dates = map(datetime.fromtimestamp, seconds, repeat(UTC))
        self.infos = dict(zip(uids, make_infos(uids, flag_sets, sizes, dates, modseqs), strict=True))

    def _flags(self, name: str) -> frozenset[str]:
        """IMAP flags of a file name. They depend only on the info after the LAST ``:`` (§1.5), and
        a folder has few distinct ones, so they are computed once per info string."""
        last = name.rfind(INFO_SEP)
        info = name[last:] if last >= 0 else ""
        flags = self._flag_cache.get(info)
        if flags is None:
            mn = parse_name("x" + info)
            flags = mn.system_flags | frozenset(self._keywords.name_for(c) for c in mn.keyword_letters)
            self._flag_cache[info] = flags
        return flags

    def _info(self, rec: Record) -> MessageInfo:
        date = datetime.fromtimestamp(rec.mtime_ns // NS_PER_SEC, UTC)  # IMAP dates have seconds
        return make_info(rec.uid, self._flags(rec.name), rec.size, date, rec.modseq)

    def flags_of(self, uid: int) -> frozenset[str]:
        return self._flags(self.msgs[uid].name)

    # -- results ---------------------------------------------------------------------------------

    def recent_uids(self, claimed: frozenset[int], *, claim: bool) -> frozenset[int]:
        """The ``Snapshot.recent`` of one call: for a read-write session (``claim``) what it claimed
        (moved out of new/ now) plus the unclaimed arrivals, which become its own; for a read-only
        session (EXAMINE) every message still recent, without taking it from the next session
        (RFC 3501 §6.3.2: EXAMINE gives the same responses as SELECT)."""
        unclaimed = self.unclaimed
        if claim:
            if not unclaimed:  # every command of a read-write session asks: no set built then
                return claimed
            mine = claimed | {u for u in unclaimed if u in self.msgs}
            unclaimed.clear()
            return frozenset(mine)
        if self._in_new_cache[0] != self.version:  # a walk over every record only after a change
            self._in_new_cache = (self.version, frozenset(u for u, rec in self.msgs.items() if rec.in_new))
        if not unclaimed:
            return self._in_new_cache[1]
        return self._in_new_cache[1] | {u for u in unclaimed if u in self.msgs}

    def snapshot(self, recent: frozenset[int] = frozenset()) -> Snapshot:
        """The current state as a ``Snapshot`` (the message tuple is rebuilt only on change). An
        unchanged folder gives the same (immutable) ``Snapshot`` again, without recent UIDs: every
        command asks for one, and building it cost more than the freshness check."""
        kw = self._keywords
        state = (
            self.version,
            len(self.infos),
            self.uidvalidity,
            self._ul_next,
            self.max_uid,
            self.highestmodseq,
            kw,
            len(kw.by_index),  # entries are only ever added to a loaded mapping
        )
        last = self._last_snapshot
        if not recent and last is not None and last[0] == state:
            return last[1]
        snap = self._build_snapshot(recent)
        if not recent:
            self._last_snapshot = (state, snap)
        return snap

    def _build_snapshot(self, recent: frozenset[int]) -> Snapshot:
        ver, messages = self._snapshot_cache
        if ver != self.version or len(messages) != len(self.infos):
            messages = tuple(self.infos.values())
            self._snapshot_cache = (self.version, messages)
        ul_next = self._ul_next
        return Snapshot(
            uidvalidity=self.uidvalidity,
            uidnext=max(ul_next, self.max_uid + 1),
            highestmodseq=max(self.highestmodseq, 1),  # >= every modseq: _apply raises it
            messages=messages,
            keywords=self.keywords.names(),
            can_create_keywords=not self.keywords.is_full(),
            recent=recent,
            version=self.version,
        )
