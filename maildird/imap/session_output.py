"""What sending a response does to the session: the output half of ``session.ServerConnection``.

Theory of operation
-------------------
Every response the driver writes goes through ``send`` (or ``send_many`` for a burst), which returns
its bytes and applies the transitions the response implies (session.py, rule 1): a ``Tagged`` ends
the command in flight (or pays a ``Rejected`` owed) and moves the state by ``ON_TAGGED`` /
``ON_REFUSED``; a ``Continuation`` enters the substate of ``ON_CONTINUATION``; ``* BYE`` ends the
session and ``PREAUTH`` logs in. BADs in a row are counted here (``_count``, rule 4), and STARTTLS's
tagged OK with octets pipelined behind it is a violation (rule 5).

``ServerConnection`` inherits these methods from ``SessionOutput`` unchanged (moved here for the
400-line house rule); the mixin declares the attributes it uses, which ``ServerConnection`` sets.
"""

from __future__ import annotations

from collections.abc import Iterable

from . import commands as c
from .errors import LocalProtocolError
from .framing import Framer
from .responses import Continuation, Response, Status, Tagged, Untagged, serialize, serialize_many
from .session_tables import ON_CONTINUATION, ON_TAGGED, State, Substate


class SessionOutput:
    """The output methods of ``ServerConnection`` (a mixin: the attributes are set there)."""

    utf8: bool
    _framer: Framer
    _state: State
    _substate: Substate
    _in_flight: c.Command | None
    _owed: str | None
    _owed_state: State | None
    _bad_in_a_row: int
    _violation: str | None
    _idle_over: bool
    _auth_waiting: bool

    def send(self, response: Response) -> bytes:
        """The bytes for ``response``; applies the transitions it implies (see the tables)."""
        if type(response) is Tagged:  # every command's reply: ``_apply``'s first case
            self._tagged(response)
        else:
            self._apply(response)
        return serialize(response, utf8=self.utf8)

    def send_many(self, responses: Iterable[Response]) -> bytes:
        """``send`` for a burst (a FETCH of many messages): the same rules, one join."""
        batch = list(responses)
        for response in batch:
            self._apply(response)
        return serialize_many(batch, self.utf8)

    def _apply(self, response: Response) -> None:
        if type(response) is Untagged:
            return
        if isinstance(response, Tagged):
            self._tagged(response)
        elif isinstance(response, Status):
            self._status(response)
        elif isinstance(response, Continuation):
            self._continuation()
        elif not isinstance(response, Untagged):
            raise LocalProtocolError(f"not a response: {response!r}")

    def _count(self, status: str) -> None:
        self._bad_in_a_row = self._bad_in_a_row + 1 if status == "BAD" else 0

    def _tagged(self, response: Tagged) -> None:
        command = self._in_flight
        if self._owed is not None and response.tag == self._owed:
            self._owed = None
            if self._owed_state is not None:
                self._state, self._owed_state = self._owed_state, None
        elif command is not None and response.tag == command.tag:
            self._finish(command, response.status)
        else:
            raise LocalProtocolError(f"tagged response {response.tag!r} but no such command in flight")
        self._count(response.status)

    def _finish(self, command: c.Command, status: str) -> None:
        self._in_flight = None
        self._substate = Substate.NONE
        self._framer.line_mode = False
        self._idle_over = self._auth_waiting = False
        new_state = ON_TAGGED.get((type(command), status))
        if new_state is not None and self._state is not State.LOGOUT:
            self._state = new_state
        if type(command) is c.StartTLS and status == "OK" and self._framer.unprocessed:
            self._violation = "data pipelined after STARTTLS"

    def _status(self, response: Status) -> None:
        if response.status == "BYE":
            self._state = State.LOGOUT
        elif response.status == "PREAUTH":
            if self._state is not State.NOT_AUTHENTICATED or self._in_flight is not None:
                raise LocalProtocolError("PREAUTH is a greeting")
            self._state = State.AUTHENTICATED
        elif response.status == "BAD":
            self._count("BAD")

    def _continuation(self) -> None:
        command = self._in_flight
        substate = ON_CONTINUATION.get(type(command)) if command is not None else None
        if substate is None:
            raise LocalProtocolError("continuation sent but no IDLE or AUTHENTICATE in flight")
        self._substate = substate
        self._framer.line_mode = True
        if substate is Substate.AUTHENTICATE:
            self._auth_waiting = True
