"""The per-client driver: the one place where Trio meets the sans-IO core.

Theory of operation
-------------------
A ``ClientConnection`` owns one byte stream and one ``imap.ServerConnection``. Its loop is h11's:
ask the core for the next event; on ``NEED_DATA`` read from the stream (under the autologout
timer) and feed the core; otherwise act on the event and write what the core serializes.

- ``CommandReceived``: most commands go to ``handlers.handle(ctx, command)``, which writes untagged
  responses through ``Context.send`` and returns the tagged one. Five commands touch the transport
  or need a second reader, so the driver runs them itself: STARTTLS (swap the stream for an
  ``SSLStream``), COMPRESS (wrap it in ``DeflateStream``) and AUTHENTICATE (a continuation exchange)
  in connection_upgrades.py, IDLE (two tasks: one reads ``DONE``, one waits on the change hub and
  pushes updates) in idle_driver.py, and LOGOUT.
- ``LiteralRequest``: the core has *announced* a synchronizing literal and buffered none of it; we
  answer ``+`` (the core already checked the limits and would have sent ``Rejected`` otherwise).
- ``Rejected`` / ``TooManyBadCommands`` / ``ProtocolViolation`` / ``ConnectionClosed``: send what the
  core made, close when it says so. Nothing a client sends ends the server: any other exception is
  logged, answered with ``* BYE [SERVERBUG]`` and ends only this connection.

Reads and writes go through ``transports.streamio.StreamIO`` (writes: connection_output.py). Each
event costs exactly one checkpoint (``next_event``): the read's, or an explicit one when the command
was already buffered (a pipelining client). On plain TCP a read checkpoints
first and then looks, and waits only when nothing has arrived by then: with many busy clients the
next command mostly has, and a wait (a cancel scope with the autologout deadline, an epoll
registration) costs the server more than the command it waits for. The loop takes the usual
command from the core unwrapped (``ServerConnection.next_command``).

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
import math
from typing import Any

import trio

from maildird import activity, handlers, plugins
from maildird import connection_upgrades as upgrades
from maildird.access import peer_host
from maildird.connection_output import ConnectionOutput
from maildird.connection_state import Closed, ServerState, core_limits
from maildird.handlers.context import Context, Services, TransportInfo
from maildird.handlers.mailboxes import deselect
from maildird.idle_driver import run_idle
from maildird.imap import commands as cmd
from maildird.imap import events as ev
from maildird.imap.errors import Bye
from maildird.imap.events import NEED_DATA
from maildird.imap.responses import Code, Status, Tagged, serialize
from maildird.imap.session import ServerConnection, State, Substate
from maildird.transports.streamio import StreamIO

log = logging.getLogger("maildird.connection")

KICK_BYE_TIMEOUT = 1.0
"""Seconds a kicked client gets to take its ``* BYE`` before the connection is closed anyway."""

ACTIVITY_SLACK = activity.QUIET_SECONDS / 10
"""Seconds a connection's last ``activity.mark`` may lag behind its commands (``_mark_activity``):
background work may then start this much short of ``activity.QUIET_SECONDS`` after a command."""


class ClientConnection(ConnectionOutput):
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
        self.io = StreamIO(stream, services.config.limits.output_timeout)
        self.services = services
        self.state = state
        self.limits = services.config.limits
        self.core = ServerConnection(core_limits(services))
        self.ctx = Context(services, transport, self._send_untagged, send_bytes=self._send_serialized)
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
        self._marked_at = -math.inf  # when ``_mark_activity`` last called ``activity.mark``
        self._clock = trio.lowlevel.current_clock()
        self.core.extensions.update(state.commands)

    @property
    def stream(self) -> trio.abc.Stream:
        """The byte stream (plain, TLS or DEFLATE); ``self.io`` reads and writes it."""
        return self.io.stream

    @stream.setter
    def stream(self, stream: trio.abc.Stream) -> None:
        self.io.stream = stream

    # -- input ----------------------------------------------------------------------------------------

    def _timeout(self) -> float:
        if self.core.substate is Substate.IDLE:
            return self.limits.idle_timeout
        if self.core.state is State.NOT_AUTHENTICATED:
            return self.limits.unauth_idle
        return self.limits.auth_idle

    async def _receive(self) -> None:
        """Read more octets into the core, honouring autologout and server shutdown. Always
        checkpoints once: the read's own (module docstring)."""
        if self.state.shutting_down.is_set() and self.core.substate is Substate.NONE:
            await self.bye("UNAVAILABLE", "Server shutting down.")
        io = self.io
        try:
            if io.direct:
                # Let the other connections run first (the checkpoint this read owes), then look:
                # under load the client's next command has arrived by then (a lockstep client's
                # rarely has before: it has only just been sent the reply), and the wait below (a
                # cancel scope with a deadline, an epoll registration) is not needed.
                await trio.lowlevel.checkpoint()
                ready = io.receive_nowait()
                if ready is not None:
                    self.bytes_in += len(ready)
                    self.core.receive_data(ready)
                    return
                if self.state.shutting_down.is_set() and self.core.substate is Substate.NONE:
                    await self.bye("UNAVAILABLE", "Server shutting down.")  # set during the checkpoint
            # One scope for both ends of the wait: its deadline is the autologout timer, and
            # ``interrupt_for_shutdown`` cancels it (``_shutdown_wake`` tells the two apart).
            with trio.CancelScope(deadline=trio.current_time() + self._timeout()) as scope:
                self._waiting_scope = scope
                try:
                    data = await self.io.receive_some()
                finally:
                    self._waiting_scope = None
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise Closed(f"receive failed: {exc!r}") from exc
        if scope.cancelled_caught:
            if self._shutdown_wake:
                await self.bye("UNAVAILABLE", "Server shutting down.")
            await self.bye(None, "Autologout; idle for too long.")
        self.bytes_in += len(data)
        self.core.receive_data(data)

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
        """The core's next event, reading as needed. At least one checkpoint per event and one per
        read: the read's, or an explicit one when the event was already buffered (a pipelining
        client, a large literal sent at once), so such a client neither starves the others nor
        escapes cancellation (streamio.py)."""
        event = self.core.next_event()
        if event is not NEED_DATA:
            await trio.lowlevel.checkpoint()
            return event
        while True:
            await self._receive()
            event = self.core.next_event()
            if event is not NEED_DATA:
                return event

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
        core = self.core
        read = False  # the read that brought the event checkpointed (``next_event``'s rule)
        while True:
            event = core.next_command()
            if event is NEED_DATA:
                await self._receive()
                read = True
                continue
            if not read:
                await trio.lowlevel.checkpoint()
            read = False
            if isinstance(event, cmd.Command):  # the usual case, unwrapped (``next_command``)
                await self._command(event)
            elif isinstance(event, ev.CommandReceived):
                await self._command(event.command)
            elif isinstance(event, ev.LiteralRequest):
                await self._write(self.core.accept_literal())
            elif isinstance(event, ev.Rejected):
                if self.core.deselect_owed:  # a SELECT the grammar refused still deselects (ON_REFUSED)
                    await deselect(self.ctx, announce=True)
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
            if core.state is State.LOGOUT:
                raise Closed("logout")

    async def _command(self, command: cmd.Command) -> None:
        self._mark_activity()  # background work waits for a quiet moment (``activity``)
        try:
            if type(command) in _SPECIAL_COMMANDS or self.core.state is State.NOT_AUTHENTICATED:
                await self._run_command(command)
            else:
                # The usual case (NOOP, FETCH, ...) after login: the handler, then the tagged reply,
                # written without a coroutine of its own when the socket takes it at once (``send``).
                tagged = await handlers.handle(self.ctx, command)
                core = self.core
                if type(command) is cmd.Enable:  # the one command here that may turn on UTF8=ACCEPT
                    core.utf8 = self.ctx.utf8
                data = self._after_buffered(core.send(tagged))
                sent = self._push(data)
                if sent != len(data):
                    await self._push_rest(data, sent)
                self.bytes_out += len(data)
        finally:
            self._mark_activity()

    def _mark_activity(self) -> None:
        """``activity.mark``, unless this connection marked less than ``ACTIVITY_SLACK`` ago: the
        last mark of the run is then at most that old. A busy client's commands (each well under a
        millisecond) mark once per ``ACTIVITY_SLACK`` instead of twice per command; a mark costs
        more than a NOOP's parsing."""
        now = self._clock.current_time()  # ``trio.current_time()`` without its two wrapper calls
        if now - self._marked_at >= ACTIVITY_SLACK:
            self._marked_at = now
            activity.mark()

    async def _run_command(self, command: cmd.Command) -> None:
        if self.core.state is State.NOT_AUTHENTICATED:
            self._unauth_commands += 1
            if self._unauth_commands > self.limits.unauth_commands:
                await self.bye(None, "Too many commands before authentication.")
        kind = type(command)
        if kind not in _DRIVER_COMMANDS:
            # The usual case (NOOP, FETCH, ...): the handlers, then the tagged reply.
            if isinstance(command, cmd.Extension) and command.name in self.state.commands:
                tagged = await plugins.dispatch(self.ctx, command, self.state.commands)
            else:
                tagged = await handlers.handle(self.ctx, command)
            if kind in _LOGIN_COMMANDS:
                await self._after_command(command, tagged)
                return
            self.core.utf8 = self.ctx.utf8
            await self.send(tagged)
            return
        if isinstance(command, cmd.Logout):
            await self.send(Status("BYE", "Logging out."))
            await self.send(Tagged(command.tag, "OK", "LOGOUT completed."))
            raise Closed("logout")
        if isinstance(command, cmd.StartTLS):
            await upgrades.starttls(self, command)
            return
        if isinstance(command, cmd.Compress):
            await upgrades.compress(self, command)
            return
        if isinstance(command, cmd.Idle):
            await run_idle(self, command)
            return
        assert isinstance(command, cmd.Authenticate)
        tagged = await upgrades.authenticate(self, command)
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


_DRIVER_COMMANDS = frozenset({cmd.Logout, cmd.StartTLS, cmd.Compress, cmd.Idle, cmd.Authenticate})
"""Commands the driver runs itself (the transport or a second reader): the module docstring."""
_LOGIN_COMMANDS = frozenset({cmd.Login, cmd.Authenticate})
"""Commands whose tagged reply passes the login bookkeeping of ``_after_command``."""
_SPECIAL_COMMANDS = _DRIVER_COMMANDS | _LOGIN_COMMANDS | {cmd.Extension}
"""Commands ``_run_command`` takes (the driver's, the logins, plug-ins); ``_command`` runs the rest."""


def _code(tagged: Tagged) -> str | None:
    return tagged.code.name if tagged.code is not None else None


def _atoms(names: list[str]) -> tuple[Any, ...]:
    from maildird.imap.responses import Atom

    return tuple(Atom(n) for n in names)
