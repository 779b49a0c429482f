"""What the server shares with every connection, and how a session ends.

Kept apart from ``connection.py`` so that the IDLE driver (``idle_driver.py``) and the connection
can both use it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import trio

from maildird.handlers.context import Services
from maildird.imap.responses import Response, Tagged
from maildird.imap.session import Limits

if TYPE_CHECKING:
    from maildird.access import ConnectionLimits
    from maildird.auth import LoginPenalty
    from maildird.connection import ClientConnection


@dataclass
class ServerState:
    """What the server shares with every connection besides ``Services``."""

    shutting_down: trio.Event = field(default_factory=trio.Event)
    tls_context: Any = None  # a callable returning the current ssl.SSLContext, or None
    connections: set[ClientConnection] = field(default_factory=set)
    penalty: LoginPenalty | None = None  # per-IP failed-login penalty, shared by all connections
    limits: ConnectionLimits | None = None  # connection counts (maildird.access), set by the server
    commands: dict[str, Any] = field(default_factory=dict)  # plug-in IMAP commands by name (maildird.plugins)


class Closed(Exception):
    """The connection is over (client gone, BYE sent, or a transport failure)."""


def core_limits(services: Services) -> Limits:
    lim = services.config.limits
    return Limits(
        max_line=lim.max_line,
        max_literal=lim.max_literal,
        max_command=lim.max_command,
        max_append=lim.max_append,
        literal_minus=lim.literal_minus,
        max_bad_commands=lim.max_bad_commands,
        max_nonsync_literal=lim.max_nonsync_literal,
        max_literals=lim.max_literals,
    )


def tagged_from(response: Response, tag: str) -> Tagged:
    """The tagged answer for ``tag`` made from a response the core produced (a Rejected BAD)."""
    if isinstance(response, Tagged):
        return Tagged(tag, response.status, response.text, response.code)
    text = getattr(response, "text", "Bad input.")
    return Tagged(tag, "BAD", text)


def first_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first concrete exception inside (possibly nested) exception groups."""
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc
