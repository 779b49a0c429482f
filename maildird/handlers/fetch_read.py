"""How FETCH reads the messages of a round (RFC 9051 §6.4.5): files, header sections, parsed messages.

Theory of operation
-------------------
``read_raw`` reads a round's files: through the store's ``read_messages`` when it has one (one thread
hop for the round, the Maildir store), else one ``read_message`` per file by at most
``READ_CONCURRENCY`` tasks. ``read_sections`` asks the store's section cache for the header sections a
``LinePlan`` needs, or renders them from header blocks. ``read_batch`` parses what ``read_raw`` read,
messages of ``PARSE_IN_THREAD`` octets or more in a worker thread (``PARSE_THREADS``, server-wide).
A message gone from disk, or read as empty although its size is not zero (never served as an empty
body, peers.md §5), is left out and noted in the round's ``Outcome`` for the tagged reply.

Moved unchanged out of fetch.py (the 400-line house rule); fetch.py imports these names back.
"""

from __future__ import annotations

import trio

from maildird.handlers.context import Selected
from maildird.handlers.fetch_lines import LinePlan, Sections
from maildird.message import ParsedMessage
from maildird.store.base import MessageGone, MessageInfo, StoreError

READ_CONCURRENCY = 8
"""Message files read at once by one FETCH."""
PARSE_IN_THREAD = 1 << 20
"""Messages at least this large (octets) are parsed in a worker thread."""
PARSE_THREADS = trio.CapacityLimiter(4)
"""Worker threads parsing big messages, server-wide."""


async def _parse(raw: bytes, *, header: bool = False) -> ParsedMessage:
    if header:
        return ParsedMessage.parse_header(raw)
    if len(raw) >= PARSE_IN_THREAD:
        return await trio.to_thread.run_sync(ParsedMessage.parse, raw, limiter=PARSE_THREADS)
    return ParsedMessage.parse(raw)


class Outcome:
    """What went wrong along the way, for the tagged reply. ``error`` keeps the first store error
    raised inside the reading tasks, re-raised outside the nursery so that ``handle`` maps it to
    ``NO [code]`` (a nursery would wrap it in an ExceptionGroup)."""

    __slots__ = ("broken", "error", "gone")

    def __init__(self) -> None:
        self.gone = False
        self.broken = False
        self.error: StoreError | None = None


async def read_raw(
    sel: Selected, batch: list[tuple[int, MessageInfo]], outcome: Outcome, *, header: bool = False
) -> dict[int, bytes]:
    """The batch's files (with ``header`` their header blocks, as stored) by UID, read with bounded
    concurrency; missing ones are left out and noted in ``outcome``, as are empty files of messages
    whose size is not zero (never served as an empty message)."""
    raws: dict[int, bytes] = {}
    bulk = getattr(sel.mailbox, "read_messages", None)
    if bulk is not None:  # one thread hop for the whole batch (the Maildir store has it)
        wanted = [info for _seq, info in batch if not sel.view.is_expunged(info.uid)]
        outcome.gone = outcome.gone or len(wanted) < len(batch)
        found: dict[int, bytes] = await bulk([info.uid for info in wanted], header_only=header)
        for info in wanted:
            raw = found.get(info.uid)
            if raw is None:
                outcome.gone = True
            elif not raw and info.size > 0:
                outcome.broken = True
            else:
                raws[info.uid] = raw
        return raws
    limiter = trio.CapacityLimiter(READ_CONCURRENCY)

    async def one(info: MessageInfo) -> None:
        async with limiter:
            try:
                raw = await sel.mailbox.read_message(info.uid)
            except MessageGone:
                outcome.gone = True
                return
            except StoreError as exc:
                outcome.error = outcome.error or exc
                return
        if not raw and info.size > 0:
            outcome.broken = True
            return
        raws[info.uid] = raw

    async with trio.open_nursery() as nursery:
        for _seq, info in batch:
            if sel.view.is_expunged(info.uid):
                outcome.gone = True
                continue
            nursery.start_soon(one, info)
    if outcome.error is not None:
        raise outcome.error
    return raws


async def read_sections(
    sel: Selected, batch: list[tuple[int, MessageInfo]], outcome: Outcome, plan: LinePlan
) -> dict[int, Sections]:
    """The header sections ``plan`` asks for, of the batch's messages, by UID (missing ones left out
    and noted in ``outcome`` as ``read_raw`` does). A store with ``read_sections`` (the Maildir store:
    its section cache, ``store.maildir.sectioncache``) answers them; others give header blocks, which
    are rendered here. A section whose CRLF header length is 0 comes from an empty header block: an
    empty file, broken when the message's size is not zero."""
    bulk = getattr(sel.mailbox, "read_sections", None)
    if bulk is None:
        raws = await read_raw(sel, batch, outcome, header=True)
        return {uid: plan.sections_of(raw) for uid, raw in raws.items()}
    wanted = [info for _seq, info in batch if not sel.view.is_expunged(info.uid)]
    outcome.gone = outcome.gone or len(wanted) < len(batch)
    found: dict[int, Sections] = await bulk([info.uid for info in wanted], plan.specs)
    out: dict[int, Sections] = {}
    for info in wanted:
        sections = found.get(info.uid)
        if sections is None:
            outcome.gone = True
        elif sections[0][1] == 0 and info.size > 0:
            outcome.broken = True
        else:
            out[info.uid] = sections
    return out


async def read_batch(
    sel: Selected, batch: list[tuple[int, MessageInfo]], outcome: Outcome, *, header: bool = False
) -> dict[int, ParsedMessage]:
    """Read and parse the batch's files (``read_raw``); missing ones are left out. With ``header``
    only each message's header is parsed (``ParsedMessage.parse_header``)."""
    raws = await read_raw(sel, batch, outcome, header=header)
    return {uid: await _parse(raw, header=header) for uid, raw in raws.items()}
