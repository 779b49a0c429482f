"""The per-client driver: the one place where Trio meets the sans-IO core.

Theory of operation
-------------------
A ``ClientConnection`` owns one byte stream and one ``imap.ServerConnection``. Its loop is h11's:
ask the core for the next event; on ``NEED_DATA`` read from the stream (under the autologout
timer) and feed the core; otherwise act on the event and write what the core serializes.

- ``CommandReceived``: most commands go to ``handlers.handle(ctx, command)``, which writes untagged
  responses through ``Context.send`` and returns the tagged one. Five commands touch the transport
  or need a second reader, so the driver runs them itself: STARTTLS (swap the stream for an
  ``SSLStream``), COMPRESS (wrap it in ``DeflateStream``), IDLE (two tasks: one reads ``DONE``, one
  waits on the change hub and pushes updates), AUTHENTICATE (a continuation exchange) and LOGOUT.
- ``LiteralRequest``: the core has *announced* a synchronizing literal and buffered none of it; we
  answer ``+`` (the core already checked the limits and would have sent ``Rejected`` otherwise).
- ``Rejected`` / ``TooManyBadCommands`` / ``ProtocolViolation`` / ``ConnectionClosed``: send what the
  core made, close when it says so. Nothing a client sends ends the server: any other exception is
  logged, answered with ``* BYE [SERVERBUG]`` and ends only this connection.

Only one task writes at a time (``_send_lock``): during IDLE the hub task and the reader may both
want to send. Sends follow h11: serialize first, then ``send_all``; a failed send closes the
connection.

Timers: before login the connection is closed after ``unauth_idle`` seconds of silence or
``unauth_commands`` commands (the seed's limits); after login after ``auth_idle`` seconds (RFC 9051
§5.4: at least 30 minutes). During IDLE the limit is ``idle_timeout`` and ``* OK Still here`` is sent
every ``idle_keepalive`` seconds.

Shutdown: the server sets ``ServerState.shutting_down``; a connection waiting for its client's next
command then sends ``* BYE [UNAVAILABLE]`` and closes. A command in progress finishes first, so an
APPEND that was acknowledged is never lost.
"""

from __future__ import annotations

import logging
import ssl
from typing import Any

import trio

from maildird import handlers, plugins
from maildird.access import peer_host
from maildird.connection_state import Closed, ServerState, core_limits, tagged_from
from maildird.handlers import auth as auth_handlers
from maildird.handlers.context import Context, Services, TransportInfo
from maildird.idle_driver import run_idle
from maildird.imap import commands as cmd
from maildird.imap import events as ev
from maildird.imap.errors import Bye
from maildird.imap.events import NEED_DATA
from maildird.imap.responses import Code, Continuation, Response, Status, Tagged, serialize
from maildird.imap.session import ServerConnection, State, Substate
from maildird.transports.compress import DeflateStream

log = logging.getLogger("maildird.connection")

RECEIVE_SIZE = 65536
"""Octets asked of the stream per read; the core bounds what it buffers, not this."""

KICK_BYE_TIMEOUT = 1.0
"""Seconds a kicked client gets to take its ``* BYE`` before the connection is closed anyway."""

OUTPUT_CHUNK = 65536
"""Untagged output is written in chunks of about this many octets (sendall in large chunks)."""


