"""Commands on mailboxes as wholes: SELECT EXAMINE CREATE DELETE RENAME SUBSCRIBE UNSUBSCRIBE
NAMESPACE STATUS APPEND (RFC 9051 §6.3).

Choices where the RFCs leave room (Dovecot is the yardstick):
- SELECT/EXAMINE close the previous mailbox without expunging it (RFC 9051 §6.3.2; the seed
  expunged, peers.md §1.7 item 3). The old selection is dropped, with ``* OK [CLOSED]``, before the
  arguments are checked and the new mailbox is opened, so a failed SELECT leaves the session in the
  authenticated state, as the core's state table expects, and says so first, as Dovecot does. (A
  SELECT the core's grammar refuses never reaches here: it keeps the selection, Dovecot drops it.)
- DELETE or RENAME of the selected mailbox is allowed (Dovecot allows it). The session drops its
  selection at once, with ``* OK [CLOSED]``, so it never touches a folder that moved or vanished;
  further selected-state commands get ``NO [CLOSED]`` and CLOSE/UNSELECT answer OK, which brings the
  client's and the core's state back to "authenticated". (Dovecot instead disconnects later with BYE.)
- STATUS never claims \\Recent (no file moves from new/ to cur/); RECENT is this session's count for
  the selected mailbox and 0 otherwise, because the store interface reports recent messages only to
  the session that claims them (store/base.py).
"""

from __future__ import annotations

from maildird.handlers.context import Context, Selected
from maildird.handlers.updates import (
    RECENT,
    RangeSet,
    enable_condstore,
    flag_fetch,
    flags_response,
    missing_set,
    uid_set,
)
from maildird.imap import commands as cmd
from maildird.imap.errors import Bad, No
from maildird.imap.responses import Atom, Code, MailboxName, Status, Tagged, Untagged, Value
from maildird.store.base import Mailbox, MailboxNotFound, NewMessage, Snapshot, Store
from maildird.store.view import SelectedView

INBOX = "INBOX"
SPECIAL_USE_ATTRIBUTES = frozenset(
    {"\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash"}
)
"""RFC 6154 §2 attributes CREATE (USE (...)) accepts."""


def require_store(ctx: Context) -> Store:
    if ctx.store is None:  # the core's state table prevents this; be explicit anyway
        raise Bad("Log in first.")
    return ctx.store


async def deselect(ctx: Context, *, announce: bool) -> None:
    """Drop the selection without expunging. ``announce`` sends ``* OK [CLOSED]`` (RFC 7162 §3.2.11,
    RFC 9051 §7.1) for the clients that understand it."""
    sel = ctx.selected
    if sel is None:
        return
    ctx.selected = None
    await sel.mailbox.close()
    if announce:
        await ctx.send(Status("OK", "Previous mailbox closed.", Code("CLOSED")))


def _is_same_or_inside(name: str, top: str, delimiter: str) -> bool:
    return name == top or name.startswith(top + delimiter)


# --------------------------------------------------------------------------------------------------
# SELECT / EXAMINE (RFC 9051 §6.3.2, §6.3.3; RFC 7162 §3.1.8, §3.2.5)


async def select(ctx: Context, c: cmd.Select) -> Tagged:
    """RFC 9051 §6.3.2: SELECT "automatically deselects any currently selected mailbox before
    attempting the selection", so a SELECT that fails leaves nothing selected, and the server "MUST
    return an untagged OK response with the [CLOSED] response code" when it closes the selected
    mailbox (RFC 9051 §7.1, RFC 7162 §3.2.11: whatever the client enabled). Like Dovecot 2.3, the
    CLOSED goes out first, before any check on the arguments, so it precedes every outcome: the new
    mailbox's responses, a tagged NO (no such mailbox) or a tagged BAD (e.g. QRESYNC not enabled).
    The core's state table moves to "authenticated" on the NO/BAD (imap/session.py ON_TAGGED)."""
    store = require_store(ctx)
    await deselect(ctx, announce=True)
    condstore_ok = ctx.config.mail.condstore
    if (c.condstore or c.qresync is not None) and not condstore_ok:
        raise Bad("CONDSTORE is not enabled on this server.")
    if c.qresync is not None and not ctx.qresync:
        # RFC 7162 §3.2.5: QRESYNC parameter without ENABLE QRESYNC is a BAD.
        raise Bad("QRESYNC parameter requires ENABLE QRESYNC first.", "CLIENTBUG")
    if c.condstore:
        await enable_condstore(ctx)
    mailbox = await store.open(c.mailbox, readonly=c.readonly)
    try:
        readonly = c.readonly or mailbox.readonly
        snapshot = await mailbox.snapshot(claim_recent=not readonly)
        view = SelectedView(mailbox, snapshot, readonly=readonly, recent=snapshot.recent)
        sel = Selected(c.mailbox, mailbox, view, readonly=readonly)
        await _select_responses(ctx, sel, snapshot)
        if c.qresync is not None and c.qresync.uidvalidity == snapshot.uidvalidity:
            await _qresync(ctx, sel, c.qresync)
    except BaseException:
        await mailbox.close()
        raise
    ctx.selected = sel
    code = Code("READ-ONLY") if readonly else Code("READ-WRITE")
    return Tagged(c.tag, "OK", f"{'EXAMINE' if c.readonly else 'SELECT'} completed.", code)


async def _select_responses(ctx: Context, sel: Selected, snapshot: Snapshot) -> None:
    view = sel.view
    for response in flags_response(ctx, sel):
        await ctx.send(response)
    await ctx.send(Untagged((view.exists, Atom("EXISTS"))))
    if not ctx.rev2:
        await ctx.send(Untagged((view.recent_count, Atom("RECENT"))))
        for seq, info in enumerate(view.messages, 1):
            if "\\Seen" not in info.flags:
                await ctx.send(Status("OK", f"First unseen is {seq}.", Code("UNSEEN", (seq,))))
                break
    await ctx.send(Status("OK", "UIDs valid.", Code("UIDVALIDITY", (snapshot.uidvalidity,))))
    await ctx.send(Status("OK", "Predicted next UID.", Code("UIDNEXT", (snapshot.uidnext,))))
    if ctx.config.mail.condstore:
        await ctx.send(Status("OK", "Highest.", Code("HIGHESTMODSEQ", (snapshot.highestmodseq,))))
    else:
        await ctx.send(Status("OK", "No permanent modsequences.", Code("NOMODSEQ")))
    if ctx.rev2:
        from maildird.handlers.listing import list_entry  # listing imports this module

        await ctx.send(await list_entry(ctx, sel.name))


async def _qresync(ctx: Context, sel: Selected, q: cmd.QresyncParams) -> None:
    """RFC 7162 §3.2.5.1: VANISHED (EARLIER) for what went away, FETCH for what changed, both
    limited to the client's known UIDs when it sent them."""
    view = sel.view
    uidnext = view.snapshot.uidnext
    known = q.known_uids
    present = set(view.uids)
    history = await sel.mailbox.expunged_since(q.modseq)
    known_set = None if known is None else RangeSet(known.resolve(uidnext - 1))
    if history is not None:
        gone = uid_set(u for u in history if u not in present and (known_set is None or u in known_set))
    else:
        # No history: every UID the client may know that is not here any more (as ranges, never
        # expanded number by number).
        ranges = [(1, uidnext - 1)] if known is None else known.resolve(uidnext - 1)
        gone = missing_set([(a, min(b, uidnext - 1)) for a, b in ranges], view.uids)
    if gone:
        await ctx.send(Untagged((Atom("VANISHED"), (Atom("EARLIER"),), Atom(gone))))

    for seq, info in enumerate(view.messages, 1):
        if info.modseq > q.modseq and (known_set is None or info.uid in known_set):
            await ctx.send(flag_fetch(ctx, sel, seq, info, uid=True))


# --------------------------------------------------------------------------------------------------
# CREATE / DELETE / RENAME / SUBSCRIBE / UNSUBSCRIBE (RFC 9051 §6.3.4-§6.3.8)


def _clean_name(ctx: Context, store: Store, name: str) -> str:
    """A trailing delimiter only says "children will follow" (RFC 9051 §6.3.4)."""
    name = name.rstrip(store.delimiter) if name.endswith(store.delimiter) else name
    if not name:
        raise No("Empty mailbox name.", "CANNOT")
    if len(name.encode("utf-8")) > ctx.config.limits.max_mailbox_name:
        raise No("Mailbox name too long.", "LIMIT")
    return name


async def create(ctx: Context, c: cmd.Create) -> Tagged:
    store = require_store(ctx)
    name = _clean_name(ctx, store, c.mailbox)
    if name.upper() == INBOX:
        raise No("INBOX always exists.", "ALREADYEXISTS")
    uses = frozenset(c.special_use)
    unknown = uses - SPECIAL_USE_ATTRIBUTES
    if unknown:
        raise No(f"Unsupported special-use attribute {sorted(unknown)[0]}.", "USEATTR")
    await store.create(name, uses)
    return Tagged(c.tag, "OK", "CREATE completed.")


async def delete(ctx: Context, c: cmd.Delete) -> Tagged:
    store = require_store(ctx)
    if c.mailbox == INBOX:
        raise No("INBOX cannot be deleted.", "CANNOT")
    await store.delete(c.mailbox)
    if ctx.selected is not None and ctx.selected.name == c.mailbox:
        await deselect(ctx, announce=True)
    return Tagged(c.tag, "OK", "DELETE completed.")


async def rename(ctx: Context, c: cmd.Rename) -> Tagged:
    store = require_store(ctx)
    new = _clean_name(ctx, store, c.new)
    if new.upper() == INBOX:
        raise No("INBOX already exists.", "ALREADYEXISTS")
    await store.rename(c.old, new)
    sel = ctx.selected
    if sel is not None and c.old != INBOX and _is_same_or_inside(sel.name, c.old, store.delimiter):
        await deselect(ctx, announce=True)
    return Tagged(c.tag, "OK", "RENAME completed.")


