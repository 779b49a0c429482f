"""The accept loop every listener kind shares (plain/TLS IMAP and WebSocket)."""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable

import trio

log = logging.getLogger("maildird.server")

ACCEPT_RETRY_DELAY = 0.1
"""Seconds to wait after EMFILE/ENFILE/ENOBUFS/ENOMEM before accepting again (trio's own choice in
``serve_listeners``): running out of descriptors is a passing condition, not a reason to stop."""

_ACCEPT_RETRY_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS})


async def accept_forever(listener: trio.SocketListener, start: Callable[[trio.SocketStream], None]) -> None:
    """Accept connections until cancelled, handing each to ``start`` (which must not block: it
    starts a task). The listener is closed on the way out."""
    async with listener:
        while True:
            try:
                stream = await listener.accept()
            except OSError as exc:
                if exc.errno in _ACCEPT_RETRY_ERRNOS:
                    log.error("accept failed (%s); retrying", exc)
                    await trio.sleep(ACCEPT_RETRY_DELAY)
                    continue
                raise
            start(stream)
