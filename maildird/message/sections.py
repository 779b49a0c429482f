"""BODY[section], BINARY[part] and partial fetches (RFC 9051 §6.4.5, RFC 3516 §4.2).

Part numbering (RFC 9051 §6.4.5): the parts of a multipart are numbered from 1; a message that is not
multipart has exactly one part, 1, its body. A message/rfc822 part's sub-parts are those of the
encapsulated message, and ``HEADER``/``TEXT``/``HEADER.FIELDS`` after its number address the encapsulated
message's header and body. ``MIME`` is the part's own MIME header. A part that does not exist gives
``b""`` (the handler sends an empty string, never an error).
"""

from __future__ import annotations

import re

from maildird.imap.commands import FetchAtt, FetchBinary, FetchBody, Section
from maildird.message.decode import decode_transfer
from maildird.message.header_fields import selector
from maildird.message.parse import ParsedMessage, Part

_CRLF = b"\r\n"


def find_part(msg: ParsedMessage, path: tuple[int, ...]) -> Part | None:
    """The part numbered ``path`` (non-empty), or None when there is no such part.

    A message (or a message/rfc822 part's message) that is not multipart has one part, 1: its body. A leaf
    part inside a multipart may also be addressed once more as ``.1`` (``1.1`` is part 1 itself), as
    Dovecot does; deeper numbers under a leaf do not exist.
    """
    node = msg.root
    as_message = True  # ``node`` is being looked into as a message (root or encapsulated)
    self_indexed = False  # ``node`` was already reached as "part 1 of itself"
    for number in path:
        if number < 1:
            return None
        if not as_message and node.is_message:
            inner = node.message
            if inner is None:
                return None
            node, self_indexed = inner, False
        elif not as_message and not node.is_multipart:
            if number != 1 or self_indexed:
                return None
            self_indexed = True
            continue
        if node.is_multipart:
            kids = node.children
            if number > len(kids):
                return None
            node, self_indexed = kids[number - 1], False
        elif number != 1:
            return None
        else:
            self_indexed = True
        as_message = False
    return node


def _fields(part: Part, names: tuple[str, ...], exclude: bool) -> bytes:
    """HEADER.FIELDS / HEADER.FIELDS.NOT: the matching fields in message order, folding kept, then the
    blank line (RFC 9051 §6.4.5: "the subset of the header ... including the blank line"). The compiled
    selector of ``header_fields`` picks exactly the fields ``Part.fields`` would list."""
    return selector(names, exclude).select(part.buf[part.start : part.header_end])


def _message_text(part: Part, section: Section) -> bytes:
    text = section.text
    if text == "HEADER":
        return part.header_bytes
    if text == "HEADER.FIELDS":
        return _fields(part, section.fields, exclude=False)
    if text == "HEADER.FIELDS.NOT":
        return _fields(part, section.fields, exclude=True)
    if text == "TEXT":
        return part.body
    return b""


def body_section(msg: ParsedMessage, section: Section) -> bytes:
    """The octets of ``BODY[section]`` in CRLF form (RFC 9051 §6.4.5); ``b""`` for a missing part.

    NUL octets become 0x80, as Dovecot sends them: a (non-binary) literal must not contain NUL (RFC 9051
    §4.3), and a one-for-one replacement keeps every size and offset. ``BINARY`` keeps them (it is sent
    as a ``literal8``).
    """
    data = _body_section(msg, section)
    if b"\0" in data:
        data = data.replace(b"\0", NUL_REPLACEMENT)
    return data


NUL_REPLACEMENT = b"\x80"
"""What a NUL octet is sent as outside BINARY (Dovecot does the same)."""


def needs_literal8(data: bytes) -> bool:
    """True when BINARY data must travel as ``~{n}`` (RFC 3516 §4.3: it contains NUL)."""
    return b"\0" in data


def _body_section(msg: ParsedMessage, section: Section) -> bytes:
    if not section.part:
        if section.text is None:
            return msg.data
        return _message_text(msg.root, section)
    part = find_part(msg, section.part)
    if part is None:
        return b""
    if section.text is None:
        return part.body
    if section.text == "MIME":
        return part.header_bytes
    # HEADER / TEXT / HEADER.FIELDS after a part number: only for an encapsulated message.
    if not part.is_message:
        return b""
    inner = part.message
    return b"" if inner is None else _message_text(inner, section)


