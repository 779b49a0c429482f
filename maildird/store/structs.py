"""Serialized FETCH structures a store may keep per message: ENVELOPE, BODY and BODYSTRUCTURE
(RFC 9051 §7.5.2), what Dovecot answers from ``dovecot.index.cache`` instead of parsing the file.

The store treats them as opaque octets: the protocol layer computes them
(``handlers.fetch_structs``) and hands them over, the store keeps and returns them. A message file
never changes its content, so a row stays right for ``(mailbox incarnation, UID)`` for ever.

Each value is kept in its wire form without UTF8=ACCEPT (RFC 6855) and, only where it differs, in its
form with UTF8=ACCEPT: ``responses.serialize`` sends a non-ASCII ``str`` quoted in UTF-8 mode and as
a literal otherwise (a parameter name with 8-bit octets reaches BODYSTRUCTURE as such a ``str``);
``bytes`` and ASCII strings give the same octets in both modes.

A store that keeps no such cache simply lacks ``Mailbox.structures`` (the caller checks with
``getattr``), so other stores and test doubles need nothing new.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal, NamedTuple, Protocol

StructName = Literal["ENVELOPE", "BODY", "BODYSTRUCTURE"]
STRUCT_NAMES: tuple[StructName, ...] = ("ENVELOPE", "BODY", "BODYSTRUCTURE")


class StructRow(NamedTuple):
    """One message's cached values. ``envelope`` alone is set when only the header was parsed;
    ``size`` (the parsed message's CRLF length, RFC822.SIZE as the uncached path reports it next to
    BODY/BODYSTRUCTURE), ``body`` and ``bodystructure`` are set together from a full parse. The
    ``*8`` fields hold the UTF8=ACCEPT form when it differs from the plain one, else None.

    A named tuple rather than a frozen dataclass: a whole-folder FETCH builds 10,000 of them from
    SQLite rows, and a frozen dataclass's ``__init__`` (one ``object.__setattr__`` per field) cost
    more than the query itself."""

    envelope: bytes
    size: int | None = None
    body: bytes | None = None
    bodystructure: bytes | None = None
    envelope8: bytes | None = None
    body8: bytes | None = None
    bodystructure8: bytes | None = None

    @property
    def full(self) -> bool:
        """Computed from the whole message: every value is here."""
        return self.size is not None and self.body is not None and self.bodystructure is not None

    def value(self, name: StructName, utf8: bool) -> bytes | None:
        """The wire form of ``name`` for the session's mode, or None when not computed."""
        if name == "ENVELOPE":
            return (self.envelope8 or self.envelope) if utf8 else self.envelope
        if name == "BODY":
            return (self.body8 or self.body) if utf8 else self.body
        return (self.bodystructure8 or self.bodystructure) if utf8 else self.bodystructure

    def octets(self) -> int:
        """The octets the row's values hold (for byte-bounded caches and size limits)."""
        return sum(len(v) for v in self if type(v) is bytes)


class StructCache(Protocol):
    """One mailbox's cache of ``StructRow`` values, as ``Mailbox.structures()`` returns it."""

    async def get(self, uids: Sequence[int]) -> dict[int, StructRow]:
        """The rows kept for ``uids`` (those with none are left out). Never raises for a damaged
        or unusable cache: it then answers as if empty."""
        ...

    def put_blocking(self, rows: Mapping[int, StructRow]) -> None:
        """Keep ``rows`` (worker thread only: it may write a file). Never raises."""
        ...

    def remember(self, rows: Mapping[int, StructRow]) -> None:
        """Offer rows just computed to the memory layer (Trio thread only)."""
        ...
