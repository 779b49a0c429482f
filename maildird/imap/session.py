"""The IMAP server session as a sans-IO state machine: ``ServerConnection``.

Theory of operation
-------------------
The driver (connection.py) owns the socket; this object owns the protocol. Bytes go in with
``receive_data``; ``next_event`` returns one event or ``NEED_DATA``; every response the driver
writes goes through ``send``, which returns its bytes and is where state changes happen. Nothing
here does I/O, so every rule below is tested synchronously (tests/imap/).

Rule 1 (h11's): everything that changes the session state lives in this file and in
session_output.py (what sending a response does), and as much of it as possible in the tables of
session_tables.py: ``ALLOWED`` (which commands each state accepts; RFC 9051 §9
``command-any``/``-nonauth``/``-auth``/``-select`` and RFC 5161 §3.1 for ENABLE),
``ON_TAGGED`` (the state a command's tagged status leads to), ``ON_REFUSED`` (the same for a command
the grammar refused: a SELECT deselects) and ``ON_CONTINUATION`` (the substate a ``+`` enters).

Rule 2: one command at a time. Once ``CommandReceived`` is returned the command is *in flight*
until ``send`` sees its ``Tagged``; meanwhile ``next_event`` frames and parses nothing and returns
``NEED_DATA``, except for the lines a substate waits for. Pipelined commands stay in the buffer
until then, so each is parsed in the state its predecessors left (after LOGIN, SELECT, ENABLE
UTF8=ACCEPT...), and nothing sent after STARTTLS or COMPRESS is read as plaintext commands (after
COMPRESS's OK the driver takes those octets with ``take_unprocessed()``, inflates them and feeds them
back). A core ``Rejected`` with a tag is owed the same way until sent. Input that piles up unread
past ``max_command + max_line`` while paused is a ``ProtocolViolation``.

Rule 3: substates. ``send(Continuation)`` while IDLE is in flight enters ``Substate.IDLE``: the
next line must be ``DONE`` (any case) -> ``IdleDone``; anything else -> ``Rejected(tagged BAD
"Expected DONE.")`` and the idle is over (Dovecot). While AUTHENTICATE is in flight each
continuation makes the next line a SASL response: base64 -> ``AuthResponse(bytes)``, ``*`` ->
``AuthResponse(None)``, bad base64 -> ``Rejected(tagged BAD)``, ending the exchange. The command's
tagged response ends the substate.

Rule 4: errors. A literal over the limits, an over-long line, a parse error or a command not allowed
now is ``Rejected`` (tagged when a tag was read, else ``* BAD``). BADs sent in a row are counted
(any tagged OK/NO resets the count); more than ``max_bad_commands`` -> ``TooManyBadCommands``
carrying the ``* BYE``. Misuse of this API by our own code raises ``LocalProtocolError``.

Rule 5: STARTTLS (RFC 9051 §6.2.1, the command-injection class of bugs). When the tagged OK of
STARTTLS is sent, any byte already received after the command is plaintext the client had no
right to send: the next ``next_event`` is ``ProtocolViolation`` and none of it is ever parsed.

The same holds for a refused synchronizing literal (``reject_literal``, or the core's own
``NO [TOOBIG]``): the client must wait for ``+`` (RFC 9051 §4.3), so octets that have already
arrived can only be the literal sent without waiting, and they must not run as commands: the next
event is ``ProtocolViolation`` (a partial defence: octets arriving later cannot be told apart).

Rule 6: the end. After EOF, ``ProtocolViolation``, ``TooManyBadCommands``, a ``* BYE`` or
LOGOUT's tagged OK, ``next_event`` returns ``ConnectionClosed`` forever (``send`` still works, for
the BYE and LOGOUT's tagged OK).
"""

from __future__ import annotations

import binascii
from collections.abc import Callable

