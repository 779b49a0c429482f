"""Selected-state commands that change the mailbox: CHECK is NOOP (any_state); CLOSE, UNSELECT,
EXPUNGE / UID EXPUNGE, STORE, COPY, MOVE (RFC 9051 §6.4, RFC 3691, RFC 4315, RFC 6851, RFC 7162).

After each of these ``handle`` flushes the view, so the EXPUNGE (or VANISHED) responses of EXPUNGE
and MOVE come from the same place as any other session's expunges: the view's diff.
"""

from __future__ import annotations

from maildird.handlers.context import Context, Selected
from maildird.handlers.mailboxes import deselect, require_store
from maildird.handlers.updates import RECENT, enable_condstore, flag_fetch, flush, uid_pairs_set, uid_set
from maildird.imap import commands as cmd
from maildird.imap.errors import EXPUNGEISSUED, Bad, No
from maildird.imap.responses import Atom, Code, Status, Tagged
from maildird.store.base import SYSTEM_FLAGS, CopyResult, Mailbox, MailboxNotFound

READ_ONLY_TEXT = "Mailbox is read-only."


def _writable(ctx: Context) -> Selected:
    if ctx.selected is None:
        raise No("No mailbox is selected.", "CLOSED")
    if ctx.selected.readonly:
        raise No(READ_ONLY_TEXT)
    return ctx.selected


async def close(ctx: Context, c: cmd.Close) -> Tagged:
    """RFC 9051 §6.4.1: expunge silently (unless read-only), then deselect."""
    sel = ctx.selected
    if sel is not None and not sel.readonly:
        await sel.mailbox.expunge()
    await deselect(ctx, announce=False)
    return Tagged(c.tag, "OK", "CLOSE completed.")


async def unselect(ctx: Context, c: cmd.Unselect) -> Tagged:
    """RFC 3691 / RFC 9051 §6.4.2: deselect without expunging."""
    await deselect(ctx, announce=False)
    return Tagged(c.tag, "OK", "UNSELECT completed.")


async def expunge(ctx: Context, c: cmd.Expunge) -> Tagged:
    """EXPUNGE (RFC 9051 §6.4.3) and UID EXPUNGE (RFC 4315 §2.1). The responses come from the
    flush; under CONDSTORE the tagged OK carries the new HIGHESTMODSEQ (RFC 7162 §3.1.11)."""
    sel = _writable(ctx)
    if c.uids is not None:
        uids = [info.uid for _seq, info in sel.view.resolve(c.uids, uid=True)]
        if uids:
            await sel.mailbox.expunge(uids)
    else:
        await sel.mailbox.expunge()
    await flush(ctx, allow_expunge=True, uid=c.uids is not None)
    code = None
    if ctx.condstore and ctx.selected is not None:
        code = Code("HIGHESTMODSEQ", (ctx.selected.synced_modseq,))
    return Tagged(c.tag, "OK", f"{'UID EXPUNGE' if c.uids is not None else 'EXPUNGE'} completed.", code)


def _check_flags(flags: tuple[str, ...]) -> frozenset[str]:
    """Keywords are free (RFC 9051 §2.3.2; the seed refused them, peers.md §1.7 item 8); a system
    flag must be one we know. ``\\Recent`` is dropped: no client may set or clear it (RFC 3501
    §2.3.2), and dropping it keeps STORE FLAGS from touching the session's \\Recent (item 7)."""
    out: set[str] = set()
    for flag in flags:
        if flag == RECENT:
            continue
        if flag.startswith("\\") and flag not in SYSTEM_FLAGS:
            raise Bad(f"Invalid system flag {flag}.", "CLIENTBUG")
        out.add(flag)
    return frozenset(out)


async def store(ctx: Context, c: cmd.Store) -> Tagged:
    """STORE / UID STORE (RFC 9051 §6.4.6) with UNCHANGEDSINCE (RFC 7162 §3.1.3)."""
    sel = _writable(ctx)
    flags = _check_flags(c.flags)
    if c.unchangedsince is not None:
        if not ctx.config.mail.condstore:
            raise Bad("CONDSTORE is not enabled on this server.")
        await enable_condstore(ctx)
    view = sel.view
    # The pairs resolve made, not new ones: 10,000 more live tuples push the collector toward a
    # full collection of the heap (a cold STORE 1:* paid one of 60-110 ms).
    targets = [pair for pair in view.resolve(c.set, uid=c.uid) if not view.is_expunged(pair[1].uid)]
    uids = [info.uid for _seq, info in targets]
    result = None
    if uids:
        result = await sel.mailbox.store_flags(uids, c.mode, flags, unchanged_since=c.unchangedsince)
        view.note_changes(result.changed)
    changed = {info.uid for info in result.changed} if result else set()
    failed = set(result.failed) if result else set()
    if result and c.mode != "remove" and not {f for f in flags if not f.startswith("\\")} <= sel.announced:
        # A new keyword: announce it (* FLAGS, PERMANENTFLAGS) before the FETCH that carries it,
        # as Dovecot does. Our own changes were noted above, so the flush does not repeat them.
        await flush(ctx, allow_expunge=c.uid, uid=c.uid)
    if not c.silent or (ctx.condstore and changed):  # .SILENT without CONDSTORE answers nothing
        for seq, info in targets:
            if info.uid in failed:
                continue
            now = view.info(info.uid) or info
            if not c.silent:
                await ctx.send(flag_fetch(ctx, sel, seq, now, uid=c.uid))
            elif info.uid in changed:
                # RFC 7162 §3.1.3: even with .SILENT the new MODSEQ goes out.
                await ctx.send(flag_fetch(ctx, sel, seq, now, uid=c.uid, flags=False))
    code = None
    if failed:
        numbers = sorted(failed) if c.uid else [seq for seq, info in targets if info.uid in failed]
        code = Code("MODIFIED", (Atom(uid_set(numbers)),))
        return Tagged(c.tag, "OK", "Conditional STORE failed.", code)
    return Tagged(c.tag, "OK", f"{'UID STORE' if c.uid else 'STORE'} completed.")


async def _destination(ctx: Context, name: str) -> Mailbox:
    try:
        return await require_store(ctx).open(name)
    except MailboxNotFound as exc:
        raise No("Mailbox does not exist.", "TRYCREATE") from exc


async def _require_present(sel: Selected, uids: list[int]) -> None:
    """COPY/MOVE by message number of a message another session expunged: refuse the whole command and
    copy nothing (RFC 2180 §4.4.1). The alternative, §4.4.2, would have to copy the expunged message too
    ("MUST appear in the destination mailbox"), and its file is gone. UID forms skip missing UIDs."""
    present = {info.uid for info in (await sel.mailbox.snapshot()).messages}
    if any(uid not in present for uid in uids):
        raise No("Some of the requested messages no longer exist.", EXPUNGEISSUED)


def _copyuid(result: CopyResult) -> Code:
    """COPYUID (RFC 4315 §3): the two sets in corresponding order."""
    src = uid_pairs_set(p[0] for p in result.pairs)
    dst = uid_pairs_set(p[1] for p in result.pairs)
    return Code("COPYUID", (result.uidvalidity, Atom(src), Atom(dst)))


async def copy(ctx: Context, c: cmd.Copy) -> Tagged:
    """COPY / UID COPY (RFC 9051 §6.4.7): ``[TRYCREATE]`` for a missing destination, COPYUID."""
    sel = ctx.selected
    if sel is None:
        raise No("No mailbox is selected.", "CLOSED")
    uids = [info.uid for _seq, info in sel.view.resolve(c.set, uid=c.uid)]
    dest = await _destination(ctx, c.mailbox)
    try:
        if not uids:
            return Tagged(c.tag, "OK", "No messages copied.")
        if not c.uid:
            await _require_present(sel, uids)
        result = await sel.mailbox.copy(uids, dest)
    finally:
        await dest.close()
    if not result.pairs:
        return Tagged(c.tag, "OK", "No messages copied.")
    return Tagged(c.tag, "OK", f"{'UID COPY' if c.uid else 'COPY'} completed.", _copyuid(result))


async def move(ctx: Context, c: cmd.Move) -> Tagged:
    """MOVE / UID MOVE (RFC 6851 §3.3): COPYUID in an untagged OK, then the EXPUNGEs (or VANISHED),
    then the tagged OK."""
    sel = _writable(ctx)
    # Moving into the selected mailbox itself is allowed wherever COPY there is (RFC 6851 §3.3): the
    # messages get new UIDs and the old ones are expunged.
    uids = [info.uid for _seq, info in sel.view.resolve(c.set, uid=c.uid)]
    dest = await _destination(ctx, c.mailbox)
    try:
        if not uids:
            return Tagged(c.tag, "OK", "No messages moved.")
        if not c.uid:
            await _require_present(sel, uids)
        result = await sel.mailbox.move(uids, dest)
    finally:
        await dest.close()
    if result.pairs:
        await ctx.send(Status("OK", "Moved UIDs.", _copyuid(result)))
    await flush(ctx, allow_expunge=True, uid=c.uid)
    code = None
    if result.pairs and ctx.condstore and ctx.selected is not None:
        # RFC 6851 §4.4: with CONDSTORE/QRESYNC the new HIGHESTMODSEQ goes in the tagged OK.
        code = Code("HIGHESTMODSEQ", (ctx.selected.synced_modseq,))
    return Tagged(c.tag, "OK", f"{'UID MOVE' if c.uid else 'MOVE'} completed.", code)
