"""Typed protocol errors and the response codes they carry (RFC 9051 §7.1, RFC 5530).

Handlers raise ``No``/``Bad``/``Bye``; the one place that maps exceptions to responses calls
``to_response(tag)``. ``LocalProtocolError`` is different: it means *our* code misused the sans-IO
API (h11's name), e.g. sending a tagged reply for a command that is not in flight.
"""

from __future__ import annotations

from typing import ClassVar
from typing import Literal as TypingLiteral

from .responses import Code, Status, Tagged

__all__ = [
    "ALERT",
    "ALREADYEXISTS",
    "AUTHENTICATIONFAILED",
    "AUTHORIZATIONFAILED",
    "CANNOT",
    "CLIENTBUG",
    "CLOSED",
    "CONTACTADMIN",
    "CORRUPTION",
    "EXPIRED",
    "EXPUNGEISSUED",
    "INUSE",
    "LIMIT",
    "MODIFIED",
    "NONEXISTENT",
    "NOPERM",
    "OVERQUOTA",
    "PARSE",
    "PRIVACYREQUIRED",
    "SERVERBUG",
    "TOOBIG",
    "TRYCREATE",
    "UNAVAILABLE",
    "UNKNOWN_CTE",
    "Bad",
    "Bye",
    "ImapError",
    "LocalProtocolError",
    "No",
]

# RFC 5530 §3
UNAVAILABLE = "UNAVAILABLE"
AUTHENTICATIONFAILED = "AUTHENTICATIONFAILED"
AUTHORIZATIONFAILED = "AUTHORIZATIONFAILED"
EXPIRED = "EXPIRED"
PRIVACYREQUIRED = "PRIVACYREQUIRED"
CONTACTADMIN = "CONTACTADMIN"
NOPERM = "NOPERM"
INUSE = "INUSE"
EXPUNGEISSUED = "EXPUNGEISSUED"
CORRUPTION = "CORRUPTION"
SERVERBUG = "SERVERBUG"
CLIENTBUG = "CLIENTBUG"
CANNOT = "CANNOT"
LIMIT = "LIMIT"
OVERQUOTA = "OVERQUOTA"
ALREADYEXISTS = "ALREADYEXISTS"
NONEXISTENT = "NONEXISTENT"
# RFC 9051 §7.1
PARSE = "PARSE"
ALERT = "ALERT"
TRYCREATE = "TRYCREATE"
CLOSED = "CLOSED"  # RFC 7162 §3.2.11 / RFC 9051 §7.1
# RFC 7889 §4 (APPENDLIMIT) and RFC 4469 use TOOBIG.
TOOBIG = "TOOBIG"
# RFC 3516 §4.3
UNKNOWN_CTE = "UNKNOWN-CTE"
# RFC 7162 §3.1.3 (conditional STORE); carries a sequence set
MODIFIED = "MODIFIED"


class LocalProtocolError(Exception):
    """Our own code used the sans-IO core wrongly (a bug, never the client's doing)."""


def _code(code: Code | str | None) -> Code | None:
    return Code(code) if isinstance(code, str) else code


class ImapError(Exception):
    """Base of the errors that become a response. ``code`` may be a name or a ``Code``."""

    status: ClassVar[TypingLiteral["OK", "NO", "BAD", "BYE"]] = "NO"

    def __init__(self, text: str, code: Code | str | None = None) -> None:
        super().__init__(text)
        self.text = text
        self.code: Code | None = _code(code)

    def to_response(self, tag: str) -> Tagged | Status:
        raise NotImplementedError  # pragma: no cover - subclasses define it


class No(ImapError):
    """A tagged NO: the command was understood but failed (RFC 9051 §7.1.2)."""

    status = "NO"

    def to_response(self, tag: str) -> Tagged:
        return Tagged(tag, "NO", self.text, self.code)


class Bad(ImapError):
    """A tagged BAD: the command was wrong (RFC 9051 §7.1.3)."""

    status = "BAD"

    def to_response(self, tag: str) -> Tagged:
        return Tagged(tag, "BAD", self.text, self.code)


class Bye(ImapError):
    """The server closes the connection: ``* BYE`` (RFC 9051 §7.1.5); the tag is not used."""

    status = "BYE"

    def to_response(self, tag: str) -> Status:
        return Status("BYE", self.text, self.code)