class ClientConnection:
    """One client, from greeting to close."""

    def __init__(
        self,
        stream: trio.abc.Stream,
        services: Services,
        transport: TransportInfo,
        state: ServerState,
        *,
        preauth_user: Any = None,
    ) -> None:
        self.stream = stream
        self.services = services
        self.state = state
        self.limits = services.config.limits
        self.core = ServerConnection(core_limits(services))
        self.ctx = Context(services, transport, self._send_untagged, send_bytes=self._send_serialized)
        self._send_lock = trio.Lock()
        self._outbuf: list[bytes] = []
        self._outbuf_size = 0
        self._unauth_commands = 0
        self._login_failures = 0
        self._waiting_scope: trio.CancelScope | None = None
        self._shutdown_wake = False  # interrupt_for_shutdown cancelled the wait for input
        self.bytes_in = 0
        self.bytes_out = 0
        self.idling = False
        self.connected_at = trio.current_time()
        self.counted_user: str | None = None  # whose login ServerState.limits counted; the server releases it
        self._kick_text: str | None = None
        self._run_scope: trio.CancelScope | None = None
        self.core.extensions.update(state.commands)

    # -- output ---------------------------------------------------------------------------------------

    async def send(self, response: Response) -> None:
        """Send ``response`` now, after any untagged output still buffered."""
        data = self.core.send(response)
        if self._outbuf:
            data = b"".join((*self._outbuf, data))
            self._outbuf.clear()
            self._outbuf_size = 0
        await self._write(data)

    async def flush(self) -> None:
        """Write the buffered untagged output (IDLE pushes it at once)."""
        if self._outbuf:
            data = b"".join(self._outbuf)
            self._outbuf.clear()
            self._outbuf_size = 0
            await self._write(data)

    async def _write(self, data: bytes) -> None:
        if not data:
            return
        async with self._send_lock:
            try:
                with trio.fail_after(self.limits.output_timeout):
                    await self.stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError) as exc:
                raise Closed(f"send failed: {exc!r}") from exc
        self.bytes_out += len(data)

    async def _send_untagged(self, response: Response) -> None:
        """``Context.send``: untagged responses are gathered into writes of about ``OUTPUT_CHUNK``
        octets (a FETCH of 100,000 messages must not make 100,000 system calls); the tagged reply,
        a continuation or an IDLE push flushes them."""
        data = self.core.send(response)
        self._outbuf.append(data)
        self._outbuf_size += len(data)
        if self._outbuf_size >= OUTPUT_CHUNK:
            await self.flush()

    async def _send_serialized(self, data: bytes) -> None:
        """``Context.send_bytes``: untagged responses the handler serialized itself (a FETCH's lines),
        buffered like ``_send_untagged``'s. Untagged data implies no state change in the core."""
        self._outbuf.append(data)
        self._outbuf_size += len(data)
        if self._outbuf_size >= OUTPUT_CHUNK:
            await self.flush()

    # -- input ----------------------------------------------------------------------------------------

    def _timeout(self) -> float:
        if self.core.substate is Substate.IDLE:
            return self.limits.idle_timeout
        if self.core.state is State.NOT_AUTHENTICATED:
            return self.limits.unauth_idle
        return self.limits.auth_idle

    async def _receive(self) -> bytes:
        """Read more octets, honouring autologout and server shutdown."""
        if self.state.shutting_down.is_set() and self.core.substate is Substate.NONE:
            await self.bye("UNAVAILABLE", "Server shutting down.")
        # One scope for both ends of the wait: its deadline is the autologout timer, and
        # ``interrupt_for_shutdown`` cancels it (``_shutdown_wake`` tells the two apart).
        with trio.CancelScope(deadline=trio.current_time() + self._timeout()) as scope:
            self._waiting_scope = scope
            try:
                data = bytes(await self.stream.receive_some(RECEIVE_SIZE))
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                raise Closed(f"receive failed: {exc!r}") from exc
            finally:
                self._waiting_scope = None
        if scope.cancelled_caught:
            if self._shutdown_wake:
                await self.bye("UNAVAILABLE", "Server shutting down.")
            await self.bye(None, "Autologout; idle for too long.")
        self.bytes_in += len(data)
        return data

    def kick(self, text: str) -> None:
        """Called by the control socket (``maildird kick``): end the session now, even mid-command,
        with ``* BYE text``."""
        self._kick_text = text
        if self._run_scope is not None:
            self._run_scope.cancel()

    def interrupt_for_shutdown(self) -> None:
        """Called by the server: wake a connection that waits for its client's next command."""
        if self._waiting_scope is not None and self.core.substate is Substate.NONE:
            self._shutdown_wake = True
            self._waiting_scope.cancel()

    async def next_event(self) -> Any:
        while True:
            event = self.core.next_event()
            if event is not NEED_DATA:
                return event
            data = await self._receive()
            self.core.receive_data(data)

    async def bye(self, code: str | None, text: str) -> None:
        """Send ``* BYE`` (best effort) and end the session."""
        try:
            await self.send(Status("BYE", text, Code(code) if code else None))
        except Closed:
            pass
        raise Closed(text)

    # -- the loop -------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the client until it leaves. Never raises ``Exception`` (``Cancelled`` passes)."""
        self.state.connections.add(self)
        try:
            with trio.CancelScope() as self._run_scope:
                await self.send(
                    Status("OK", "maildird ready.", Code("CAPABILITY", _atoms(self.ctx.capabilities())))
                )
                await self._loop()
            if self._kick_text is not None:
                log.info("kicked user=<%s> from %s", self.ctx.user or "", self.ctx.transport.peer)
                with trio.move_on_after(KICK_BYE_TIMEOUT):
                    await self._write(serialize(Status("BYE", self._kick_text)))
        except Closed as exc:
            log.debug("connection closed: %s", exc)
        except Bye as exc:
            # A handler ended the session on purpose (UIDVALIDITY changed, mailbox deleted under
            # us): tell the client why (RFC 9051 §7.1.5) and close.
            log.info("closing %s: %s", self.ctx.transport.peer, exc)
            with trio.move_on_after(1):
                try:
                    await self.send(exc.to_response("*"))
                except (Closed, Exception):
                    pass
        except Exception:
            log.exception("internal error serving %s", self.ctx.transport.peer)
            with trio.move_on_after(1):
                try:
                    await self._write(serialize(Status("BYE", "Internal server error.", Code("SERVERBUG"))))
                except Exception:
                    pass
        finally:
            self.state.connections.discard(self)
            await self._cleanup()

    async def _cleanup(self) -> None:
        with trio.CancelScope(shield=True), trio.move_on_after(5):
            if self.ctx.selected is not None:
                try:
                    await self.ctx.selected.mailbox.close()
                except Exception:
                    log.exception("closing the selected mailbox")
                self.ctx.selected = None
            if self.ctx.store is not None:
                try:
                    await self.ctx.store.close()
                except Exception:
                    log.exception("closing the store")
            await trio.aclose_forcefully(self.stream)

    async def _loop(self) -> None:
        while True:
            event = await self.next_event()
            if isinstance(event, ev.CommandReceived):
                await self._command(event.command)
            elif isinstance(event, ev.LiteralRequest):
                await self._write(self.core.accept_literal())
            elif isinstance(event, ev.Rejected):
                await self.send(event.response)
            elif isinstance(event, ev.TooManyBadCommands):
                await self.send(event.response)
                raise Closed("too many bad commands")
            elif isinstance(event, ev.ProtocolViolation):
                log.warning("protocol violation from %s: %s", self.ctx.transport.peer, event.reason)
                raise Closed(event.reason)
            elif isinstance(event, ev.ConnectionClosed):
                raise Closed("client closed the connection")
            else:  # IdleDone / AuthResponse outside their exchange: the core never yields these here
                raise RuntimeError(f"unexpected event {event!r}")
            if self.core.state is State.LOGOUT:
                raise Closed("logout")

    async def _command(self, command: cmd.Command) -> None:
        if self.core.state is State.NOT_AUTHENTICATED:
            self._unauth_commands += 1
            if self._unauth_commands > self.limits.unauth_commands:
                await self.bye(None, "Too many commands before authentication.")
        if isinstance(command, cmd.Logout):
            await self.send(Status("BYE", "Logging out."))
            await self.send(Tagged(command.tag, "OK", "LOGOUT completed."))
            raise Closed("logout")
        if isinstance(command, cmd.StartTLS):
            await self._starttls(command)
            return
        if isinstance(command, cmd.Compress):
            await self._compress(command)
            return
        if isinstance(command, cmd.Idle):
            await run_idle(self, command)
            return
        if isinstance(command, cmd.Authenticate):
            tagged = await self._authenticate(command)
        elif isinstance(command, cmd.Extension) and command.name in self.state.commands:
            tagged = await plugins.dispatch(self.ctx, command, self.state.commands)
        else:
            tagged = await handlers.handle(self.ctx, command)
        await self._after_command(command, tagged)

    async def _after_command(self, command: cmd.Command, tagged: Tagged) -> None:
        self.core.utf8 = self.ctx.utf8
        is_login = isinstance(command, cmd.Login | cmd.Authenticate)
        failed_login = is_login and tagged.status == "NO" and _code(tagged) == "AUTHENTICATIONFAILED"
        if failed_login:
            self._login_failures += 1
            await trio.sleep(self._failure_delay(command))
        elif is_login and tagged.status == "OK" and self.state.penalty is not None:
            self.state.penalty.success(self._peer_ip())
        if is_login and tagged.status == "OK" and self.state.limits is not None and self.ctx.user:
            hit = self.state.limits.try_acquire(self._peer_ip(), self.ctx.user)
            if hit is not None:
                log.warning("%s reached: refused user=<%s> from %s", hit, self.ctx.user, self._peer_ip())
                await self.bye("UNAVAILABLE", self.state.limits.message(hit))
            self.counted_user = self.ctx.user
        await self.send(tagged)
        if failed_login and self._login_failures >= self.limits.login_failures_before_disconnect:
            await self.bye(None, "Too many failed logins.")

    def _peer_ip(self) -> str:
        return peer_host(self.ctx.transport.peer)

    def _failure_delay(self, command: cmd.Command) -> float:
        """Dovecot's auth_failure_delay, grown per client address by the anvil-style penalty
        (2, 4, 8 ... up to max_penalty seconds; operations.md §3)."""
        base = self.services.config.auth.failure_delay
        if self.state.penalty is None or base <= 0:
            return base
        user, secret = "", b""
        if isinstance(command, cmd.Login):
            user, secret = command.username, command.password.encode("utf-8", "surrogateescape")
        return max(base, self.state.penalty.failure(self._peer_ip(), user, secret))

    # -- STARTTLS (RFC 9051 §6.2.1) -------------------------------------------------------------------

    async def _starttls(self, command: cmd.StartTLS) -> None:
        context = self.state.tls_context() if self.state.tls_context else None
        if context is None or not self.ctx.transport.starttls_available:
            await self.send(Tagged(command.tag, "BAD", "STARTTLS is not available here.", Code("CLIENTBUG")))
            return
        await self.send(Tagged(command.tag, "OK", "Begin TLS negotiation now."))
        # Anything the client pipelined behind STARTTLS is refused by the core (ProtocolViolation on
        # the next event): it was sent in the clear and must never run inside the TLS session.
        pending = self.core.next_event()
        if pending is not NEED_DATA:
            if isinstance(pending, ev.ProtocolViolation):
                log.warning("refused data pipelined after STARTTLS from %s", self.ctx.transport.peer)
            raise Closed("data pipelined after STARTTLS")
        tls_stream = trio.SSLStream(self.stream, context, server_side=True)
        try:
            with trio.fail_after(self.limits.tls_handshake_timeout):
                await tls_stream.do_handshake()
        except (trio.BrokenResourceError, trio.TooSlowError, ssl.SSLError) as exc:
            raise Closed(f"TLS handshake failed: {exc!r}") from exc
        self.stream = tls_stream
        t = self.ctx.transport
        self.ctx.transport = TransportInfo("tls", True, t.peer, t.local, t.loopback, False)

    # -- COMPRESS (RFC 4978) --------------------------------------------------------------------------

    async def _compress(self, command: cmd.Compress) -> None:
        if command.mechanism != "DEFLATE":
            await self.send(
                Tagged(command.tag, "NO", f"Unknown compression {command.mechanism}.", Code("CANNOT"))
            )
            return
        if isinstance(self.stream, DeflateStream):
            await self.send(
                Tagged(command.tag, "NO", "Compression is already active.", Code("COMPRESSIONACTIVE"))
            )
            return
        await self.send(Tagged(command.tag, "OK", "DEFLATE active."))
        # Octets the client sent behind COMPRESS are already compressed (RFC 4978 §3): take them
        # back from the core and let the deflate stream inflate them first.
        self.stream = DeflateStream(self.stream, initial=self.core.take_unprocessed())

    # -- AUTHENTICATE (RFC 9051 §6.2.2, RFC 4959) -----------------------------------------------------

    async def _authenticate(self, command: cmd.Authenticate) -> Tagged:
        if command.mechanism != "PLAIN":
            return Tagged(command.tag, "NO", f"Unsupported mechanism {command.mechanism}.", Code("CANNOT"))
        data = command.initial_response
        if data is None:
            await self.send(Continuation(""))
            event = await self.next_event()
            if isinstance(event, ev.Rejected):
                return tagged_from(event.response, command.tag)
            if not isinstance(event, ev.AuthResponse):
                raise Closed(f"unexpected event during AUTHENTICATE: {event!r}")
            if event.data is None:
                return Tagged(command.tag, "BAD", "AUTHENTICATE cancelled.")
            data = event.data
        return await auth_handlers.authenticate_plain(self.ctx, command.tag, data)


def _code(tagged: Tagged) -> str | None:
    return tagged.code.name if tagged.code is not None else None


def _atoms(names: list[str]) -> tuple[Any, ...]:
    from maildird.imap.responses import Atom

    return tuple(Atom(n) for n in names)
