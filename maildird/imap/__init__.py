"""The sans-IO IMAP protocol core: bytes in, events out; responses in, bytes out.

This package imports nothing but the standard library (tests/test_layering.py checks it).
"""

from __future__ import annotations

from . import commands, modutf7
from .errors import Bad, Bye, ImapError, LocalProtocolError, No
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
from .grammar import ParseError, parse_command
from .raw import RawCommand
from .responses import (
    Atom,
    Code,
    Continuation,
    Literal,
    MailboxName,
    Raw,
    Response,
    Status,
    Tagged,
    Untagged,
    Value,
    serialize,
    serialize_many,
)
from .session import Limits, ServerConnection, State, Substate

__all__ = [
    "NEED_DATA",
    "Atom",
    "AuthResponse",
    "Bad",
    "Bye",
    "Code",
    "CommandReceived",
    "ConnectionClosed",
    "Continuation",
    "Event",
    "IdleDone",
    "ImapError",
    "Limits",
    "Literal",
    "LiteralRequest",
    "LocalProtocolError",
    "MailboxName",
    "NeedData",
    "No",
    "ParseError",
    "ProtocolViolation",
    "Raw",
    "RawCommand",
    "Rejected",
    "Response",
    "ServerConnection",
    "State",
    "Status",
    "Substate",
    "Tagged",
    "TooManyBadCommands",
    "Untagged",
    "Value",
    "commands",
    "modutf7",
    "parse_command",
    "serialize",
    "serialize_many",
]
