"""Trio orchestration: listeners, per-client tasks, the change hub, signals and shutdown.

Theory of operation
-------------------
Three nurseries, hypercorn's split (architecture.md §4.8):

- ``services`` runs what outlives any one client: the change-hub watchers (one per Maildir that a
  logged-in user has, started on first login) and the signal receiver.
- ``clients`` runs one task per connection (``ClientConnection.run``, which never raises
  ``Exception``: a failing client gets ``* BYE [SERVERBUG]`` and the server goes on).
- ``acceptors`` runs one accept loop per listener. ``task_status.started(addresses)`` is called once
  every listener is bound, with the bound ``(host, port)`` pairs, so tests can listen on port 0.

SIGTERM/SIGINT: cancel the accept loops (stop accepting), set ``shutting_down`` (connections waiting
for a command or idling send ``* BYE [UNAVAILABLE]``; a command in progress finishes), then give the
clients ``shutdown_grace`` seconds before they are cancelled. SIGHUP: re-read the users file and the
certificates; a bad new file is logged and the old one kept.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import ssl
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import trio

from maildird import control, plugins, privileges, systemd
from maildird.access import (
    ACCESS_DENIED_TEXT,
    AccessList,
    ConnectionLimits,
    access_denied_bye,
    peer_host,
    peer_name,
)
from maildird.auth import LoginPenalty
from maildird.changes import ChangeHub, watch
from maildird.config import Config, Listener
from maildird.connection import ClientConnection
from maildird.connection_state import ServerState
from maildird.handlers.context import Services, TransportInfo
from maildird.transports.accept import accept_forever
from maildird.transports.peer import is_loopback
from maildird.transports.tls import TlsContextHolder
from maildird.transports.websocket import (
    OriginPolicy,
    refuse_connection,
    serve_websocket_client,
    transport_info,
)

log = logging.getLogger("maildird.server")

REFUSAL_TIMEOUT = 1.0
"""Seconds a refused client (access list, connection limit) gets to take its ``* BYE`` (or, on a plain
WebSocket listener, to send its request head and take the HTTP error)."""

HTTP_FORBIDDEN = (403, "Forbidden")
"""A WebSocket client whose address the listener's access list refuses (RFC 9110 §15.5.4)."""
HTTP_UNAVAILABLE = (503, "Service Unavailable")
"""A WebSocket client over a connection limit: a temporary overload (RFC 9110 §15.6.4)."""


class Watchers:
    """One change-hub watcher per Maildir root: started the first time a user of it logs in, stopped
    by ``prune`` once no session uses that root any more (each watcher holds an inotify instance,
    and the kernel allows 128 per user by default)."""

    def __init__(self, nursery: trio.Nursery, hub: ChangeHub, rescan_seconds: float) -> None:
        self._nursery = nursery
        self._hub = hub
        self._rescan = rescan_seconds
        self._scopes: dict[Path, trio.CancelScope] = {}
        self._lock = trio.Lock()

    @property
    def roots(self) -> frozenset[Path]:
        return frozenset(self._scopes)

    async def ensure(self, root: Path) -> None:
        root = root.resolve()
        async with self._lock:
            if root in self._scopes:
                return
            try:
                self._scopes[root] = await self._nursery.start(self._watch, root)
            except Exception:
                log.exception("cannot watch %s; changes by other programs show up on the next command", root)

    async def _watch(self, root: Path, *, task_status: trio.TaskStatus[trio.CancelScope]) -> None:
        with trio.CancelScope() as scope:
            await watch(root, self._hub, rescan_seconds=self._rescan, task_status=_Relay(task_status, scope))

    def prune(self, in_use: set[Path]) -> None:
        """Stop the watchers of roots no session uses."""
        for root in [r for r in self._scopes if r not in in_use]:
            self._scopes.pop(root).cancel()


class _Relay:
    """Passes ``watch``'s ``started()`` on with the watcher's own cancel scope as the value."""

    def __init__(self, status: trio.TaskStatus[trio.CancelScope], scope: trio.CancelScope) -> None:
        self._status = status
        self._scope = scope

    def started(self, value: object = None) -> None:
        self._status.started(self._scope)


