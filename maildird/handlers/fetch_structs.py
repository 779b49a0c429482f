"""FETCH of ENVELOPE, BODY and BODYSTRUCTURE answered from the store's structure cache
(RFC 9051 §6.4.5, §7.5.2; ``store.structs``).

Theory of operation
-------------------
Mail clients ask ``FETCH 1:* (ENVELOPE BODYSTRUCTURE INTERNALDATE)`` (K-9/FairEmail, Apple Mail) or
``FETCH n (BODYSTRUCTURE)`` when a message is opened (Thunderbird). Building those values means reading
and parsing the whole message (~0.4 ms each); Dovecot answers them from ``dovecot.index.cache``. When
every item of a FETCH is one of ENVELOPE, BODY, BODYSTRUCTURE and the snapshot items (UID, FLAGS,
INTERNALDATE, RFC822.SIZE, MODSEQ), and the mailbox offers ``structures()``, ``StructPlan`` answers it:

1. Per round of ``STRUCT_BATCH`` messages, one ``StructCache.get`` (memory layer, else one query in a
   worker thread) gives the serialized values the store keeps.
2. Messages it has no (complete) row for are read as the general path reads them (``read``: the whole
   file, or only the header when ENVELOPE is the only structure asked), in rounds of at most
   ``MISS_BATCH`` messages and ``fetch.BATCH_BYTES`` octets; their rows are computed (``compute_row``:
   the same ``envelope``/``bodystructure`` values, serialized with and without UTF8=ACCEPT) and stored in the
   same worker-thread hop. Parsing off the event loop also spares it the thousands-of-parts message.
3. Each ``* n FETCH (...)`` line is written straight to bytes: the same items in the same order as
   ``fetch_render.render`` + ``responses.serialize`` give (UID first when asked, ``\\Recent`` for this
   session, MODSEQ added under CHANGEDSINCE, RFC822.SIZE from the parsed message when BODY or
   BODYSTRUCTURE is asked and from the snapshot otherwise, as the general path does).

Messages this session's view shows but the folder expunged meanwhile are skipped and reported
(``EXPUNGEISSUED``), and a file that reads empty although its size is not zero gives ``SERVERBUG``,
exactly as on the general path. ``tests/handlers/test_fetch_structs.py`` holds both paths to the same
octets.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from functools import partial
from typing import Any, Protocol

import trio

from maildird.handlers.context import Context, Selected
from maildird.handlers.fetch_dates import internaldate_bytes
from maildird.handlers.fetch_lines import PlanMemo
from maildird.handlers.updates import flag_list_bytes
from maildird.imap import commands as cmd
from maildird.imap.responses import Value, serialize_value
from maildird.message import ParsedMessage
from maildird.message.bodystructure import bodystructure
from maildird.message.envelope import envelope
from maildird.store.base import MessageInfo
from maildird.store.structs import STRUCT_NAMES, StructCache, StructName, StructRow

STRUCT_BATCH = 1024
"""Messages looked up in the cache, formatted and written per round (one thread hop when none is in
memory; about 1 MiB of response)."""
MISS_BATCH = 32
"""Messages read and computed per thread hop when the cache has no row for them."""
FILL_THREADS = trio.CapacityLimiter(2)
"""Worker threads computing rows at once, server-wide (parsing is CPU work: more would only queue)."""

_SNAPSHOT_ATTS = frozenset({"UID", "FLAGS", "INTERNALDATE", "RFC822.SIZE", "MODSEQ"})
_SPECS = {
    "ENVELOPE": b"ENVELOPE %s",
    "BODY": b"BODY %s",
    "BODYSTRUCTURE": b"BODYSTRUCTURE %s",
    "FLAGS": b"FLAGS %s",
    "INTERNALDATE": b'INTERNALDATE "%s"',
    "RFC822.SIZE": b"RFC822.SIZE %d",
    "MODSEQ": b"MODSEQ (%d)",
}
"""Each item's place in a line's format (``StructPlan.lines``)."""
_ROW_INDEX = {
    "ENVELOPE": (StructRow._fields.index("envelope"), StructRow._fields.index("envelope8")),
    "BODY": (StructRow._fields.index("body"), StructRow._fields.index("body8")),
    "BODYSTRUCTURE": (StructRow._fields.index("bodystructure"), StructRow._fields.index("bodystructure8")),
}
"""Where a structure's plain and UTF8=ACCEPT forms sit in a ``StructRow``."""


