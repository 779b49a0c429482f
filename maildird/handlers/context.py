"""What a handler sees of the server and of its connection (contracts.md §6).

``Services`` is built once per server by the runtime (``maildird.server``) and shared by every
connection. ``Context`` is built once per connection by the runtime (``maildird.connection``); the
handlers read and update it (``user``, ``store``, ``selected``, ``enabled``) and write untagged
responses through ``send``. ``TransportInfo`` describes the byte stream under the session and is
replaced by the runtime after STARTTLS.

The runtime reads back, after each command:
- ``ctx.enabled``: after ``ENABLE UTF8=ACCEPT`` it sets ``ServerConnection.utf8`` (RFC 6855 §3) and
  serializes responses with ``utf8=True``; it may copy the set into ``ServerConnection.extensions``.
- ``ctx.user`` / ``ctx.store``: set by a successful LOGIN/AUTHENTICATE.
- ``ctx.selected``: set by SELECT/EXAMINE, cleared by CLOSE/UNSELECT/a failed SELECT. While idling,
  the runtime waits on ``ctx.selected.mailbox.watch_key`` in the change hub and then calls
  ``handlers.idle.idle_updates(ctx)``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from maildird.config import Config
    from maildird.imap.responses import Response
    from maildird.store.base import Mailbox, Store
    from maildird.store.view import SelectedView

log = logging.getLogger("maildird.handlers")


@dataclass(frozen=True, slots=True)
class TransportInfo:
    """The stream a session runs on. ``secure`` is true under TLS (implicit, STARTTLS or wss);
    ``loopback`` is true when the peer address is a loopback address (Dovecot treats that as
    secured, peers.md §2.6); ``starttls_available`` is true when STARTTLS may still be offered
    (a TLS context is configured and the stream is plain TCP)."""

    kind: Literal["tcp", "tls", "ws", "wss"]
    secure: bool
    peer: str
    local: str
    loopback: bool
    starttls_available: bool


class Authenticator(Protocol):
    """What ``maildird.auth.Authenticator`` offers the handlers (see that module for the real one)."""

    async def verify(self, user: str, password: str) -> Any: ...


StoreFactory = Callable[[Any], "Store | Awaitable[Store]"]
"""``store_for(user_record)``: the user's Store; may be a plain or an async callable."""


class Services:
    """One per server: the configuration and the shared objects every connection uses.

    ``store_for`` maps the user record returned by ``authenticator.verify`` to that user's
    ``Store``. ``hub`` is the ``maildird.changes.ChangeHub`` (or None in tests); ``registry`` the
    shared-mailbox registry (``maildird.store.registry``), opaque to the handlers.
    """

    __slots__ = ("authenticator", "config", "extra_capabilities", "hub", "registry", "store_for")

    def __init__(
        self,
        config: Config,
        authenticator: Authenticator | None,
        store_for: StoreFactory,
        *,
        hub: Any = None,
        registry: Any = None,
    ) -> None:
        self.config = config
        self.authenticator = authenticator
        self.store_for = store_for
        self.hub = hub
        self.registry = registry
        self.extra_capabilities: tuple[str, ...] = ()
        """Capabilities command plug-ins announce after login (maildird.plugins)."""


class Selected:
    """The selected mailbox of one session: the open ``Mailbox`` and this session's view of it.

    ``readonly`` is true for EXAMINE (or a mailbox the store opened read-only). ``qresync`` is true
    when the mailbox was selected while QRESYNC was enabled (RFC 7162 §3.2.10: VANISHED replaces
    EXPUNGE). The view holds sequence numbers, \\Recent and the pending updates.
    """

    __slots__ = ("announced", "mailbox", "name", "readonly", "synced_modseq", "view")

    def __init__(self, name: str, mailbox: Mailbox, view: SelectedView, *, readonly: bool) -> None:
        self.name = name
        self.mailbox = mailbox
        self.view = view
        self.readonly = readonly
        self.announced: frozenset[str] = frozenset()
        """The keywords the last ``* FLAGS`` response named."""
        self.synced_modseq = view.snapshot.highestmodseq
        """The highest modseq this client may resynchronise from: that of the last refresh that
        left no expunge held back (see ``updates.flush``)."""


SendFn = Callable[["Response"], Awaitable[None]]
SendBytesFn = Callable[[bytes], Awaitable[None]]


class Context:
    """One connection's session state, as the handlers see it (contracts.md §6)."""

    __slots__ = (
        "_send",
        "_send_bytes",
        "client_id",
        "enabled",
        "log",
        "selected",
        "services",
        "store",
        "transport",
        "user",
        "user_record",
    )

    def __init__(
        self,
        services: Services,
        transport: TransportInfo,
        send: SendFn,
        *,
        send_bytes: SendBytesFn | None = None,
        logger: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = None,
    ) -> None:
        self.services = services
        self.transport = transport
        self._send = send
        self._send_bytes = send_bytes
        self.user: str | None = None
        self.user_record: Any = None
        self.store: Store | None = None
        self.selected: Selected | None = None
        self.enabled: set[str] = set()
        self.client_id: tuple[tuple[str, str | None], ...] | None = None
        self.log: logging.Logger | logging.LoggerAdapter[logging.Logger] = logger or log

    @property
    def config(self) -> Config:
        return self.services.config

    @property
    def authenticated(self) -> bool:
        return self.user is not None

    @property
    def condstore(self) -> bool:
        """CONDSTORE is active for this session (RFC 7162 §3.1: "CONDSTORE enabling command")."""
        return "CONDSTORE" in self.enabled

    @property
    def qresync(self) -> bool:
        return "QRESYNC" in self.enabled

    @property
    def rev2(self) -> bool:
        """``ENABLE IMAP4rev2`` was sent: rev2 response forms apply (RFC 9051 Appendix E)."""
        return "IMAP4REV2" in self.enabled

    @property
    def utf8(self) -> bool:
        return "UTF8=ACCEPT" in self.enabled

    async def send(self, response: Response) -> None:
        """Write one untagged response now (the runtime serializes and sends it)."""
        await self._send(response)

    async def send_bytes(self, data: bytes) -> None:
        """Write untagged responses already serialized: one or more whole ``* ...`` lines, CRLF
        included (a FETCH formats thousands of lines itself, ``handlers.fetch_lines``). The runtime
        buffers them like ``send``'s. Without a ``send_bytes`` of its own (a test's Context) the data goes
        through ``send`` as one verbatim response, which serializes to the same octets."""
        if self._send_bytes is not None:
            await self._send_bytes(data)
            return
        if not (data.startswith(b"* ") and data.endswith(b"\r\n")):
            raise ValueError("send_bytes takes whole untagged responses")
        from maildird.imap.responses import Raw, Untagged

        await self._send(Untagged((Raw(data[2:-2]),)))

    def capabilities(self) -> list[str]:
        """The capability list for this session's state, transport and config (handlers.any_state)."""
        from maildird.handlers.any_state import capabilities

        return capabilities(self)