from . import commands as c
from .errors import CLIENTBUG, LocalProtocolError
from .events import (
    NEED_DATA,
    AuthResponse,
    CommandReceived,
    ConnectionClosed,
    Event,
    IdleDone,
    LiteralRequest,
    NeedData,
    ProtocolViolation,
    Rejected,
    TooManyBadCommands,
)
from .frames import (
    EndOfInput,
    FramedCommand,
    FramedLine,
    Limits,
    LiteralAnnounced,
    Refusal,
    _head,
)
from .framing import Framer
from .grammar_tokens import ParseError
from .raw import RawCommand
from .responses import Code, Continuation, Status, Tagged, serialize
from .session_output import SessionOutput
from .session_tables import ALLOWED, APPEND_STATES, ON_CONTINUATION, ON_REFUSED, ON_TAGGED, State, Substate

__all__ = [
    "ALLOWED",
    "APPEND_STATES",
    "ON_CONTINUATION",
    "ON_REFUSED",
    "ON_TAGGED",
    "Limits",
    "ServerConnection",
    "State",
    "Substate",
]


_TOO_MANY_BAD = "Too many invalid IMAP commands."
_EARLY_LITERAL = "data sent after a refused synchronizing literal without waiting for '+'"
_SELECTED_ONLY = frozenset(c.SELECTED)

Parser = Callable[..., c.Command]
"""``parser(raw, *, utf8=..., extensions=...) -> Command``, raising ``grammar.ParseError``."""


LineParser = Callable[..., c.Command]
"""``parse_line(line, *, utf8=..., extensions=...) -> Command``: ``Parser`` for a one-line command."""

_PARSER: Parser | None = None
_LINE_PARSER: LineParser | None = None


def _default_parser() -> Parser:
    """The grammar's parser, imported on first use (the grammar is the heaviest module and imports
    this package) and then kept: every command needs it."""
    global _PARSER, _LINE_PARSER
    if _PARSER is None:
        from . import grammar

        _PARSER, _LINE_PARSER = grammar.parse_command, grammar.parse_line
    return _PARSER


def _default_line_parser() -> LineParser:
    """The grammar's ``parse_line`` (``_default_parser``)."""
    _default_parser()
    assert _LINE_PARSER is not None
    return _LINE_PARSER


