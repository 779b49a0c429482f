"""IMAP command handlers: the behaviour of every command, between the protocol core and the store.

``handle(ctx, command)`` is the single entry point the runtime calls (contracts.md §6). It runs the
command's handler, which writes untagged responses through ``ctx.send`` and returns the tagged
reply; then it sends the selected mailbox's pending updates (RFC 9051 §7.5.1) and returns the reply.

Errors are mapped to responses here and nowhere else: ``ImapError`` (``No``/``Bad``) becomes its
tagged response, ``StoreError`` becomes ``NO [<its RFC 5530 code>]``, the view's ``BadSequence``
becomes ``BAD`` (a message number the client never saw). ``Bye`` and every other exception propagate:
the runtime sends ``* BYE`` or ``BAD [SERVERBUG]`` and logs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from maildird.handlers import any_state, auth, fetch, listing, mailboxes, search, selected, updates
from maildird.handlers.context import Context, Selected, Services, TransportInfo
from maildird.imap import commands as cmd
from maildird.imap.errors import Bad, Bye, ImapError
from maildird.imap.responses import Code, Tagged
from maildird.store.base import StoreError
from maildird.store.view import BadSequence

Handler = Callable[[Context, Any], Awaitable[Tagged]]


async def _login(ctx: Context, c: cmd.Login) -> Tagged:
    return await auth.login(ctx, c.username, c.password, c.tag)


async def _extension(ctx: Context, c: cmd.Extension) -> Tagged:
    raise Bad(f"Unknown command {c.name}.", "CLIENTBUG")


async def _not_here(ctx: Context, c: cmd.Command) -> Tagged:
    # STARTTLS, COMPRESS, IDLE, AUTHENTICATE and LOGOUT touch the transport: the runtime runs them.
    raise LookupError(f"{type(c).__name__} is the runtime's to handle")


HANDLERS: dict[type[cmd.Command], Handler] = {
    cmd.Capability: any_state.capability,
    cmd.Noop: any_state.noop,
    cmd.Check: any_state.noop,
    cmd.Id: any_state.id_,
    cmd.Enable: any_state.enable,
    cmd.Login: _login,
    cmd.Select: mailboxes.select,
    cmd.Create: mailboxes.create,
    cmd.Delete: mailboxes.delete,
    cmd.Rename: mailboxes.rename,
    cmd.Subscribe: mailboxes.subscribe,
    cmd.Unsubscribe: mailboxes.unsubscribe,
    cmd.Namespace: mailboxes.namespace,
    cmd.Status: mailboxes.status,
    cmd.Append: mailboxes.append,
    cmd.List: listing.list_,
    cmd.Close: selected.close,
    cmd.Unselect: selected.unselect,
    cmd.Expunge: selected.expunge,
    cmd.Store: selected.store,
    cmd.Copy: selected.copy,
    cmd.Move: selected.move,
    cmd.Fetch: fetch.fetch,
    cmd.Search: search.search,
    cmd.Extension: _extension,
    cmd.StartTLS: _not_here,
    cmd.Compress: _not_here,
    cmd.Idle: _not_here,
    cmd.Authenticate: _not_here,
    cmd.Logout: _not_here,
}


def _uses_sequence_numbers(command: cmd.Command) -> bool:
    """FETCH, STORE and SEARCH by message number: no EXPUNGE may be sent (RFC 9051 §7.5.1)."""
    return isinstance(command, cmd.Fetch | cmd.Store | cmd.Search) and not command.uid


async def handle(ctx: Context, command: cmd.Command) -> Tagged:
    """Run one command and return its tagged reply, pending updates sent first (module docstring)."""
    handler = HANDLERS.get(type(command))
    if handler is None:
        raise LookupError(f"no handler for {type(command).__name__}")
    try:
        result = await handler(ctx, command)
    except Bye:
        raise
    except ImapError as exc:
        response = exc.to_response(command.tag)
        assert isinstance(response, Tagged)
        result = response
    except StoreError as exc:
        result = Tagged(command.tag, "NO", exc.message, Code(exc.code))
    except BadSequence as exc:
        result = Tagged(command.tag, "BAD", f"Invalid message number: {exc.message}", Code("CLIENTBUG"))
    if ctx.selected is not None and not isinstance(command, cmd.Select):  # SELECT's view is fresh
        uid = bool(getattr(command, "uid", False))
        try:
            await updates.flush(ctx, allow_expunge=not _uses_sequence_numbers(command), uid=uid)
        except StoreError as exc:
            # The command itself is done; the mailbox could not be re-read just now. The updates stay
            # pending in the store and go out with the next command.
            ctx.log.warning("could not refresh %s: %s", ctx.selected.name if ctx.selected else "?", exc)
    return result


__all__ = ["HANDLERS", "Context", "Selected", "Services", "TransportInfo", "handle"]
