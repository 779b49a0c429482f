"""SEARCH TEXT and BODY from stored body rows (RFC 9051 §6.4.4; ``message.search_bodies``).

Theory of operation
-------------------
When the content left of a SEARCH (after the snapshot keys filtered the candidates) is one TEXT or
BODY key and the store keeps body rows (``Mailbox.search_rows``: the Maildir store's search-text
cache file), the handler's octet path (``search._evaluate_octets``: read every candidate's file,
classify its octets, parse what they cannot settle) is replaced by:

1. ``TEXT_BATCH`` candidates at a time, one store call for their rows (one worker-thread hop: a UID
   range of the cache file);
2. in a worker thread, each row decoded and, when it keeps every text the key compares against (a
   message with attachments: most of a folder's octets), decided (``search_bodies.verdict``)
   without its file;
3. the others read in rounds (``ROW_BATCH`` messages, ``fetch.BATCH_BYTES``; one store call each)
   and decided in one thread hop per round from their row and octets, the exact path
   (``search.matches``) deciding what neither settles (the hits, mostly). A candidate without a
   row (or whose row does not fit its file) gets one derived from its octets there, and the new
   rows are written every ``KEEP_EVERY`` and at the end (``Mailbox.keep_search_rows``), so the
   next TEXT search reads no attachment again. A chunk's rows are written with the incarnation
   its rows were read with (``keep_search_rows`` drops them if it is over).

The answers are the exact path's: a kept text is the exact path's own text, and a raw region proves
only what ``search_octets`` proves (tests/handlers/test_search_text.py compares both paths).
"""

from __future__ import annotations

from typing import Any

import trio

from maildird.handlers.context import Selected
from maildird.handlers.fetch import batches
from maildird.handlers.fetch_read import PARSE_THREADS
from maildird.handlers.search_context import search_context
from maildird.imap import commands as cmd
from maildird.message import search_bodies
from maildird.message.search import Octets, matches
from maildird.message.search_bodies import Needle, Row
from maildird.message.search_fields import RECIPE
from maildird.message.snapshot import Mailbox
from maildird.store.base import MessageInfo

ROW_BATCH = 1024
"""Messages read per round when rows say their files are needed (and at most ``fetch.BATCH_BYTES``):
those are the small ones (no attachment), so a round is a few MB, and each round costs a store call
and two thread hops."""

KEEP_EVERY = 2048
"""New rows are written whenever this many have been derived (and at the end)."""

TEXT_BATCH = 4096
"""Candidates whose rows are read (one store call), decoded and decided (one worker-thread hop) at a
time, before their files are read: what is held in memory at once is bounded by this."""

Candidate = tuple[int, MessageInfo]
Pending = tuple[int, MessageInfo, Row | None]
"""(sequence number, info, its row or None): a candidate whose file must be read."""


def applies(sel: Selected, key: cmd.SearchKey) -> bool:
    """True when ``key`` (the content left of a SEARCH) is one TEXT or BODY key, or NOT of one, and
    the store keeps body rows."""
    if isinstance(key, cmd.SearchNot):
        key = key.key
    return isinstance(key, cmd.SearchText) and getattr(sel.mailbox, "search_rows", None) is not None


async def evaluate(
    sel: Selected, key: cmd.SearchKey, candidates: list[Candidate], box: Mailbox
) -> list[Candidate]:
    """The candidates matching ``key`` (``applies``; module docstring), in sequence order."""
    if isinstance(key, cmd.SearchNot):
        assert isinstance(key.key, cmd.SearchText)
        hits, unread = await _evaluate(sel, key.key, candidates, box)
        found = {seq for seq, _i in hits}
        # A message that vanished or reads as empty matches nothing, NOT either (the octet path).
        view = sel.view
        return [
            c for c in candidates if not (c[0] in found or c[1].uid in unread or view.is_expunged(c[1].uid))
        ]
    assert isinstance(key, cmd.SearchText)
    return (await _evaluate(sel, key, candidates, box))[0]


async def _evaluate(
    sel: Selected, key: cmd.SearchText, candidates: list[Candidate], box: Mailbox
) -> tuple[list[Candidate], set[int]]:
    """The hits, and the UIDs of candidates whose file could not be read (gone, or empty although
    their size is not)."""
    mailbox: Any = sel.mailbox
    view = sel.view
    live = [c for c in candidates if not view.is_expunged(c[1].uid)]
    if not live:
        return [], set()
    needle = Needle.of(key)
    hits: list[Candidate] = []
    unread: set[int] = set()
    for start in range(0, len(live), TEXT_BATCH):
        chunk = [c for c in live[start : start + TEXT_BATCH] if not view.is_expunged(c[1].uid)]
        if not chunk:
            continue
        token, stored = await mailbox.search_rows([i.uid for _s, i in chunk], RECIPE)
        found, pending = await trio.to_thread.run_sync(
            _decide_rows, needle, chunk, stored, limiter=PARSE_THREADS
        )
        del stored
        hits.extend(found)
        if pending:
            hits.extend(await _decide_pending(sel, key, needle, pending, box, token, unread))
    hits.sort(key=lambda h: h[0])
    return hits, unread


async def _decide_pending(
    sel: Selected,
    key: cmd.SearchText,
    needle: Needle,
    pending: list[Pending],
    box: Mailbox,
    token: object,
    unread: set[int],
) -> list[Candidate]:
    """The hits among candidates whose files must be read (module docstring, step 3); adds the
    UIDs of files that could not be read to ``unread``."""
    mailbox: Any = sel.mailbox
    view = sel.view
    hits: list[Candidate] = []
    new_rows: dict[int, bytes] = {}
    rows = {i.uid: r for _s, i, r in pending if r is not None}  # only read by the worker threads
    for batch in batches([(s, i) for s, i, _r in pending], text=True, count=ROW_BATCH):
        uids = [i.uid for _s, i in batch if not view.is_expunged(i.uid)]
        raws: dict[int, bytes] = await mailbox.read_messages(uids)
        recent = box.recent  # asked here, on the event loop: the view is not the thread's to read
        work = [(s, i, raws[i.uid], recent(i.uid)) for s, i in batch if i.uid in raws]
        unread.update(i.uid for _s, i in batch if i.uid not in raws or (not raws[i.uid] and i.size > 0))
        found, derived = await trio.to_thread.run_sync(
            _decide_files, key, needle, work, rows, box, limiter=PARSE_THREADS
        )
        hits.extend(found)
        new_rows.update(derived)
        if len(new_rows) >= KEEP_EVERY:  # kept as they come: a long first search may be cancelled
            await mailbox.keep_search_rows(token, new_rows)
            new_rows = {}
        await trio.lowlevel.checkpoint()
    if new_rows:
        await mailbox.keep_search_rows(token, new_rows)
    return hits


def _decide_rows(
    needle: Needle, chunk: list[Candidate], stored: dict[int, bytes]
) -> tuple[list[Candidate], list[Pending]]:
    """Worker thread: the chunk's hits decided from rows alone, and the rest with their rows."""
    hits: list[Candidate] = []
    rest: list[Pending] = []
    verdict = search_bodies.verdict
    decode = search_bodies.decode
    for seq, info in chunk:
        data = stored.get(info.uid)
        row = decode(data) if data is not None else None
        if row is not None and not row.needs_octets:
            found = verdict(needle, row)
            if found is not None:
                if found:
                    hits.append((seq, info))
                continue
        rest.append((seq, info, row))
    return hits, rest


def _decide_files(
    key: cmd.SearchText,
    needle: Needle,
    work: list[tuple[int, MessageInfo, bytes, bool]],
    rows: dict[int, Row],
    box: Mailbox,
) -> tuple[list[Candidate], dict[int, bytes]]:
    """Worker thread: the round's hits, from rows and octets (the exact path for what they leave
    open), and the rows derived for messages that had none (or one that does not fit the file)."""
    hits: list[Candidate] = []
    derived: dict[int, bytes] = {}
    for seq, info, raw, recent in work:
        if not raw and info.size > 0:
            continue  # a broken file cannot match, as a vanished one cannot (search._match_batch)
        row = rows.get(info.uid)
        if row is None or row.length != len(raw):
            row = search_bodies.derive(raw)
            derived[info.uid] = search_bodies.encode(row)
        found = search_bodies.verdict(needle, row, raw)
        if found is None:
            found = matches(key, search_context(seq, info, box, octets=Octets(raw), recent=recent))
        if found:
            hits.append((seq, info))
    return hits, derived
