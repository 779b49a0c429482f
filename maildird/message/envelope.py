"""FETCH ENVELOPE (RFC 9051 §7.5.2) and the Date header as a date (for SENT* searches).

Strings are the raw header values, unfolded, with RFC 2047 encoded words left encoded (as Dovecot sends
them; clients decode). ASCII values are ``str``; values with 8-bit octets stay ``bytes`` so the serializer
sends them as literals.

The grammar writes the addresses of a list with no space between them (``env-from = "(" 1*address ")"``),
which a tuple cannot say, so each address list is a ``maildird.imap.responses.Raw`` holding the
pre-serialised ``((...)(...))``; ``address_lists`` gives the same data as plain tuples.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime

from maildird.imap.responses import Raw, Value, serialize_value
from maildird.message.fields import Address, parse_addresses
from maildird.message.parse import ParsedMessage, Part

EnvelopeValue = str | bytes | None
AddressValue = tuple[EnvelopeValue, EnvelopeValue, EnvelopeValue, EnvelopeValue]

ADDRESS_HEADERS = ("From", "Sender", "Reply-To", "To", "Cc", "Bcc")
"""The ENVELOPE's address fields in order (RFC 9051 §7.5.2)."""

_FOLD_AND_BLANKS = re.compile(rb"\r\n[ \t]+")

ADDRESS_OCTETS_PER_ENTITY = 48
"""Octets of address fields that cost about as much to turn into ENVELOPE addresses as one MIME entity
costs the BODYSTRUCTURE walk (measured side by side: a 33-octet address ~0.7 of a part), so one budget
(``STRUCTURE_IN_THREAD`` in bodystructure.py) covers both."""


class StructureTooLarge(Exception):
    """``envelope``/``bodystructure`` met more work than their ``limit``: build the value in a worker
    thread instead. What was parsed so far stays cached in the message, so the retry picks up from there."""


def envelope_cost(part: Part) -> int:
    """The ENVELOPE of ``part``'s header in MIME-entity units: 1 plus its address fields' octets over
    ``ADDRESS_OCTETS_PER_ENTITY`` (20,000 addresses in a To: field took ~2 s before; nothing else in an
    envelope grows with the message)."""
    octets = 0
    for name in ADDRESS_HEADERS:
        value = part.header_value(name)
        if value is not None:
            octets += len(value)
    return 1 + octets // ADDRESS_OCTETS_PER_ENTITY


def text_value(raw: bytes | None) -> str | bytes | None:
    """``str`` when ``raw`` is ASCII, else the octets themselves (sent as a literal)."""
    if raw is None:
        return None
    return raw.decode("ascii") if raw.isascii() else raw


def _address(a: Address) -> AddressValue:
    return (text_value(a.name), text_value(a.adl), text_value(a.mailbox), text_value(a.host))


def _addresses(part: Part, name: str) -> tuple[AddressValue, ...] | None:
    value = part.header_value(name)
    if value is None:
        return None
    found = parse_addresses(value)
    return tuple(_address(a) for a in found) if found else None


def address_lists(part: Part) -> dict[str, tuple[AddressValue, ...] | None]:
    """From, Sender, Reply-To, To, Cc, Bcc as address tuples; Sender and Reply-To default to From
    (RFC 9051 §7.5.2)."""
    out = {name: _addresses(part, name) for name in ADDRESS_HEADERS}
    out["Sender"] = out["Sender"] or out["From"]
    out["Reply-To"] = out["Reply-To"] or out["From"]
    return out


def _wire_list(addresses: tuple[AddressValue, ...] | None) -> Value:
    if addresses is None:
        return None
    return Raw(b"(" + b"".join(serialize_value(a) for a in addresses) + b")")


def subject_value(part: Part) -> bytes | None:
    """The Subject, unfolded; folds with their indentation become one space, as Dovecot sends it."""
    field = part.header("Subject")
    if field is None:
        return None
    return _FOLD_AND_BLANKS.sub(b" ", field.value).replace(b"\r\n", b"").strip(b" \t")


def envelope_of(part: Part) -> Value:
    """The ENVELOPE of the message whose header is ``part``'s (top-level or encapsulated)."""
    lists = address_lists(part)
    return (
        text_value(part.header_value("Date")),
        text_value(subject_value(part)),
        *(_wire_list(lists[name]) for name in ADDRESS_HEADERS),
        text_value(part.header_value("In-Reply-To")),
        text_value(part.header_value("Message-ID")),
    )


def envelope(msg: ParsedMessage, *, limit: int | None = None) -> Value:
    """FETCH ENVELOPE of the message (RFC 9051 §7.5.2). With ``limit``, raises StructureTooLarge
    instead when ``envelope_cost`` exceeds it (see ``bodystructure``: walk on the event loop, retry the
    rare huge one in a worker thread)."""
    if limit is not None and envelope_cost(msg.root) > limit:
        raise StructureTooLarge("address fields too large for the event loop")
    return envelope_of(msg.root)


def header_datetime(msg: ParsedMessage) -> datetime | None:
    """The Date header as an aware datetime in its own zone (RFC 5322 §3.3), or None when absent or
    unparsable. A ``-0000`` zone (unknown local time) is read as UTC."""
    raw = msg.root.header_value("Date")
    if raw is None:
        return None
    try:
        when = parsedate_to_datetime(raw.decode("ascii", "replace"))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when


def header_date(msg: ParsedMessage) -> date | None:
    """The Date header's calendar date in the header's own time zone (RFC 9051 §6.4.4 SENT*)."""
    when = header_datetime(msg)
    return None if when is None else when.date()