async def subscribe(ctx: Context, c: cmd.Subscribe) -> Tagged:
    await require_store(ctx).subscribe(c.mailbox)
    return Tagged(c.tag, "OK", "SUBSCRIBE completed.")


async def unsubscribe(ctx: Context, c: cmd.Unsubscribe) -> Tagged:
    await require_store(ctx).unsubscribe(c.mailbox)
    return Tagged(c.tag, "OK", "UNSUBSCRIBE completed.")


async def namespace(ctx: Context, c: cmd.Namespace) -> Tagged:
    """RFC 2342: one personal namespace with an empty prefix; no shared or other users'."""
    delimiter = require_store(ctx).delimiter
    await ctx.send(Untagged((Atom("NAMESPACE"), (("", delimiter),), None, None)))
    return Tagged(c.tag, "OK", "NAMESPACE completed.")


# --------------------------------------------------------------------------------------------------
# STATUS (RFC 9051 §6.3.11, RFC 8438 SIZE, RFC 7162 HIGHESTMODSEQ)


async def status_items(ctx: Context, name: str, items: tuple[str, ...]) -> tuple[Value, ...]:
    """``(MESSAGES n UIDNEXT n ...)`` for ``name``, in the order asked. Never claims \\Recent."""
    store = require_store(ctx)
    sel = ctx.selected
    if sel is not None and sel.name == name:
        snapshot = await sel.mailbox.snapshot()
        recent = sel.view.recent_count
    else:
        mailbox = await store.open(name, readonly=True)
        try:
            snapshot = await mailbox.snapshot()
        finally:
            await mailbox.close()
        # A read-only snapshot lists what is recent without claiming it (RFC 3501 §6.3.10 RECENT).
        recent = len(snapshot.recent)
    out: list[Value] = []
    for item in items:
        value: int
        if item == "MESSAGES":
            value = len(snapshot.messages)
        elif item == "RECENT":
            value = recent
        elif item == "UIDNEXT":
            value = snapshot.uidnext
        elif item == "UIDVALIDITY":
            value = snapshot.uidvalidity
        elif item == "UNSEEN":
            value = sum(1 for m in snapshot.messages if "\\Seen" not in m.flags)
        elif item == "DELETED":
            value = sum(1 for m in snapshot.messages if "\\Deleted" in m.flags)
        elif item == "SIZE":
            value = sum(m.size for m in snapshot.messages)
        elif item == "HIGHESTMODSEQ":
            if not ctx.config.mail.condstore:
                raise Bad("CONDSTORE is not enabled on this server.")
            await enable_condstore(ctx)  # RFC 7162 §3.1: a CONDSTORE enabling command
            value = snapshot.highestmodseq
        elif item == "APPENDLIMIT":
            value = ctx.config.limits.max_append  # RFC 7889 §4 (the grammar may not pass it yet)
        else:
            raise Bad(f"Unknown STATUS item {item}.")
        out += [Atom(item), value]
    return tuple(out)


async def status(ctx: Context, c: cmd.Status) -> Tagged:
    values = await status_items(ctx, c.mailbox, c.items)
    await ctx.send(Untagged((Atom("STATUS"), MailboxName(c.mailbox), values)))
    return Tagged(c.tag, "OK", "STATUS completed.")


# --------------------------------------------------------------------------------------------------
# APPEND (RFC 9051 §6.3.12, MULTIAPPEND RFC 3502, APPENDLIMIT RFC 7889, UIDPLUS RFC 4315)


async def append(ctx: Context, c: cmd.Append) -> Tagged:
    store = require_store(ctx)
    limit = ctx.config.limits.max_append
    batch: list[NewMessage] = []
    for m in c.messages:
        if len(m.data) > limit:
            raise No(f"Message is larger than APPENDLIMIT={limit}.", "TOOBIG")
        if not m.data:
            raise No("Cannot save a zero-length message.", "CANNOT")
        flags = frozenset(f for f in m.flags if f != RECENT)
        batch.append(NewMessage(m.data, flags, m.internaldate))
    if not batch:
        raise Bad("APPEND without a message.")
    sel = ctx.selected
    mailbox: Mailbox
    own = sel is not None and sel.name == c.mailbox
    if sel is not None and own:
        mailbox = sel.mailbox
    else:
        try:
            mailbox = await store.open(c.mailbox)
        except MailboxNotFound as exc:
            raise No("Mailbox does not exist.", "TRYCREATE") from exc
    try:
        result = await mailbox.append(batch)
    finally:
        if not own:
            await mailbox.close()
    # The new EXISTS reaches this session before the tagged OK (handle() flushes; RFC 9051 §6.3.12).
    code = Code("APPENDUID", (result.uidvalidity, Atom(uid_set(result.uids))))
    return Tagged(c.tag, "OK", "APPEND completed.", code)