async def prune_watchers(watchers: Watchers, state: ServerState, interval: float) -> None:
    """Every ``interval`` seconds, stop watchers whose Maildir no connected session uses."""
    while True:
        await trio.sleep(interval)
        in_use = set()
        for conn in list(state.connections):
            root = getattr(conn.ctx.store, "root", None)
            if root is not None:
                in_use.add(Path(root).resolve())
        watchers.prune(in_use)


def build_services(
    config: Config, hub: ChangeHub | None, watchers: Watchers | None, *, authenticator: Any = None
) -> Services:
    """The shared objects every connection uses: authenticator, per-user store factory, hub.  The
    authenticator and the store come from the plug-ins named by ``[auth] backend`` and ``[mail] store``
    (maildird.plugins; the users file and Maildir are the built-in ones)."""
    from maildird.store.registry import KEEP_IDLE, Registry

    # Folders stay warm for a while after their last session leaves, so clients polling STATUS on
    # every folder do not reload each folder's state every time.
    registry: Registry[Any] = Registry(keep_idle=KEEP_IDLE)
    if authenticator is None:
        authenticator = plugins.make_authenticator(config)
    env = plugins.StoreEnvironment(
        registry=registry, hub=hub, watch=watchers.ensure if watchers is not None else None
    )
    store_for = plugins.make_store_factory(config, env)
    return Services(config, authenticator, store_for, hub=hub, registry=registry)


async def _open_listeners(config: Config) -> list[tuple[trio.SocketListener, Listener]]:
    opened: list[tuple[trio.SocketListener, Listener]] = []
    specs = list(config.listeners)
    # Socket activation (maildird.socket): adopt what systemd passed, bind only what it did not cover.
    inherited = systemd.listen_fds()
    if inherited:
        pairs, specs = systemd.assign_listeners(inherited, specs)
        opened.extend(systemd.trio_listeners(pairs))
    for spec in specs:
        for lst in await trio.open_tcp_listeners(spec.port, host=spec.address):
            opened.append((lst, spec))
    return opened


def _transport_for(stream: trio.SocketStream, spec: Listener, tls_available: bool) -> TransportInfo:
    try:
        peer = stream.socket.getpeername()
        local = stream.socket.getsockname()
    except OSError:
        peer, local = ("?", 0), ("?", 0)
    host = str(peer[0])
    loopback = is_loopback(host)
    secure = spec.tls == "implicit"
    return TransportInfo(
        kind="tls" if secure else "tcp",
        secure=secure,
        peer=f"{host}:{peer[1]}",
        local=f"{local[0]}:{local[1]}",
        loopback=loopback,
        starttls_available=(not secure) and spec.tls == "starttls" and tls_available,
    )


def _start_client(
    clients: trio.Nursery,
    handle: Callable[[trio.SocketStream, Listener], Awaitable[None]],
    spec: Listener,
    stream: trio.SocketStream,
) -> None:
    clients.start_soon(handle, stream, spec)


