"""The handlers' part of IDLE (RFC 2177): sending what changed while the client waits.

The runtime (``maildird.connection``) sends the continuation, waits on the change hub for the
selected mailbox's ``watch_key`` and calls ``idle_updates`` whenever it moved (and once before the
continuation). Every kind of update may go out during IDLE, EXPUNGE included: no command that uses
message numbers is in progress (RFC 2177 §3, RFC 9051 §7.5.1).
"""

from __future__ import annotations

from maildird.handlers.context import Context
from maildird.handlers.updates import flush
from maildird.store.base import StoreError


async def idle_updates(ctx: Context) -> None:
    """Send the selected mailbox's pending updates now; nothing when no mailbox is selected.

    A store error (the folder is briefly unreadable, a lock is held) is logged and the updates stay
    pending for the next wake-up; ``Bye`` (UIDVALIDITY changed) propagates to the runtime.
    """
    if ctx.selected is None:
        return
    try:
        await flush(ctx, allow_expunge=True)
    except StoreError as exc:
        ctx.log.warning("IDLE refresh of %s failed: %s", ctx.selected.name if ctx.selected else "?", exc)