def binary_section(msg: ParsedMessage, part: tuple[int, ...]) -> bytes:
    """``BINARY[part]`` (RFC 3516 §4.2): the part's body with its Content-Transfer-Encoding undone.

    ``BINARY[]`` is the whole message as is. Multipart and message parts have no encoding of their own
    (RFC 2045 §6.4) and are returned unchanged. Raises ``UnknownTransferEncoding`` for an encoding we
    cannot undo (the handler answers ``NO [UNKNOWN-CTE]``, RFC 3516 §4.3).
    """
    if not part:
        return msg.data
    node = find_part(msg, part)
    if node is None:
        return b""
    if node.is_multipart or node.is_message:
        return node.body
    cte = node.header_value("Content-Transfer-Encoding")
    return decode_transfer(node.body, cte)


def binary_size(msg: ParsedMessage, part: tuple[int, ...]) -> int:
    """``BINARY.SIZE[part]`` (RFC 3516 §4.2): the decoded length."""
    return len(binary_section(msg, part))


def apply_partial(data: bytes, origin: int, count: int) -> bytes:
    """``<origin.count>`` (RFC 9051 §6.4.5): at most ``count`` octets from ``origin``; empty when the origin
    is beyond the end. The response names only the origin (RFC 3501 §7.4.2), which is the handler's job."""
    if origin >= len(data) or count <= 0:
        return b""
    return data[origin : origin + count]


def section_spec(section: Section) -> bytes:
    """The section as the response names it: ``1.2.HEADER.FIELDS (SUBJECT FROM)`` (RFC 9051 §7.5.2)."""
    parts = [b"%d" % n for n in section.part]
    if section.text is not None:
        parts.append(section.text.encode("ascii"))
    spec = b".".join(parts)
    if section.text in ("HEADER.FIELDS", "HEADER.FIELDS.NOT"):
        spec += b" (" + b" ".join(_astring(f) for f in section.fields) + b")"
    return spec


# ATOM-CHAR (RFC 9051 §9): any CHAR except atom-specials: ( ) { SP CTL % * DQUOTE \ ]
_ATOM = re.compile(rb"[!#$&'+-\[^-z|}~]+")


def _astring(name: str) -> bytes:
    """A header field name as an astring: bare when it is an atom, else quoted with escapes."""
    data = name.encode("ascii", "replace")
    if _ATOM.fullmatch(data):
        return data
    return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def response_label(item: FetchBody | FetchBinary) -> bytes:
    """The FETCH response item name: ``BODY[1.2]<0>``, ``BINARY[1]``, ``BINARY.SIZE[2]``.

    PEEK never appears in the response, and a partial fetch names only its origin (RFC 3501 §7.4.2,
    RFC 9051 §7.5.2: ``BODY[section]<origin>``); the seed echoed ``<origin.count>`` (its bug 4).
    """
    if isinstance(item, FetchBinary):
        name = b"BINARY.SIZE" if item.size else b"BINARY"
        label = name + b"[" + b".".join(b"%d" % n for n in item.part) + b"]"
    else:
        label = b"BODY[" + section_spec(item.section) + b"]"
    if item.partial is not None and not (isinstance(item, FetchBinary) and item.size):
        label += b"<%d>" % item.partial[0]
    return label


SEEN_SETTING_ATTS = frozenset({"RFC822", "RFC822.TEXT"})
"""Simple FETCH items that set \\Seen (RFC 9051 §6.4.5 RFC822/RFC822.TEXT are BODY[]/BODY[TEXT] without
PEEK; RFC822.HEADER is BODY.PEEK[HEADER])."""


def sets_seen(item: FetchAtt | FetchBody | FetchBinary, *, readonly: bool) -> bool:
    """Whether fetching ``item`` sets \\Seen (RFC 9051 §6.4.5): BODY[...] and BINARY[...] without PEEK,
    RFC822 and RFC822.TEXT; never in a mailbox selected with EXAMINE (§6.3.3). The seed got both wrong
    (its bug 6)."""
    if readonly:
        return False
    if isinstance(item, FetchAtt):
        return item.name.upper() in SEEN_SETTING_ATTS
    if isinstance(item, FetchBinary):
        return not item.peek and not item.size
    return not item.peek
