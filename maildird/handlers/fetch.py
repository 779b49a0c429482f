"""FETCH and UID FETCH (RFC 9051 §6.4.5, RFC 3516 BINARY, RFC 7162 CHANGEDSINCE/VANISHED).

Theory of operation
-------------------
1. Resolve the set against the selected view (a message number past EXISTS is BAD; a UID that does
   not exist is skipped). With CHANGEDSINCE keep the messages whose MODSEQ is higher; with VANISHED
   first report the UIDs of the set expunged since then (RFC 7162 §3.2.6).
2. Messages go in batches of at most ``BATCH`` messages and, when their text is needed, at most
   ``BATCH_BYTES`` octets (one message at least), so a FETCH of big mail holds little memory. If any
   item needs the message text, the batch's files are read at once by at most ``READ_CONCURRENCY``
   tasks, and each message is parsed once (big ones in a worker thread; fetch_read.py).
   Items that need only the snapshot (FLAGS, UID, INTERNALDATE, RFC822.SIZE, MODSEQ) never touch a
   file; when they are all the FETCH asks, ``fetch_flags`` answers from the
   lines of the view's whole run, kept across commands and sessions. When every item needs at most the
   snapshot and the top-level header
   (a message list), ``fetch_lines.LinePlan`` formats each response line straight to bytes in larger
   rounds and sends them with ``Context.send_bytes``; the header sections come from the store's section
   cache (``read_sections``) or are rendered from the header blocks, without parsing.
   When body sections (BODY[...], BINARY[...], RFC822, RFC822.TEXT) are asked beside snapshot items
   only, ``fetch_bodies.BodyPlan`` writes the lines straight to bytes, the bodies from its cache of
   recently read messages or read as below. When ENVELOPE, BODY or BODYSTRUCTURE are asked beside
   snapshot items only and the mailbox keeps a structure cache (``Mailbox.structures``),
   ``fetch_structs.StructPlan`` answers from it instead.
3. If an item implicitly sets ``\\Seen`` (BODY[...] without PEEK, BINARY[...], RFC822, RFC822.TEXT;
   the seed missed the last two, peers.md §1.7 item 6) and the mailbox is read-write, one STORE for
   the batch adds it, and those messages' responses carry the new FLAGS (RFC 9051 §6.4.5).
4. Each response starts with UID when the command is UID FETCH or UID was asked for (Thunderbird
   pairs bodies by it, peers.md §5), then the items in the order asked.

A message that vanished from disk meanwhile is skipped and the tagged reply becomes
``NO [EXPUNGEISSUED]``; a message whose file reads as empty although its size is not zero is never
served as an empty body (Thunderbird deletes such mail, peers.md §5): the reply is ``NO [SERVERBUG]``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial

import trio

from maildird.handlers import fetch_bodies, fetch_flags
from maildird.handlers.context import Context, Selected
from maildird.handlers.fetch_lines import (
    LinePlan,
    PlanMemo,
    Sections,
    section_label,
)
from maildird.handlers.fetch_read import (
    PARSE_THREADS,
    Outcome,
    _parse,
    read_batch,
    read_raw,
    read_sections,
)
from maildird.handlers.fetch_render import render, structures
from maildird.handlers.fetch_structs import plan_for
from maildird.handlers.updates import (
    RangeSet,
    enable_condstore,
    missing_set,
    require_selected,
    uid_set,
)
from maildird.imap import commands as cmd
from maildird.imap.errors import EXPUNGEISSUED, SERVERBUG, Bad, No
from maildird.imap.responses import Atom, Code, Tagged, Untagged
from maildird.message import (
    ParsedMessage,
)
from maildird.message.bodystructure import StructureTooLarge
from maildird.store.base import MessageInfo

BATCH = 32
"""Messages read, marked \\Seen and answered per round."""
BATCH_BYTES = 8 << 20
"""Octets of message text read per round (the first message of a round counts whatever its size)."""
MAX_SECTIONS = 64
"""BODY[...]/BINARY[...] items in one FETCH. Each copies part of the message into the response, so
their number bounds the memory one response can take (a 1 MiB command could name thousands)."""

SEEN = "\\Seen"
_TEXT_ATTS = frozenset({"ENVELOPE", "BODY", "BODYSTRUCTURE", "RFC822", "RFC822.HEADER", "RFC822.TEXT"})
_SEEN_ATTS = frozenset({"RFC822", "RFC822.TEXT"})


def batches(
    targets: list[tuple[int, MessageInfo]], *, text: bool, count: int = BATCH
) -> Iterator[list[tuple[int, MessageInfo]]]:
    """``targets`` in rounds of at most ``count`` messages and, with ``text``, ``BATCH_BYTES``."""
    if not text:
        for start in range(0, len(targets), count):
            yield targets[start : start + count]
        return
    batch: list[tuple[int, MessageInfo]] = []
    size = 0
    for target in targets:
        if batch and (len(batch) >= count or size + target[1].size > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(target)
        size += target[1].size
    if batch:
        yield batch


_HEADER_TEXTS = frozenset({"HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT"})
_SNAPSHOT_ATTS = frozenset({"UID", "FLAGS", "INTERNALDATE", "RFC822.SIZE", "MODSEQ"})


def header_only(items: tuple[cmd.FetchItem, ...]) -> bool:
    """True when no item needs more of a message than its top-level header (a message list's
    ``BODY.PEEK[HEADER.FIELDS (...)]``, ``RFC822.HEADER``, ``ENVELOPE``): then only the header is parsed."""
    for item in items:
        if isinstance(item, cmd.FetchAtt):
            if item.name not in _SNAPSHOT_ATTS and item.name not in ("RFC822.HEADER", "ENVELOPE"):
                return False
        elif (
            not isinstance(item, cmd.FetchBody) or item.section.part or item.section.text not in _HEADER_TEXTS
        ):
            return False
    return True


def _needs_text(item: cmd.FetchItem) -> bool:
    if isinstance(item, cmd.FetchAtt):
        return item.name in _TEXT_ATTS
    return True


def _sets_seen(item: cmd.FetchItem) -> bool:
    if isinstance(item, cmd.FetchAtt):
        return item.name in _SEEN_ATTS
    if isinstance(item, cmd.FetchBinary):
        return not item.peek and not item.size
    return not item.peek


def _dedupe(items: tuple[cmd.FetchItem, ...]) -> tuple[cmd.FetchItem, ...]:
    """The items, each once, in the order first asked; ``items`` itself when none repeats."""
    seen: set[cmd.FetchItem] = set()
    out: list[cmd.FetchItem] = []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return items if len(out) == len(items) else tuple(out)


@dataclass(frozen=True, slots=True)
class Shape:
    """What a FETCH's item list implies, worked out once per list (``shape_of``): a message list
    sends the same items with every command, and the grammar hands them out as the same tuple."""

    items: tuple[cmd.FetchItem, ...]
    """The items, each once (``_dedupe``)."""
    sections: int
    """Body sections asked (``MAX_SECTIONS``)."""
    modseq: bool
    """MODSEQ is asked for."""
    uid: bool
    """UID is asked for."""
    needs_text: bool
    header: bool
    """Some item needs the message and none more than its top-level header (``header_only``)."""
    sets_seen: bool
    """Some item sets ``\\Seen`` (in a read-write mailbox)."""


def _shape(items: tuple[cmd.FetchItem, ...]) -> Shape:
    items = _dedupe(items)
    needs_text = any(_needs_text(i) for i in items)
    return Shape(
        items=items,
        sections=sum(1 for i in items if not isinstance(i, cmd.FetchAtt)),
        modseq=any(isinstance(i, cmd.FetchAtt) and i.name == "MODSEQ" for i in items),
        uid=any(isinstance(i, cmd.FetchAtt) and i.name == "UID" for i in items),
        needs_text=needs_text,
        header=needs_text and header_only(items),
        sets_seen=any(_sets_seen(i) for i in items),
    )


shape_of: PlanMemo[Shape] = PlanMemo(_shape)
"""A FETCH item list's ``Shape``, remembered by the tuple's identity (``fetch_lines.PlanMemo``)."""


async def _vanished(ctx: Context, sel: Selected, c: cmd.Fetch) -> None:
    """``* VANISHED (EARLIER)`` for UIDs of the set expunged since CHANGEDSINCE (RFC 7162 §3.2.6)."""
    assert c.changedsince is not None
    view = sel.view
    largest = view.uids[-1] if view.uids else 0
    present = set(view.uids)
    history = await sel.mailbox.expunged_since(c.changedsince)
    if history is not None:
        wanted = RangeSet(c.set.resolve(max(largest, view.snapshot.uidnext - 1)))
        gone = uid_set(u for u in history if u not in present and u in wanted)
    else:
        # No history: every UID of the set below UIDNEXT that is not here (RFC 7162 §3.2.6 lets the
        # server report more than the client needs, never less).
        top = view.snapshot.uidnext - 1
        gone = missing_set([(a, min(b, top)) for a, b in c.set.resolve(top)], view.uids)
    if gone:
        await ctx.send(Untagged((Atom("VANISHED"), (Atom("EARLIER"),), Atom(gone))))


async def _send_lines(
    ctx: Context,
    sel: Selected,
    plan: LinePlan,
    batch: list[tuple[int, MessageInfo]],
    sections: dict[int, Sections] | None,
    changed: dict[int, MessageInfo],
    uid_first: bool,
    wants_modseq: bool,
) -> None:
    """One round of ``LinePlan`` lines, written at once. If a message's line fails (``BAD [LIMIT]``), the
    lines before it still go out first, as they would one by one on the general path."""
    view = sel.view
    recent = view.is_recent if not ctx.rev2 and view.recent_count else None
    lines: list[bytes] = []
    rendered = plan.render(
        batch,
        sections,
        changed,
        recent,
        uid_first=uid_first,
        condstore=ctx.condstore,
        wants_modseq=wants_modseq,
    )
    try:
        lines.extend(rendered)  # keeps the lines before a failing one
    finally:
        if lines:
            await ctx.send_bytes(b"".join(lines))


async def fetch(ctx: Context, c: cmd.Fetch) -> Tagged:
    """RFC 9051 §6.4.5 (module docstring)."""
    sel = require_selected(ctx)
    if c.vanished and not (c.uid and ctx.qresync and c.changedsince is not None):
        raise Bad("VANISHED needs UID FETCH, CHANGEDSINCE and ENABLE QRESYNC.", "CLIENTBUG")
    shape = shape_of(c.items)
    items = shape.items
    if shape.sections > MAX_SECTIONS:
        raise Bad(f"At most {MAX_SECTIONS} body sections per FETCH.", "LIMIT")
    wants_modseq = c.changedsince is not None or shape.modseq
    if wants_modseq:
        if not ctx.config.mail.condstore:
            raise Bad("CONDSTORE is not enabled on this server.")
        await enable_condstore(ctx)  # RFC 7162 §3.1: a CONDSTORE enabling command
    uid_first = c.uid or shape.uid
    plan = LinePlan.for_items(items)  # the plans keep their own memos (by identity, by value)
    if plan is not None and not plan.header:
        # Snapshot items only (a flag resync): the lines of the view's run (fetch_flags).
        wanted = fetch_flags.spans(sel.view, c.set, uid=c.uid)
        await fetch_flags.send(
            ctx,
            sel.view,
            fetch_flags.shape_of(plan, uid_first=uid_first, wants_modseq=wants_modseq),
            wanted,
            changedsince=c.changedsince,
            recent=not ctx.rev2,
            before=partial(_vanished, ctx, sel, c) if c.vanished else None,
        )
        return Tagged(c.tag, "OK", f"{'UID FETCH' if c.uid else 'FETCH'} completed.")
    targets = sel.view.resolve(c.set, uid=c.uid)
    if c.changedsince is not None:
        targets = [(s, i) for s, i in targets if i.modseq > c.changedsince]
    if c.vanished:
        await _vanished(ctx, sel, c)
    needs_text = shape.needs_text
    header = shape.header
    sets_seen = not sel.readonly and shape.sets_seen
    outcome = Outcome()

    bodies = fetch_bodies.BodyPlan.for_items(items) if plan is None else None
    cached = plan_for(items, sel.mailbox) if plan is None and bodies is None else None
    if cached is not None:  # ENVELOPE/BODY/BODYSTRUCTURE from the store's cache (fetch_structs)
        await cached[0].send(
            ctx, sel, cached[1], targets, outcome, read_raw, uid_first=uid_first, wants_modseq=wants_modseq
        )
        targets = []
    # A plan reads no message text (header sections at most): its rounds are counted in messages.
    rounds = batches(
        targets, text=needs_text and plan is None, count=plan.batch if plan is not None else BATCH
    )
    for number, batch in enumerate(rounds):
        if number:
            # Between rounds, so a long FETCH lets the other connections run; the connection loop
            # checkpoints after every command (connection.next_event), so none is owed after the last.
            await trio.lowlevel.checkpoint()
        if plan is not None:
            # The rendered header sections (cached by the store), not the header blocks.
            sections = await read_sections(sel, batch, outcome, plan) if plan.header else None
            parsed: dict[int, ParsedMessage] | dict[int, Sections] = sections or {}
        elif bodies is not None:  # body sections beside snapshot items (fetch_bodies)
            found = await fetch_bodies.read_bodies(sel, batch, outcome, read_raw, _parse)
            parsed = found
        else:
            parsed = await read_batch(sel, batch, outcome, header=header) if needs_text else {}
        changed: dict[int, MessageInfo] = {}
        if sets_seen:
            unseen = [i.uid for _s, i in batch if SEEN not in i.flags and (not needs_text or i.uid in parsed)]
            if unseen:
                result = await sel.mailbox.store_flags(unseen, "add", frozenset({SEEN}))
                sel.view.note_changes(result.changed)
                changed = {i.uid: i for i in result.changed}
        if plan is not None:
            await _send_lines(ctx, sel, plan, batch, sections, changed, uid_first, wants_modseq)
            continue
        if bodies is not None:
            await fetch_bodies.send_lines(
                ctx, sel, bodies, batch, found, changed, uid_first=uid_first, wants_modseq=wants_modseq
            )
            continue
        for seq, info in batch:
            msg = parsed.get(info.uid)
            if needs_text and msg is None:
                continue
            assert msg is None or isinstance(msg, ParsedMessage)
            info = changed.get(info.uid, info)
            # A FETCH that set \Seen under CONDSTORE carries UID and MODSEQ too (RFC 7162 §3.1
            # lists it among the causes); a plain FETCH FLAGS does not (Dovecot agrees).
            again = partial(
                render,
                ctx,
                sel,
                info,
                msg,
                items,
                uid_first=uid_first or (ctx.condstore and info.uid in changed),
                add_flags=info.uid in changed,
                add_modseq=wants_modseq or (ctx.condstore and info.uid in changed),
                header=header,
            )
            try:
                data = again()
            except StructureTooLarge:
                # Thousands of MIME parts or addresses: build those values in a worker thread (the
                # walk so far stays cached in msg), then render again with them.
                assert msg is not None
                built = await trio.to_thread.run_sync(structures, msg, items, limiter=PARSE_THREADS)
                data = again(structures=built)
            await ctx.send(Untagged((seq, Atom("FETCH"), tuple(data))))

    if outcome.broken:
        return Tagged(c.tag, "NO", "Some messages could not be read.", Code(SERVERBUG))
    if outcome.gone:
        raise No("Some of the requested messages no longer exist.", EXPUNGEISSUED)
    return Tagged(c.tag, "OK", f"{'UID FETCH' if c.uid else 'FETCH'} completed.")


__all__ = ["fetch", "section_label"]