def _uid(info: MessageInfo, row: StructRow) -> int:
    return info.uid


def _modseq(info: MessageInfo, row: StructRow) -> int:
    return info.modseq


class Outcome(Protocol):
    """``fetch_read.Outcome``: what went wrong, for the tagged reply."""

    gone: bool
    broken: bool


class Reader(Protocol):
    """``fetch_read.read_raw``: the batch's files (with ``header`` their header blocks) by UID, gone and
    broken ones left out and noted in ``outcome``."""

    def __call__(
        self, sel: Selected, batch: list[tuple[int, MessageInfo]], outcome: Any, *, header: bool = False
    ) -> Awaitable[dict[int, bytes]]: ...


def _serialized(value: Value) -> tuple[bytes, bytes | None]:
    """The wire form without UTF8=ACCEPT, and with it when different (``store.structs``). Only a
    non-ASCII ``str`` differs, and without UTF8=ACCEPT it is always a literal: a plain form without
    any literal is the UTF-8 form too (most messages; serializing twice cost a fifth of a row)."""
    plain = serialize_value(value, utf8=False)
    if b"}\r\n" not in plain:
        return plain, None
    utf8 = serialize_value(value, utf8=True)
    return plain, (utf8 if utf8 != plain else None)


def compute_row(raw: bytes, *, full: bool) -> StructRow:
    """The row of the message whose octets (as stored) are ``raw``: with ``full`` every value and the
    parsed size, else the ENVELOPE only, from the header (``raw`` may be just the header block)."""
    if not full:
        env, env8 = _serialized(envelope(ParsedMessage.parse_header(raw)))
        return StructRow(env, envelope8=env8)
    msg = ParsedMessage.parse(raw)
    env, env8 = _serialized(envelope(msg))
    body, body8 = _serialized(bodystructure(msg, extensible=False))
    bs, bs8 = _serialized(bodystructure(msg, extensible=True))
    return StructRow(env, msg.size, body, bs, env8, body8, bs8)


def fill(cache: StructCache, raws: Mapping[int, bytes], full: bool) -> dict[int, StructRow]:
    """Compute the rows of ``raws`` and store them (worker thread: parsing and the cache write in one
    hop)."""
    rows = {uid: compute_row(raw, full=full) for uid, raw in raws.items()}
    cache.put_blocking(rows)
    return rows


def _miss_rounds(misses: list[tuple[int, MessageInfo]]) -> Iterator[list[tuple[int, MessageInfo]]]:
    """The messages to read whole, in FETCH's rounds (``fetch.batches``: ``MISS_BATCH`` messages and
    ``fetch.BATCH_BYTES`` octets each). Imported here: ``fetch`` imports this module."""
    from maildird.handlers.fetch import batches

    return batches(misses, text=True, count=MISS_BATCH)