class ServerConnection(SessionOutput):
    """One client session; see the module docstring."""

    def __init__(
        self,
        limits: Limits | None = None,
        *,
        preauth: bool = False,
        parser: Parser | None = None,
    ) -> None:
        self.limits = limits if limits is not None else Limits()
        self._framer = Framer(self.limits)
        self._state = State.AUTHENTICATED if preauth else State.NOT_AUTHENTICATED
        self._substate = Substate.NONE
        self.utf8 = False
        """True after ENABLE UTF8=ACCEPT (RFC 6855 §3): the parser and ``send`` follow it."""
        self.extensions: set[str] = set()
        """Plug-in command names (upper-case) the grammar returns as ``Extension``."""
        self._parser = parser
        self._in_flight: c.Command | None = None
        self._owed: str | None = None  # tag of a tagged Rejected not sent yet
        self._owed_state: State | None = None  # where sending that Rejected leads (ON_REFUSED)
        self._literal_tag: str | None = None  # a LiteralRequest awaiting accept/reject
        self._bad_in_a_row = 0
        self._closed = False
        self._violation: str | None = None
        self._idle_over = False  # DONE (or garbage) read; waiting for IDLE's tagged reply
        self._auth_waiting = False  # a continuation was sent: the next line is a SASL response

    # -- read-only views -------------------------------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    @property
    def substate(self) -> Substate:
        return self._substate

    @property
    def in_flight(self) -> c.Command | None:
        """The command received and not yet answered with its tagged response."""
        return self._in_flight

    @property
    def deselect_owed(self) -> bool:
        """The ``Rejected`` just returned refuses a SELECT/EXAMINE in the selected state: the driver
        drops the selection, with ``* OK [CLOSED]``, before sending it (``ON_REFUSED``)."""
        return self._owed_state is not None

    @property
    def buffered(self) -> int:
        """Octets held: unframed input plus the command being assembled (never past the limits)."""
        return self._framer.held

    # -- input -----------------------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Feed received bytes; ``b""`` means the peer closed (EOF)."""
        self._framer.feed(data)
        # Input that piles up while nothing is read from it (a driver reading ahead of a command in
        # flight) is still bounded: past a command's worth the connection is given up.
        if self._framer.unprocessed > self.limits.max_command + self.limits.max_line and self._paused():
            self._violation = "too much input sent ahead of the server's response"

    def _paused(self) -> bool:
        if self._substate is Substate.IDLE:
            return self._idle_over
        if self._substate is Substate.AUTHENTICATE:
            return not self._auth_waiting
        return self._in_flight is not None or self._owed is not None or self._literal_tag is not None

    def take_unprocessed(self) -> bytes:
        """The bytes received but not framed, handed over (after COMPRESS's tagged OK the rest of
        the stream is compressed, RFC 4978 §3: the driver inflates them and feeds them back)."""
        if self._framer.in_command:
            raise LocalProtocolError("take_unprocessed() in the middle of a command")
        return self._framer.take_unprocessed()

    def next_command(self) -> c.Command | Event | NeedData:
        """``next_event`` for the driver's command loop, the usual case unwrapped: a command that is
        one whole line without a literal, parsed and allowed now, comes back as the ``Command``
        itself (``next_event`` would wrap it in ``CommandReceived``); everything else exactly as
        ``next_event`` returns it. The checks before framing are those of ``next_event`` (which runs
        them one by one when any of them holds)."""
        if (
            self._in_flight is None
            and self._substate is Substate.NONE
            and self._owed is None
            and self._literal_tag is None
            and self._violation is None
            and not self._closed
            and self._state is not State.LOGOUT
            and self._bad_in_a_row <= self.limits.max_bad_commands
        ):
            line = self._framer.take_line()
            if line is False:
                return NEED_DATA
            if line is not None:
                assert isinstance(line, bytes)
                return self._accept(line, None)
        event = self.next_event()
        return event.command if type(event) is CommandReceived else event

    def next_event(self) -> Event | NeedData:
        """The next event, or ``NEED_DATA``."""
        if self._closed:
            return ConnectionClosed()
        if self._violation is not None:
            self._close()
            return ProtocolViolation(self._violation)
        if self._bad_in_a_row > self.limits.max_bad_commands:
            self._close()
            return TooManyBadCommands(Status("BYE", _TOO_MANY_BAD))
        if self._state is State.LOGOUT:
            self._close()
            return ConnectionClosed()
        if self._literal_tag is not None:
            raise LocalProtocolError("call accept_literal() or reject_literal() after a LiteralRequest")
        if self._paused():
            return NEED_DATA
        framer = self._framer
        if self._substate is Substate.NONE:
            line = framer.take_line()  # the usual command: one line, no literal
            if line is False:
                return NEED_DATA
            if line is not None:
                assert isinstance(line, bytes)
                return self._command(line, None)
        # APPEND's message budget only where APPEND may run: before login a command named APPEND
        # gets the ordinary literal limits (it will be refused anyway, after being buffered).
        framer.append_allowed = self._state in APPEND_STATES
        fragment = framer.next()
        if fragment is None:
            return NEED_DATA
        if isinstance(fragment, EndOfInput):
            self._close()
            return ConnectionClosed()
        if self._substate is not Substate.NONE:
            return self._substate_input(fragment)
        if isinstance(fragment, FramedCommand):
            return self._command(fragment.raw, fragment.name)
        if isinstance(fragment, LiteralAnnounced):
            self._literal_tag = fragment.tag
            return LiteralRequest(fragment.tag, fragment.size, fragment.binary, fragment.command)
        if isinstance(fragment, Refusal):
            if fragment.sync_literal and self._framer.unprocessed:
                self._violation = _EARLY_LITERAL
            return self._reject(fragment.tag, fragment.status, fragment.text, fragment.code)
        raise AssertionError(f"unexpected fragment {fragment!r}")  # pragma: no cover

    def _close(self) -> None:
        self._closed = True
        self._state = State.LOGOUT

    def _reject(self, tag: str | None, status: str, text: str, code: str) -> Rejected:
        if tag is None:
            return Rejected(Status("NO" if status == "NO" else "BAD", text, Code(code)))
        self._owed = tag
        return Rejected(Tagged(tag, "NO" if status == "NO" else "BAD", text, Code(code)))

    def _command(self, raw: RawCommand | bytes, name: str | None) -> Event:
        """``_accept`` as an event."""
        command = self._accept(raw, name)
        return command if isinstance(command, Rejected) else CommandReceived(command)

    def _accept(self, raw: RawCommand | bytes, name: str | None) -> c.Command | Rejected:
        """``raw`` (a ``RawCommand``, or the line of a command that is one line without a literal)
        parsed, and in flight when allowed now; else the ``Rejected`` to send. ``name`` is the
        framer's peek at the command name (None: peek now, only a refusal needs it)."""
        try:
            if type(raw) is bytes:
                if self._parser is None:
                    line_parser = _LINE_PARSER or _default_line_parser()
                    command = line_parser(raw, utf8=self.utf8, extensions=self.extensions)
                else:
                    command = self._parser(RawCommand((raw,)), utf8=self.utf8, extensions=self.extensions)
            else:
                parser = self._parser or _PARSER or _default_parser()
                command = parser(raw, utf8=self.utf8, extensions=self.extensions)
        except ParseError as exc:
            if exc.tag is not None:
                name = _head(_first_line(raw))[1] if name is None else name
                self._owed_state = ON_REFUSED.get((self._state, name))
            return self._reject(exc.tag, "BAD", exc.message, exc.code)
        if type(command) not in ALLOWED[self._state]:
            if self._state is State.AUTHENTICATED and type(command) in _SELECTED_ONLY:
                text = "No mailbox selected."
            else:
                name = _head(_first_line(raw))[1] if name is None else name
                text = f"{name or 'Command'} not allowed now."
            return self._reject(command.tag, "BAD", text, CLIENTBUG)
        self._in_flight = command
        return command

    def _substate_input(self, fragment: FramedCommand | FramedLine | LiteralAnnounced | Refusal) -> Event:
        command = self._in_flight
        assert command is not None
        line = fragment.line if isinstance(fragment, FramedLine) else None
        if self._substate is Substate.IDLE:
            self._idle_over = True
            if line is not None and line.upper() == b"DONE":
                return IdleDone()
            return Rejected(Tagged(command.tag, "BAD", "Expected DONE."))
        self._auth_waiting = False
        if line == b"*":
            return AuthResponse(None)
        if line is not None:
            try:
                return AuthResponse(binascii.a2b_base64(line, strict_mode=True))
            except binascii.Error:
                pass
        return Rejected(Tagged(command.tag, "BAD", "Invalid base64 data in AUTHENTICATE response."))

    # -- literals --------------------------------------------------------------------------------------

    def accept_literal(self) -> bytes:
        """Accept the announced literal: returns the ``+`` to send (RFC 9051 §7.5)."""
        if self._literal_tag is None:
            raise LocalProtocolError("accept_literal() without a LiteralRequest")
        self._literal_tag = None
        self._framer.accept_literal()
        return serialize(Continuation("Ready"))

    def reject_literal(self, response: Tagged) -> bytes:
        """Refuse the announced literal with ``response`` (its tag): the command is dropped."""
        if self._literal_tag is None:
            raise LocalProtocolError("reject_literal() without a LiteralRequest")
        if response.tag != self._literal_tag:
            raise LocalProtocolError(f"reject_literal() with tag {response.tag!r} for {self._literal_tag!r}")
        self._literal_tag = None
        self._framer.reject_literal()
        if self._framer.unprocessed:
            self._violation = _EARLY_LITERAL
        self._count(response.status)
        return serialize(response, utf8=self.utf8)


def _first_line(raw: RawCommand | bytes) -> bytes:
    return raw if isinstance(raw, bytes) else raw.lines[0]