async def serve(
    config: Config,
    *,
    task_status: trio.TaskStatus[list[tuple[str, int]]] = trio.TASK_STATUS_IGNORED,
    authenticator: Any = None,
    handle_signals: bool = True,
    state: ServerState | None = None,
    manage_privileges: bool = False,
) -> None:
    """Run the server until SIGTERM/SIGINT (or until cancelled).  ``manage_privileges`` (the CLI sets
    it): after binding, write the pid file and switch to ``[server] user`` or refuse to serve as root
    (maildird.privileges)."""
    state = state or ServerState()
    holder = TlsContextHolder.from_config(config.tls)
    state.tls_context = lambda: holder.context if holder is not None else None
    if state.penalty is None:
        state.penalty = LoginPenalty(config.auth.failure_delay, config.auth.max_penalty)
    if state.limits is None:
        state.limits = ConnectionLimits(config.limits)
    limits = state.limits
    if not state.commands:
        state.commands = plugins.load_commands()
    access = {spec: AccessList.for_listener(spec) for spec in config.listeners}
    async with contextlib.AsyncExitStack() as cleanup, trio.open_nursery() as services_nursery:
        hub = ChangeHub()
        watchers = Watchers(services_nursery, hub, config.limits.rescan_seconds)
        services = build_services(config, hub, watchers, authenticator=authenticator)
        services.extra_capabilities = tuple(plugins.extra_capabilities(state.commands))
        services_nursery.start_soon(prune_watchers, watchers, state, config.limits.rescan_seconds)

        async def refuse(stream: trio.abc.Stream, bye: bytes) -> None:
            with trio.move_on_after(REFUSAL_TIMEOUT):
                try:
                    await stream.send_all(bye)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    pass
            await trio.aclose_forcefully(stream)

        async def turn_away(
            stream: trio.abc.Stream, spec: Listener, bye: bytes, status: tuple[int, str], text: str
        ) -> None:
            """Refuse a client at accept: ``bye`` on a plain IMAP port, HTTP ``status`` with ``text`` on
            a plain WebSocket port (after its request head), nothing on a TLS port (IMAP or WebSocket:
            refused before the handshake, so silent clients cost nothing); then close."""
            if spec.tls == "implicit":
                await trio.aclose_forcefully(stream)
            elif spec.kind == "ws":
                with trio.move_on_after(REFUSAL_TIMEOUT):
                    await refuse_connection(stream, *status, text)
                await trio.aclose_forcefully(stream)
            else:
                await refuse(stream, bye)

        async def admit(stream: trio.abc.Stream, transport: TransportInfo, spec: Listener) -> bool:
            """The listener's access list, then the connection limits (maildird.access), at accept for
            every listener kind, before any TLS or WebSocket handshake; ``turn_away`` refuses."""
            ip = peer_host(transport.peer)
            refusal = access[spec].check(ip) if spec in access else None
            if refusal is not None:
                name = await peer_name(ip, reverse_lookups=config.server.reverse_lookups)
                log.info(
                    "access denied: rip=%s, lip=%s, listener=%s: %s",
                    name,
                    transport.local,
                    spec.url(),
                    refusal,
                )
                await turn_away(stream, spec, access_denied_bye(), HTTP_FORBIDDEN, ACCESS_DENIED_TEXT)
                return False
            hit = limits.try_acquire(ip)
            if hit is not None:
                log.warning("%s reached: refused %s", hit, transport.peer)
                await turn_away(stream, spec, limits.bye(hit), HTTP_UNAVAILABLE, limits.message(hit))
                return False
            return True

        async def session(stream: trio.abc.Stream, transport: TransportInfo) -> None:
            """Run one admitted client's session, then give back what ``admit`` counted."""
            conn: ClientConnection | None = None
            try:
                conn = ClientConnection(stream, services, transport, state)
                await conn.run()
            finally:
                limits.release(peer_host(transport.peer), conn.counted_user if conn is not None else None)

        async def handle_ws(stream: trio.SocketStream, spec: Listener) -> None:
            """A WebSocket client: admitted on accept like a TCP one, before its TLS and HTTP handshakes
            (which may take ``tls_handshake_timeout`` plus ``HANDSHAKE_TIMEOUT``: a flood of half-open
            connections must count). The slot is given back by ``session`` once one ran, else here."""
            transport = transport_info(stream, spec.tls == "implicit")
            if not await admit(stream, transport, spec):
                return
            in_session = False

            async def run_session(ws_stream: trio.abc.Stream, ws_transport: TransportInfo) -> None:
                nonlocal in_session
                in_session = True
                await session(ws_stream, ws_transport)

            try:
                await serve_websocket_client(stream, spec, config, run_session, state.tls_context)
            finally:
                if not in_session:  # plain HTTP, refused upgrade, failed or timed-out handshake
                    limits.release(peer_host(transport.peer), None)

        async def handle(stream: trio.SocketStream, spec: Listener) -> None:
            """A TCP client: admitted on accept, before any TLS handshake (review: a client that never
            sends a ClientHello must count against the limits like any other)."""
            transport = _transport_for(stream, spec, holder is not None)
            implicit = spec.tls == "implicit"
            if not await admit(stream, transport, spec):
                return
            if not implicit:
                await session(stream, transport)
                return
            context = state.tls_context()
            ssl_stream = trio.SSLStream(stream, context, server_side=True) if context is not None else None
            shaken = False
            try:
                if ssl_stream is None:
                    raise ssl.SSLError("no TLS certificate is configured")
                with trio.fail_after(config.limits.tls_handshake_timeout):
                    await ssl_stream.do_handshake()
                shaken = True
            except (trio.BrokenResourceError, trio.TooSlowError, ssl.SSLError) as exc:
                log.info("TLS handshake with %s failed: %r", transport.peer, exc)
            finally:
                if not shaken:  # failed or cancelled: give back what admit counted
                    limits.release(peer_host(transport.peer), None)
                    await trio.aclose_forcefully(stream)
            if ssl_stream is None or not shaken:
                return
            await session(ssl_stream, transport)

        def reload() -> None:
            systemd.reloading("reloading users and certificates")
            try:
                load = getattr(services.authenticator, "load", None)
                if load is not None:
                    load()
                if holder is not None:
                    holder.reload()
                log.info("reloaded the users file and certificates")
                systemd.ready("reloaded users and certificates")
            except Exception as exc:
                log.error("reload failed, keeping the old settings: %s", exc)
                systemd.ready(f"reload failed, old settings kept: {exc}")

        provider = control.ServerControl(state.connections, reload)
        async with trio.open_nursery() as clients:
            async with trio.open_nursery() as acceptors:
                listeners = await _open_listeners(config)
                if manage_privileges:
                    # Bound and certificates loaded: now the pid file (as root, given to the service
                    # account) and the switch to that account, before the first client is served.
                    server = config.server
                    owner = privileges.resolve_account(server.user, server.group) if server.user else None
                    if server.pid_file is not None:
                        pid_file = privileges.PidFile(server.pid_file, owner)
                        pid_file.write()
                        cleanup.callback(pid_file.remove)  # at exit, after the nurseries
                    privileges.apply(server)
                await services_nursery.start(control.run_control, config.server.control_socket_path, provider)
                services_nursery.start_soon(control.report_status, provider)
                addresses: list[tuple[str, int]] = []
                for lst, spec in listeners:
                    sockname = lst.socket.getsockname()
                    addresses.append((str(sockname[0]), int(sockname[1])))
                    if spec.kind == "ws":
                        OriginPolicy(spec.allowed_origins, secure=False)  # a bad entry fails before serving
                    start = partial(_start_client, clients, handle_ws if spec.kind == "ws" else handle, spec)
                    acceptors.start_soon(accept_forever, lst, start)
                log.info("listening on %s", ", ".join(f"{h}:{p}" for h, p in addresses))
                task_status.started(addresses)
                systemd.ready("serving " + ", ".join(f"{h}:{p}" for h, p in addresses))
                services_nursery.start_soon(systemd.watchdog_task)
                if handle_signals:
                    await _wait_for_stop(reload)
                    systemd.stopping(f"stopping, {len(state.connections)} connections left")
                    acceptors.cancel_scope.cancel()
                else:
                    await trio.sleep_forever()
            state.shutting_down.set()
            for conn in list(state.connections):
                conn.interrupt_for_shutdown()
            clients.cancel_scope.deadline = trio.current_time() + config.limits.shutdown_grace
        # Close the folders kept warm in the registry (their sidecar databases) before leaving.
        if services.registry is not None:
            for folder in services.registry.drain():
                close = getattr(folder, "close", None)
                if close is not None:
                    close()
        services_nursery.cancel_scope.cancel()


async def _wait_for_stop(reload: Callable[[], None]) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
        async for signum in signals:
            if signum == signal.SIGHUP:
                reload()
                continue
            log.info("received %s, shutting down", signal.Signals(signum).name)
            return