class StructPlan:
    """The items of one FETCH that the structure cache can answer (module docstring)."""

    __slots__ = ("full", "has_modseq", "items")

    def __init__(self, items: tuple[str, ...]) -> None:
        self.items = items
        """Item names in the order asked, UID left out (it goes first), duplicates removed."""
        self.full = "BODY" in items or "BODYSTRUCTURE" in items
        """True when rows must come from the whole message (else the ENVELOPE alone will do)."""
        self.has_modseq = "MODSEQ" in items

    @classmethod
    def for_items(cls, items: tuple[cmd.FetchItem, ...]) -> StructPlan | None:
        """The plan, or None when an item is not a structure or snapshot item or no structure is
        asked (then ``fetch_lines`` or the general path answers); remembered (``fetch_lines.PlanMemo``)."""
        return _STRUCT_PLANS(items)

    @classmethod
    def _plan(cls, items: tuple[cmd.FetchItem, ...]) -> StructPlan | None:
        names: list[str] = []
        for item in items:
            if not isinstance(item, cmd.FetchAtt):
                return None
            if item.name not in _SNAPSHOT_ATTS and item.name not in STRUCT_NAMES:
                return None
            if item.name != "UID" and item.name not in names:
                names.append(item.name)
        if not any(name in STRUCT_NAMES for name in names):
            return None
        return cls(tuple(names))

    def lines(
        self,
        batch: Sequence[tuple[int, MessageInfo]],
        rows: Mapping[int, StructRow],
        recent: Callable[[int], bool] | None,
        *,
        uid_first: bool,
        wants_modseq: bool,
        utf8: bool,
    ) -> Iterator[bytes]:
        """``* seq FETCH (...)`` lines, CRLF included, for the messages of ``batch`` that have a row
        (complete for this plan: ``missing``). One format per call and one ``%`` per message, as
        ``fetch_lines`` writes snapshot lines."""
        specs = [b"UID %d"] if uid_first else []
        getters: list[Callable[[MessageInfo, StructRow], object]] = [_uid] if uid_first else []
        for name in self.items:
            specs.append(_SPECS[name])
            getters.append(self._getter(name, utf8, recent))
        if wants_modseq and not self.has_modseq:
            specs.append(_SPECS["MODSEQ"])
            getters.append(_modseq)
        fmt = b"* %d FETCH (" + b" ".join(specs) + b")\r\n"
        get = rows.get
        for seq, info in batch:
            row = get(info.uid)
            if row is not None:
                yield fmt % (seq, *[g(info, row) for g in getters])

    def _getter(
        self, name: str, utf8: bool, recent: Callable[[int], bool] | None
    ) -> Callable[[MessageInfo, StructRow], object]:
        """How one item's value comes from the snapshot or the row."""
        if name in _ROW_INDEX:
            plain, eight = _ROW_INDEX[name]
            if utf8:
                return lambda info, row: row[eight] or row[plain]
            return lambda info, row: row[plain]
        if name == "FLAGS":
            if recent is None:
                return lambda info, row: flag_list_bytes(info.flags, False)
            return lambda info, row: flag_list_bytes(info.flags, recent(info.uid))
        if name == "INTERNALDATE":
            return lambda info, row: internaldate_bytes(info.internaldate)
        if name == "RFC822.SIZE":
            # The general path reports the parsed message's size next to BODY/BODYSTRUCTURE.
            if self.full:
                return lambda info, row: row.size
            return lambda info, row: info.size
        return _modseq

    def missing(
        self, batch: Sequence[tuple[int, MessageInfo]], rows: Mapping[int, StructRow]
    ) -> list[tuple[int, MessageInfo]]:
        """The messages of ``batch`` whose row is absent or lacks what this plan needs."""
        get = rows.get
        if not self.full:
            return [t for t in batch if get(t[1].uid) is None]
        out = []
        for t in batch:
            row = get(t[1].uid)
            if row is None or row.size is None or row.body is None or row.bodystructure is None:
                out.append(t)
        return out

    async def send(
        self,
        ctx: Context,
        sel: Selected,
        cache: StructCache,
        targets: Sequence[tuple[int, MessageInfo]],
        outcome: Outcome,
        read: Reader,
        *,
        uid_first: bool,
        wants_modseq: bool,
    ) -> None:
        """Answer the FETCH for ``targets`` (module docstring); the tagged reply is the caller's. With
        more than one round, each round's rows are looked up while the round before is formatted and
        sent (``_Ahead``)."""
        view = sel.view
        recent = view.is_recent if not ctx.rev2 and view.recent_count else None
        send = partial(
            self._round,
            ctx,
            sel,
            cache,
            outcome,
            read,
            recent,
            uid_first=uid_first,
            wants_modseq=wants_modseq,
        )
        if len(targets) <= STRUCT_BATCH:
            await send(targets, None, None)
            return
        # What goes wrong inside the nursery (the client gone: Closed; the folder gone: a StoreError)
        # is raised outside it as itself: a nursery would wrap it in an ExceptionGroup, which neither
        # ``handle`` (NO [code]) nor the connection loop (a closed client) recognises.
        failure: Exception | None = None
        async with trio.open_nursery() as nursery:
            try:
                ahead: _Ahead | None = None
                for start in range(0, len(targets), STRUCT_BATCH):
                    found = None if ahead is None else await ahead.rows()
                    following = targets[start + STRUCT_BATCH : start + 2 * STRUCT_BATCH]
                    ahead = None

                    def look_ahead(following: Sequence[tuple[int, MessageInfo]] = following) -> None:
                        nonlocal ahead
                        if following:
                            ahead = _Ahead(nursery, cache, [info.uid for _seq, info in following])

                    await send(targets[start : start + STRUCT_BATCH], found, look_ahead)
            except Exception as exc:
                failure = exc
                nursery.cancel_scope.cancel()  # a lookup still running ahead is not wanted any more
        if failure is not None:
            raise failure

    async def _round(
        self,
        ctx: Context,
        sel: Selected,
        cache: StructCache,
        outcome: Outcome,
        read: Reader,
        recent: Callable[[int], bool] | None,
        batch: Sequence[tuple[int, MessageInfo]],
        found: dict[int, StructRow] | None,
        look_ahead: Callable[[], None] | None,
        *,
        uid_first: bool,
        wants_modseq: bool,
    ) -> None:
        """One round: its rows (``found``, looked up ahead for its UIDs, or now), the misses read and
        computed, then ``look_ahead`` (the next round's lookup starts once this round is done with the
        cache), then its lines formatted and sent. Rows found ahead for messages expunged since are
        never used: only ``present`` messages get a line, as when the rows are looked up now."""
        view = sel.view
        present = [t for t in batch if not view.is_expunged(t[1].uid)]
        if len(present) < len(batch):
            outcome.gone = True
        rows = found if found is not None else await cache.get([info.uid for _seq, info in present])
        misses = self.missing(present, rows)
        for chunk in _miss_rounds(misses):
            raws = await read(sel, chunk, outcome, header=not self.full)
            for _seq, info in chunk:
                rows.pop(info.uid, None)  # an envelope-only row of a message now gone or broken
            if raws:
                new = await trio.to_thread.run_sync(
                    partial(fill, cache, raws, self.full), limiter=FILL_THREADS
                )
                cache.remember(new)
                rows.update(new)
        if look_ahead is not None:
            look_ahead()
        lines = self.lines(
            present, rows, recent, uid_first=uid_first, wants_modseq=wants_modseq, utf8=ctx.utf8
        )
        data = b"".join(lines)
        if data:
            await ctx.send_bytes(data)
        await trio.lowlevel.checkpoint()


