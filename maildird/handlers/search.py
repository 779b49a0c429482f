"""SEARCH and UID SEARCH (RFC 9051 §6.4.4), ESEARCH (RFC 4731), SEARCHRES (RFC 5182), MODSEQ
(RFC 7162 §3.1.5).

Theory of operation
-------------------
1. The keys of the top-level AND that need no message (flags, sets, sizes, internal dates, modseqs)
   filter the whole snapshot first, each as one compiled test over a list
   (``message.search.snapshot_test``): ``UNSEEN SINCE d`` costs two comprehensions, not a
   ``SearchContext`` per message.
2. If content keys remain, the candidates are read in batches, one store call per batch
   (``read_messages``: one thread hop, or one header-cache query, for many files), only their header
   block when no key needs a body. When the remaining key still holds snapshot leaves (``OR FROM x
   SEEN``), ``prefilter`` first decides what it can without reading.
3. Each batch is matched in one worker-thread hop (``_match_batch``), so the event loop never decodes
   mail: ``search.misses`` rejects most messages from their raw octets, the rest are parsed and
   evaluated exactly (``search.matches``).

2'. When every content key is a header key on a field the store caches texts for
   (``message.search_fields.key_fields``: FROM, TO, CC, BCC, SUBJECT...) and the store offers
   ``header_texts`` (the Maildir store's ``searchcache``), steps 2 and 3 are replaced: the store gives
   each candidate's decoded, normalised field texts (memory, its cache file, or derived from the header
   block once and kept), and the key is matched against them on the event loop
   (``search_fields.texts_filter``: a substring test per message, the same test ``search.matches``
   makes). A header SEARCH then reads no header block: 17 ms -> ~2 ms for ``FROM x SINCE d UNSEEN``
   over 10,000 messages.

2''. When the content left is one TEXT or BODY key (or NOT of one) and the store keeps body rows
   (``Mailbox.search_rows``), ``handlers.search_text`` decides it from them: messages with
   attachments without reading their files, the others from their octets with their
   classification already known (see that module).

Result forms: ``* SEARCH n...`` for the plain form (with ``(MODSEQ m)`` when a MODSEQ key was used);
``* ESEARCH (TAG "t") [UID] MIN MAX COUNT ALL [MODSEQ]`` with RETURN, and for every SEARCH after
``ENABLE IMAP4rev2`` (RFC 9051 §6.4.4: rev2 answers ESEARCH). RETURN (SAVE) alone sends no ESEARCH
(RFC 5182 §2); SAVE with only MIN and/or MAX saves just those.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import trio

from maildird.handlers import search_text
from maildird.handlers.context import Context, Selected
from maildird.handlers.fetch import batches
from maildird.handlers.fetch_read import PARSE_THREADS
from maildird.handlers.search_context import search_context
from maildird.handlers.updates import enable_condstore, require_selected, uid_set
from maildird.imap import commands as cmd
from maildird.imap.errors import Bad, No
from maildird.imap.responses import Atom, Code, Tagged, Untagged, Value
from maildird.message.search import (
    Octets,
    header_block_rejecter,
    matches,
    misses,
    needs_body,
    needs_message,
    prefilter,
)
from maildird.message.search_fields import RECIPE, key_fields, texts_filter
from maildird.message.snapshot import Mailbox, conjuncts, content_only, snapshot_filter
from maildird.store.base import MessageGone, MessageInfo

CHARSETS = ("UTF-8", "US-ASCII")
"""What CHARSET may name (RFC 9051 §6.4.4 requires UTF-8; US-ASCII is its subset)."""
MAX_KEYS = 1000
"""Search keys in one SEARCH; evaluation costs keys x messages."""
BATCH = 64
"""Messages read and matched per round when bodies are needed (and at most ``fetch.BATCH_BYTES``)."""
HEADER_BATCH = 1024
"""Messages per round when only headers are read: a header is a few KB, and each round costs a store
call and two thread hops."""

TEXT_BATCH = 4096
"""Messages per round when every content key is answered from cached header texts
(``Mailbox.header_texts``): each round is matched on the event loop, a fraction of a microsecond
per message, so a round stays well under a millisecond or two."""

Candidate = tuple[int, MessageInfo]
"""(sequence number, snapshot info)."""
Work = tuple[int, MessageInfo, bytes, bool]
"""(sequence number, snapshot info, octets, recent) for ``_match_batch``."""


def _count_keys(key: cmd.SearchKey) -> int:
    if isinstance(key, cmd.SearchNot):
        return 1 + _count_keys(key.key)
    if isinstance(key, cmd.SearchOr):
        return 1 + _count_keys(key.left) + _count_keys(key.right)
    if isinstance(key, cmd.SearchAnd):
        return 1 + sum(_count_keys(k) for k in key.keys)
    return 1


def _uses_modseq(key: cmd.SearchKey) -> bool:
    if isinstance(key, cmd.SearchModSeq):
        return True
    if isinstance(key, cmd.SearchNot):
        return _uses_modseq(key.key)
    if isinstance(key, cmd.SearchOr):
        return _uses_modseq(key.left) or _uses_modseq(key.right)
    if isinstance(key, cmd.SearchAnd):
        return any(_uses_modseq(k) for k in key.keys)
    return False


async def search(ctx: Context, c: cmd.Search) -> Tagged:
    sel = require_selected(ctx)
    view = sel.view
    if c.charset is not None and c.charset not in CHARSETS:
        if c.return_options is not None and "SAVE" in c.return_options:
            view.saved = []  # RFC 5182 §2.1: a SEARCH with SAVE answered NO leaves $ empty
        code = Code("BADCHARSET", (tuple(Atom(x) for x in CHARSETS),))
        raise No(f"Charset {c.charset} is not supported.", code)
    if _count_keys(c.key) > MAX_KEYS:
        raise Bad(f"At most {MAX_KEYS} search keys.", "LIMIT")
    options = c.return_options
    save = options is not None and "SAVE" in options
    saved = frozenset(view.saved)  # what "$" means inside this very command (RFC 5182 §2)
    if save:
        view.saved = []  # RFC 5182 §2: a failed SEARCH leaves $ empty
    modseq_key = _uses_modseq(c.key)
    if modseq_key:
        if not ctx.config.mail.condstore:
            raise Bad("CONDSTORE is not enabled on this server.")
        await enable_condstore(ctx)  # RFC 7162 §3.1: a CONDSTORE enabling command

    hits = await _evaluate(sel, c.key, saved)

    numbers = [info.uid if c.uid else seq for seq, info in hits]
    top_modseq = max((info.modseq for _s, info in hits), default=None) if modseq_key else None
    if options is None and not ctx.rev2:
        data: list[Value] = [Atom("SEARCH"), *numbers]
        if top_modseq is not None:
            data.append((Atom("MODSEQ"), top_modseq))
        await ctx.send(Untagged(tuple(data)))
    else:
        # RETURN () means ALL (RFC 4731 §3.1); a rev2 plain SEARCH answers as RETURN (ALL).
        wanted = set(options) if options else {"ALL"}
        if save:
            view.saved = _saved(hits, wanted)
        if options is None or wanted - {"SAVE"}:
            await ctx.send(Untagged(_esearch(c, numbers, wanted, top_modseq)))
    return Tagged(c.tag, "OK", f"{'UID SEARCH' if c.uid else 'SEARCH'} completed.")


def _saved(hits: list[tuple[int, MessageInfo]], wanted: set[str]) -> list[int]:
    """The new ``$`` (RFC 5182 §2): every hit, or only the MIN/MAX ones when those are all that
    was asked for besides SAVE."""
    if wanted & {"ALL", "COUNT"} or not wanted & {"MIN", "MAX"} or not hits:
        return [info.uid for _s, info in hits]
    ends: set[int] = set()
    if "MIN" in wanted:
        ends.add(hits[0][1].uid)
    if "MAX" in wanted:
        ends.add(hits[-1][1].uid)
    return sorted(ends)


def _esearch(
    c: cmd.Search, numbers: list[int], wanted: set[str], top_modseq: int | None
) -> tuple[Value, ...]:
    """RFC 4731 §3.1 ``* ESEARCH (TAG "t") [UID] ...``; empty results leave MIN/MAX/ALL out."""
    out: list[Value] = [Atom("ESEARCH"), (Atom("TAG"), c.tag)]
    if c.uid:
        out.append(Atom("UID"))
    if numbers and "MIN" in wanted:
        out += [Atom("MIN"), numbers[0]]
    if numbers and "MAX" in wanted:
        out += [Atom("MAX"), numbers[-1]]
    if "COUNT" in wanted:
        out += [Atom("COUNT"), len(numbers)]
    if numbers and "ALL" in wanted:
        out += [Atom("ALL"), Atom(uid_set(numbers))]
    if top_modseq is not None and numbers:
        out += [Atom("MODSEQ"), top_modseq]
    return tuple(out)


async def _evaluate(sel: Selected, key: cmd.SearchKey, saved: frozenset[int]) -> list[Candidate]:
    """The messages of the view that match ``key``, in sequence order (module docstring)."""
    view = sel.view
    messages = view.messages
    box = Mailbox(
        largest_seq=len(messages),
        largest_uid=messages[-1].uid if messages else 0,
        saved=saved,
        now=datetime.now(UTC),
        recent=view.is_recent,
    )
    parts = conjuncts(key)
    content = [k for k in parts if needs_message(k)]
    candidates = snapshot_filter([k for k in parts if not needs_message(k)], box, messages)
    if not content:
        return candidates
    rest = content[0] if len(content) == 1 else cmd.SearchAnd(tuple(content))
    header = not needs_body(rest)
    fields = key_fields(rest) if header else None
    texts = getattr(sel.mailbox, "header_texts", None)
    if fields and texts is not None:
        return await _evaluate_texts(sel, rest, candidates, box, sorted(fields), texts)
    if search_text.applies(sel, rest):
        return await search_text.evaluate(sel, rest, candidates, box)
    return await _evaluate_octets(sel, rest, candidates, box, header)


async def _evaluate_octets(
    sel: Selected, key: cmd.SearchKey, candidates: list[Candidate], box: Mailbox, header: bool
) -> list[Candidate]:
    """``key`` over the candidates' octets (module docstring, step 2 and 3)."""
    mixed = not content_only(key)
    hits: list[Candidate] = []
    # Read, then match, batch by batch. Reading the next batch while one matches was slower warm
    # (1.8 s against 1.5 s for SEARCH TEXT on the 10k preset): the reader thread waits for the GIL
    # after every file's system calls while the matcher holds it.
    for batch in batches(candidates, text=not header, count=HEADER_BATCH if header else BATCH):
        if mixed:  # decide from the snapshot what can be decided before reading anything
            batch = _prefilter(key, batch, box, header, hits)
        if batch:
            raws = await _read(sel, batch, header=header)
            recent = box.recent  # asked here, on the event loop: the view is not the thread's to read
            work = [(s, i, raws[i.uid], recent(i.uid)) for s, i in batch if i.uid in raws]
            found = await trio.to_thread.run_sync(_match_batch, key, work, box, header, limiter=PARSE_THREADS)
            hits.extend(found)
        await trio.lowlevel.checkpoint()
    if mixed:
        hits.sort(key=lambda h: h[0])
    return hits


