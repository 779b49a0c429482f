"""Fixtures for IMAP over WebSocket: the real server plus ws:// and wss:// listeners on the same Maildir.

``ws_server`` takes the ``imap_server`` fixture (a real ``maildird.server.serve`` on 127.0.0.1 port 0,
STARTTLS and implicit TLS, a tmp Maildir) and opens two more listeners on 127.0.0.1 port 0 the way
``server.py`` will once it opens ``kind = "ws"`` listeners: ``serve_websocket_listener`` with a
``handle_stream`` that runs ``ClientConnection(stream, services, transport, state).run()`` on
``build_services(config, ...)`` (see the report of the "websocket" task).  So the same Maildir answers
over TCP and over WebSocket, and the tests can compare bytes.

``WsServer.connect(...)`` opens a WebSocket with trio-websocket's client and wraps it in
``WebSocketStream`` (the adapter is symmetric), so ``tests.support.rawclient.RawClient`` drives IMAP over
it exactly as over TCP.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pytest
import trio
from trio_websocket import open_websocket_url

from maildird.config import Listener
from maildird.transports.websocket import WebSocketStream, serve_websocket_listener
from tests.conftest import RunningServer
from tests.support.rawclient import RawClient

WS_PATH = "/imap"
#: An extra origin the listeners allow besides their own; anything else from a browser gets 403.
TRUSTED_ORIGIN = "https://webmail.example.org"


@dataclass
class WsServer:
    imap: RunningServer
    ws_port: int
    wss_port: int
    state: Any
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def host(self) -> str:
        return self.imap.host

    def url(self, *, secure: bool = False, path: str = WS_PATH) -> str:
        if secure:
            return f"wss://{self.host}:{self.wss_port}{path}"
        return f"ws://{self.host}:{self.ws_port}{path}"

    def page_url(self) -> str:
        """The test page as the ws listener serves it (a plain GET of the endpoint's path)."""
        return f"http://{self.host}:{self.ws_port}{WS_PATH}"

    @asynccontextmanager
    async def websocket(
        self,
        *,
        secure: bool = False,
        path: str = WS_PATH,
        subprotocols: tuple[str, ...] = ("imap",),
        origin: str | None = None,
        max_message_size: int | None = None,
    ) -> AsyncIterator[Any]:
        """A raw trio-websocket client connection (handshake done)."""
        headers = [(b"Origin", origin.encode())] if origin is not None else None
        kwargs: dict[str, Any] = {}
        if max_message_size is not None:
            kwargs["max_message_size"] = max_message_size
        ssl_context: ssl.SSLContext | None = self.imap.client_ssl_context() if secure else None
        async with open_websocket_url(
            self.url(secure=secure, path=path),
            ssl_context=ssl_context,
            subprotocols=list(subprotocols),
            extra_headers=headers,
            **kwargs,
        ) as ws:
            yield ws

    @asynccontextmanager
    async def connect(self, **kwargs: Any) -> AsyncIterator[RawClient]:
        """An IMAP client over WebSocket, greeting read."""
        async with self.websocket(**kwargs) as ws:
            client = RawClient(WebSocketStream(ws))
            client.greeting = await client.read_line()
            yield client


@pytest.fixture
async def ws_server(imap_server: RunningServer, nursery: trio.Nursery) -> AsyncIterator[WsServer]:
    from maildird.changes import ChangeHub
    from maildird.connection import ClientConnection
    from maildird.handlers.context import TransportInfo
    from maildird.server import build_services

    # One ServerState for every listener, as in serve(); its tls_context getter is the server's.
    config = imap_server.config
    services = build_services(config, ChangeHub(), None)
    state = imap_server.state
    tls = state.tls_context

    async def handle_stream(stream: trio.abc.Stream, transport: TransportInfo) -> None:
        await ClientConnection(stream, services, transport, state).run()

    ports = []
    for tls_mode in ("none", "implicit"):
        spec = Listener("127.0.0.1", 0, tls=tls_mode, kind="ws", path=WS_PATH)  # type: ignore[arg-type]
        (listener,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
        ports.append(int(listener.socket.getsockname()[1]))
        # What server.py will run per ws listener (Listener.allowed_origins replaces the keyword).
        serve = partial(serve_websocket_listener, allowed_origins=(TRUSTED_ORIGIN,))
        nursery.start_soon(serve, listener, spec, config, handle_stream, tls)
    yield WsServer(
        imap_server, ports[0], ports[1], state, {"handle_stream": handle_stream, "tls_context": tls}
    )