class _Ahead:
    """The structure cache's rows of the next round, looked up by a task of the FETCH's nursery while
    this round is formatted and sent: the lookup is a worker thread's SQLite read, which the event
    loop's formatting and socket writes overlap (two cores: ENVELOPE+BODYSTRUCTURE of 10,000 messages
    after a restart is ten such reads)."""

    __slots__ = ("_done", "_error", "_rows")

    def __init__(self, nursery: trio.Nursery, cache: StructCache, uids: list[int]) -> None:
        self._done = trio.Event()
        self._rows: dict[int, StructRow] = {}
        self._error: Exception | None = None
        nursery.start_soon(self._run, cache, uids)

    async def _run(self, cache: StructCache, uids: list[int]) -> None:
        try:
            self._rows = await cache.get(uids)
        except Exception as exc:  # raised by ``rows`` in the FETCH's own task, outside any group
            self._error = exc
        finally:
            self._done.set()

    async def rows(self) -> dict[int, StructRow]:
        await self._done.wait()
        if self._error is not None:
            raise self._error
        return self._rows


_STRUCT_PLANS: PlanMemo[StructPlan | None] = PlanMemo(StructPlan._plan)


def plan_for(items: tuple[cmd.FetchItem, ...], mailbox: object) -> tuple[StructPlan, StructCache] | None:
    """The plan and the mailbox's structure cache when this FETCH can be answered from it."""
    structures = getattr(mailbox, "structures", None)
    if structures is None:
        return None
    plan = StructPlan.for_items(items)
    if plan is None:
        return None
    cache: StructCache = structures()
    return plan, cache


async def prefill(
    cache: StructCache, read: Callable[[list[int]], Awaitable[dict[int, bytes]]], uids: list[int]
) -> int:
    """Compute and store the full rows of ``uids`` the cache lacks (``maildird reindex``); ``read``
    is ``Mailbox.read_messages``. Returns how many rows were computed."""
    rows = await cache.get(uids)
    missing = [uid for uid in uids if not (uid in rows and rows[uid].full)]
    done = 0
    for start in range(0, len(missing), MISS_BATCH):
        # A file that reads as empty is left out (the FETCH path reports it; never keep its row).
        raws = {uid: raw for uid, raw in (await read(missing[start : start + MISS_BATCH])).items() if raw}
        if raws:
            await trio.to_thread.run_sync(partial(fill, cache, raws, True), limiter=FILL_THREADS)
            done += len(raws)
    return done


__all__ = ["STRUCT_BATCH", "StructName", "StructPlan", "compute_row", "fill", "plan_for", "prefill"]