async def _evaluate_texts(
    sel: Selected,
    key: cmd.SearchKey,
    candidates: list[Candidate],
    box: Mailbox,
    fields: list[str],
    texts: Any,
) -> list[Candidate]:
    """``key`` (header keys on ``CACHED_FIELDS`` only) over the candidates' cached texts (module
    docstring, step 2'); the few the store could not give texts for (an empty or vanished file) go
    the octet way, which decides them as it always did."""
    view = sel.view
    hits: list[Candidate] = []
    leftovers: list[Candidate] = []
    for start in range(0, len(candidates), TEXT_BATCH):
        batch = [c for c in candidates[start : start + TEXT_BATCH] if not view.is_expunged(c[1].uid)]
        if not batch:
            continue
        uids = [i.uid for _s, i in batch]
        tables: dict[str, dict[int, str | None]] = await texts(fields, uids, RECIPE)
        known = batch
        wanted = set(uids)
        # A table may hold more UIDs than asked for, and lacks only unreadable ones (rare).
        for field in fields:
            table = tables[field]
            if not table.keys() >= wanted:
                known = [c for c in known if c[1].uid in table]
        if len(known) < len(batch):
            have = {c[1].uid for c in known}
            leftovers.extend(c for c in batch if c[1].uid not in have)
        hits.extend(known[n] for n in texts_filter(key, box, tables, known))
        await trio.lowlevel.checkpoint()
    if leftovers:
        hits.extend(await _evaluate_octets(sel, key, leftovers, box, True))
        hits.sort(key=lambda h: h[0])
    return hits


