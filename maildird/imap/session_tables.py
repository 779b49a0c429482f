"""The session's state tables (RFC 9051 §3, §9): which commands each state accepts and where a
command's reply leads. ``imap.session.ServerConnection`` applies them and re-exports every name here;
kept apart so that module stays the state machine.
"""

from __future__ import annotations

import enum

from . import commands as c

__all__ = ["ALLOWED", "APPEND_STATES", "ON_CONTINUATION", "ON_REFUSED", "ON_TAGGED", "State", "Substate"]


class State(enum.Enum):
    """RFC 9051 §3. Hashed by identity (members are singletons): ``Enum.__hash__`` is a Python
    call, and every command looks its state up in ``ALLOWED`` and ``APPEND_STATES``."""

    __hash__ = object.__hash__
    NOT_AUTHENTICATED = "not authenticated"
    AUTHENTICATED = "authenticated"
    SELECTED = "selected"
    LOGOUT = "logout"


class Substate(enum.Enum):
    __hash__ = object.__hash__  # as State's
    NONE = "none"
    IDLE = "idle"
    AUTHENTICATE = "authenticate"


# -- the tables --------------------------------------------------------------------------------------

_ANY = frozenset({c.Capability, c.Noop, c.Logout, c.Id})
# COMPRESS is ``command-auth`` (RFC 4978 §5), not ``command-any``: before login it would let an
# unauthenticated client wrap the session (and STARTTLS) in DEFLATE.
_AUTH = _ANY | {c.Enable, c.Extension, c.Compress} | frozenset(c.AUTHENTICATED)

ALLOWED: dict[State, frozenset[type[c.Command]]] = {
    State.NOT_AUTHENTICATED: _ANY | frozenset(c.NOT_AUTHENTICATED),
    State.AUTHENTICATED: _AUTH,
    State.SELECTED: _AUTH | frozenset(c.SELECTED),
    State.LOGOUT: frozenset(),
}
"""Commands accepted in each state. ENABLE needs authentication (RFC 5161 §3.1), so does COMPRESS
(RFC 4978 §5); plug-in ``Extension`` commands run only once authenticated."""

APPEND_STATES = frozenset(state for state, allowed in ALLOWED.items() if c.Append in allowed)
"""States in which the framer grants a command named APPEND the APPENDLIMIT budget."""

ON_TAGGED: dict[tuple[type[c.Command], str], State] = {
    (c.Login, "OK"): State.AUTHENTICATED,
    (c.Authenticate, "OK"): State.AUTHENTICATED,
    (c.Select, "OK"): State.SELECTED,  # and EXAMINE
    (c.Select, "NO"): State.AUTHENTICATED,  # a failed SELECT deselects (RFC 9051 §6.3.2)
    (c.Select, "BAD"): State.AUTHENTICATED,
    (c.Close, "OK"): State.AUTHENTICATED,
    (c.Unselect, "OK"): State.AUTHENTICATED,
    (c.Logout, "OK"): State.LOGOUT,
}
"""(command in flight, status of its tagged response) -> the state ``send`` moves to. Besides:
any ``* BYE`` -> LOGOUT, and a ``* PREAUTH`` greeting -> AUTHENTICATED."""

ON_CONTINUATION: dict[type[c.Command], Substate] = {
    c.Idle: Substate.IDLE,
    c.Authenticate: Substate.AUTHENTICATE,
}
"""Command in flight -> the substate a ``Continuation`` sent for it enters (until its tagged reply)."""

ON_REFUSED: dict[tuple[State, str], State] = {
    (State.SELECTED, "SELECT"): State.AUTHENTICATED,
    (State.SELECTED, "EXAMINE"): State.AUTHENTICATED,
}
"""(state, name of a command the grammar refused) -> the state its tagged BAD moves to. A SELECT
deselects before it even looks at its arguments (RFC 9051 §6.3.2), so one the grammar refuses leaves
nothing selected either, as in Dovecot; ``ServerConnection.deselect_owed`` tells the driver to close
the mailbox and send ``* OK [CLOSED]`` first."""
