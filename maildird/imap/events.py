"""What ``ServerConnection.next_event()`` returns (h11 style: frozen values, no behaviour).

See session.py for when each is produced and what the driver must do with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, TypeAlias

from .commands import Command
from .responses import Response, Status

__all__ = [
    "NEED_DATA",
    "AuthResponse",
    "CommandReceived",
    "ConnectionClosed",
    "Event",
    "IdleDone",
    "LiteralRequest",
    "NeedData",
    "ProtocolViolation",
    "Rejected",
    "TooManyBadCommands",
]


class NeedData:
    """The type of the ``NEED_DATA`` sentinel: read more bytes and call ``receive_data``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = NeedData()


@dataclass(frozen=True, slots=True)
class CommandReceived:
    """A complete command, parsed and allowed in the current state. Answer it with a ``Tagged``."""

    command: Command


@dataclass(frozen=True, slots=True)
class LiteralRequest:
    """A synchronizing literal ``{size}`` was announced (RFC 9051 §4.3, ``~{size}`` if ``binary``,
    RFC 3516). Call ``accept_literal()`` or ``reject_literal(...)`` before the next ``next_event()``.
    ``command`` is the upper-case command name (``APPEND``, ``UID SEARCH``)."""

    tag: str
    size: int
    binary: bool
    command: str


@dataclass(frozen=True, slots=True)
class Rejected:
    """The core refused input; send ``response`` (a tagged BAD/NO, or ``* BAD`` without a tag)."""

    response: Response


@dataclass(frozen=True, slots=True)
class AuthResponse:
    """The client's line during AUTHENTICATE, base64-decoded (RFC 9051 §6.2.2); None for ``*``."""

    data: bytes | None


@dataclass(frozen=True, slots=True)
class IdleDone:
    """The client sent DONE while idling (RFC 2177 §3); answer the IDLE with its tagged OK."""


@dataclass(frozen=True, slots=True)
class TooManyBadCommands:
    """Too many BAD responses in a row: send ``response`` (a ``* BYE``) and close."""

    response: Status


@dataclass(frozen=True, slots=True)
class ProtocolViolation:
    """The connection cannot go on safely (e.g. bytes pipelined after STARTTLS): close it without
    executing anything further."""

    reason: str


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """End of input, or the session is over (LOGOUT, BYE, a violation); returned forever after."""


Event: TypeAlias = (
    CommandReceived
    | LiteralRequest
    | Rejected
    | AuthResponse
    | IdleDone
    | TooManyBadCommands
    | ProtocolViolation
    | ConnectionClosed
)