def _prefilter(
    key: cmd.SearchKey, batch: list[Candidate], box: Mailbox, header: bool, hits: list[Candidate]
) -> list[Candidate]:
    """The batch's messages ``key`` cannot be decided for from the snapshot; the ones it decides true
    go to ``hits``."""
    undecided: list[Candidate] = []
    for seq, info in batch:
        verdict = prefilter(key, search_context(seq, info, box, header=header))
        if verdict is None:
            undecided.append((seq, info))
        elif verdict:
            hits.append((seq, info))
    return undecided


def _match_batch(key: cmd.SearchKey, work: list[Work], box: Mailbox, header: bool) -> list[Candidate]:
    """The matching messages of one batch (runs in a worker thread). A message whose file reads as
    empty although its size is not (a broken file) cannot match, as a vanished one cannot."""
    hits: list[Candidate] = []
    reject = header_block_rejecter(key) if header else None
    for seq, info, raw, recent in work:
        if not raw and info.size > 0:
            continue
        octets = Octets(raw, header_only=header)
        if reject(octets) if reject is not None else misses(key, octets):
            continue
        sctx = search_context(seq, info, box, header=header, octets=octets, recent=recent)
        if matches(key, sctx):
            hits.append((seq, info))
    return hits


async def _read(sel: Selected, batch: list[Candidate], *, header: bool) -> dict[int, bytes]:
    """The octets (just the header block with ``header``) of the batch's messages still on disk."""
    uids = [info.uid for _seq, info in batch if not sel.view.is_expunged(info.uid)]
    bulk = getattr(sel.mailbox, "read_messages", None)
    if bulk is not None:  # one thread hop (or one header-cache query) for the whole batch
        raws: dict[int, bytes] = await bulk(uids, header_only=header)
        return raws
    out: dict[int, bytes] = {}
    for uid in uids:
        try:
            out[uid] = await sel.mailbox.read_message(uid)
        except MessageGone:
            continue
    return out
