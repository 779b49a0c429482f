"""SEARCH and UID SEARCH (RFC 9051 §6.4.4), ESEARCH (RFC 4731), SEARCHRES (RFC 5182), MODSEQ
(RFC 7162 §3.1.5).

Every message is first judged from the snapshot alone (``message.search.prefilter``): flags, sets,
sizes, internal dates and modseqs never open a file. Only the messages still undecided are read, in
batches with bounded concurrency (``fetch.read_batch``), and parsed once.

Result forms: ``* SEARCH n...`` for the plain form (with ``(MODSEQ m)`` when a MODSEQ key was used);
``* ESEARCH (TAG "t") [UID] MIN MAX COUNT ALL [MODSEQ]`` with RETURN, and for every SEARCH after
``ENABLE IMAP4rev2`` (RFC 9051 §6.4.4: rev2 answers ESEARCH). RETURN (SAVE) alone sends no ESEARCH
(RFC 5182 §2); SAVE with only MIN and/or MAX saves just those.
"""

from __future__ import annotations

from datetime import UTC, datetime

import trio

from maildird.handlers.context import Context
from maildird.handlers.fetch import PARSE_IN_THREAD, PARSE_THREADS, Outcome, batches, read_batch
from maildird.handlers.updates import enable_condstore, require_selected, uid_set
from maildird.imap import commands as cmd
from maildird.imap.errors import Bad, No
from maildird.imap.responses import Atom, Code, Tagged, Untagged, Value
from maildird.message.search import SearchContext, matches, needs_body, needs_message, prefilter
from maildird.store.base import MessageInfo

CHARSETS = ("UTF-8", "US-ASCII")
"""What CHARSET may name (RFC 9051 §6.4.4 requires UTF-8; US-ASCII is its subset)."""
MAX_KEYS = 1000
"""Search keys in one SEARCH; evaluation costs keys x messages."""
BATCH = 64
"""Messages read per round for content searches; a checkpoint after each round."""


def _count_keys(key: cmd.SearchKey) -> int:
    if isinstance(key, cmd.SearchNot):
        return 1 + _count_keys(key.key)
    if isinstance(key, cmd.SearchOr):
        return 1 + _count_keys(key.left) + _count_keys(key.right)
    if isinstance(key, cmd.SearchAnd):
        return 1 + sum(_count_keys(k) for k in key.keys)
    return 1


def _content_keys(key: cmd.SearchKey) -> int:
    """How many keys read the message's text: each one scans it again (for the thread decision)."""
    if isinstance(key, cmd.SearchText | cmd.SearchHeader):
        return 1
    if isinstance(key, cmd.SearchNot):
        return _content_keys(key.key)
    if isinstance(key, cmd.SearchOr):
        return _content_keys(key.left) + _content_keys(key.right)
    if isinstance(key, cmd.SearchAnd):
        return sum(_content_keys(k) for k in key.keys)
    return 0


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

    messages = view.messages
    largest_uid = messages[-1].uid if messages else 0
    now = datetime.now(UTC)
    content = needs_message(c.key)
    header = content and not needs_body(c.key)  # header keys only: parse just the header
    # The cost of matching one message grows with its size times the keys that scan its text: 499
    # "NOT TEXT x" keys on a 1 MB message take seconds, which must not run on the event loop.
    weight = max(1, _content_keys(c.key))
    hits: list[tuple[int, MessageInfo]] = []
    outcome = Outcome()
    for start in range(0, len(messages), BATCH):
        batch = list(enumerate(messages[start : start + BATCH], start + 1))
        undecided: list[tuple[int, MessageInfo, SearchContext]] = []
        batch_hits: list[tuple[int, MessageInfo]] = []
        for seq, info in batch:
            sctx = SearchContext(
                seq=seq,
                uid=info.uid,
                flags=info.flags,
                size=info.size,
                internaldate=info.internaldate,
                modseq=info.modseq,
                recent=view.is_recent(info.uid),
                largest_seq=len(messages),
                largest_uid=largest_uid,
                saved=saved,
                now=now,
            )
            verdict = prefilter(c.key, sctx) if content else matches(c.key, sctx)
            if verdict is None:
                undecided.append((seq, info, sctx))
            elif verdict:
                batch_hits.append((seq, info))
        contexts = {info.uid: sctx for _s, info, sctx in undecided}
        for part in batches([(s, i) for s, i, _ in undecided], text=True):
            parsed = await read_batch(sel, part, outcome, header=header)
            for seq, info in part:
                msg = parsed.get(info.uid)
                if msg is None:
                    continue  # gone meanwhile: it cannot match
                sctx = contexts[info.uid]
                sctx.load = lambda msg=msg: msg
                if info.size * weight >= PARSE_IN_THREAD:
                    # Decoding a big message's text parts takes long enough to stall other sessions.
                    hit = await trio.to_thread.run_sync(matches, c.key, sctx, limiter=PARSE_THREADS)
                else:
                    hit = matches(c.key, sctx)
                    await trio.lowlevel.checkpoint()  # let other sessions run between messages
                if hit:
                    batch_hits.append((seq, info))
        if undecided:
            batch_hits.sort(key=lambda h: h[0])
        hits.extend(batch_hits)
        await trio.lowlevel.checkpoint()

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
