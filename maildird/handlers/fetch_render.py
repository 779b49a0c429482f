"""Rendering one message's FETCH data in the general path (RFC 9051 §6.4.5, §7.5.2; RFC 3516).

``render`` turns the items asked for into response values for one message; ENVELOPE, BODY and
BODYSTRUCTURE are built under ``STRUCTURE_IN_THREAD`` units of work and ``StructureTooLarge`` tells the
caller to build them in a worker thread with ``structures`` (thousands of MIME parts or addresses would
hold the event loop for a second), then render again with them. Section data is charged against a
budget of twice the message plus ``SECTION_BUDGET_SLACK`` (``BAD [LIMIT]`` past it). The message-list
fast path (snapshot and top-level header items) is ``fetch_lines``; ENVELOPE/BODY/BODYSTRUCTURE beside
snapshot items only come from the store's structure cache (``fetch_structs``, which holds this module's
values to the same octets).
"""

from __future__ import annotations

from collections.abc import Mapping

from maildird.handlers.context import Context, Selected
from maildird.handlers.fetch_lines import SECTION_BUDGET_FACTOR, SECTION_BUDGET_SLACK, section_label
from maildird.handlers.updates import internaldate, message_flags
from maildird.imap import commands as cmd
from maildird.imap.errors import UNKNOWN_CTE, Bad, No
from maildird.imap.responses import Atom, Literal, Raw, Value
from maildird.message import (
    ParsedMessage,
    UnknownTransferEncoding,
    apply_partial,
    binary_section,
    binary_size,
    body_section,
)
from maildird.message.bodystructure import STRUCTURE_IN_THREAD, bodystructure
from maildird.message.envelope import envelope
from maildird.store.base import MessageInfo

_WHOLE, _HEADER, _TEXT = cmd.Section(), cmd.Section(text="HEADER"), cmd.Section(text="TEXT")


def _partial(data: bytes, partial: tuple[int, int] | None) -> tuple[bytes, bytes]:
    """The data and the ``<origin>`` label: only the origin, never ``<origin.count>`` (RFC 3501
    §7.4.2; the seed's bug, peers.md §1.7 item 4)."""
    if partial is None:
        return data, b""
    origin, count = partial
    return apply_partial(data, origin, count), b"<%d>" % origin


_STRUCTURE_ATTS = ("ENVELOPE", "BODY", "BODYSTRUCTURE")


def structures(msg: ParsedMessage, items: tuple[cmd.FetchItem, ...]) -> dict[str, Value]:
    """ENVELOPE/BODY/BODYSTRUCTURE asked for in ``items``, without limits: run in a worker thread for the
    message whose structure ``_render`` gave up on (thousands of parts or addresses)."""
    out: dict[str, Value] = {}
    for item in items:
        if isinstance(item, cmd.FetchAtt) and item.name in _STRUCTURE_ATTS:
            name = item.name
            out[name] = envelope(msg) if name == "ENVELOPE" else bodystructure(msg, extensible=name != "BODY")
    return out


def render(
    ctx: Context,
    sel: Selected,
    info: MessageInfo,
    msg: ParsedMessage | None,
    items: tuple[cmd.FetchItem, ...],
    *,
    uid_first: bool,
    add_flags: bool,
    add_modseq: bool,
    header: bool = False,
    structures: Mapping[str, Value] | None = None,
) -> list[Value]:
    """One message's FETCH data. ENVELOPE/BODY/BODYSTRUCTURE come from ``structures`` when given, else
    are built here under ``STRUCTURE_IN_THREAD`` (StructureTooLarge: the caller builds them in a thread)."""
    out: list[Value] = []
    if uid_first:
        out += [Atom("UID"), info.uid]
    budget = [SECTION_BUDGET_FACTOR * (len(msg.data) if msg is not None else 0) + SECTION_BUDGET_SLACK]

    def spend(data: bytes) -> bytes:
        budget[0] -= len(data)
        if budget[0] < 0:
            raise Bad(
                "FETCH asks for more message data than twice the message; ask in fewer pieces.", "LIMIT"
            )
        return data

    for item in items:
        if isinstance(item, cmd.FetchAtt):
            name = item.name
            if name == "UID":
                continue
            if name == "FLAGS":
                out += [Atom("FLAGS"), message_flags(ctx, sel, info)]
            elif name == "INTERNALDATE":
                out += [Atom("INTERNALDATE"), internaldate(info.internaldate)]
            elif name == "RFC822.SIZE":
                out += [Atom("RFC822.SIZE"), msg.size if msg is not None and not header else info.size]
            elif name == "MODSEQ":
                out += [Atom("MODSEQ"), (info.modseq,)]
            elif msg is None:
                continue
            elif structures is not None and name in structures:
                out += [Atom(name), structures[name]]
            elif name == "ENVELOPE":
                out += [Atom("ENVELOPE"), envelope(msg, limit=STRUCTURE_IN_THREAD)]
            elif name == "BODYSTRUCTURE":
                out += [Atom("BODYSTRUCTURE"), bodystructure(msg, extensible=True, limit=STRUCTURE_IN_THREAD)]
            elif name == "BODY":
                out += [Atom("BODY"), bodystructure(msg, extensible=False, limit=STRUCTURE_IN_THREAD)]
            # RFC822, RFC822.HEADER and RFC822.TEXT are BODY[], BODY.PEEK[HEADER] and BODY[TEXT]
            # under other names (RFC 3501 §6.4.5), NUL -> 0x80 included (RFC 9051 §9: CHAR8).
            elif name == "RFC822":
                out += [Atom("RFC822"), Literal(spend(body_section(msg, _WHOLE)))]
            elif name == "RFC822.HEADER":
                out += [Atom("RFC822.HEADER"), Literal(spend(body_section(msg, _HEADER)))]
            elif name == "RFC822.TEXT":
                out += [Atom("RFC822.TEXT"), Literal(spend(body_section(msg, _TEXT)))]
            else:
                # SAVEDATE, EMAILID, THREADID: not advertised; NIL is what RFC 8514 allows.
                out += [Atom(name), None]
        elif msg is None:
            continue
        elif isinstance(item, cmd.FetchBody):
            data, origin = _partial(body_section(msg, item.section), item.partial)
            out += [Raw(b"BODY[" + section_label(item.section) + b"]" + origin), Literal(spend(data))]
        else:
            part = ".".join(str(n) for n in item.part).encode("ascii")
            try:
                if item.size:
                    out += [Raw(b"BINARY.SIZE[" + part + b"]"), binary_size(msg, item.part)]
                    continue
                data, origin = _partial(binary_section(msg, item.part), item.partial)
            except UnknownTransferEncoding as exc:
                raise No(f"Unknown Content-Transfer-Encoding: {exc}", UNKNOWN_CTE) from exc
            out += [Raw(b"BINARY[" + part + b"]" + origin), Literal(spend(data), binary=b"\0" in data)]
    if add_flags and not any(isinstance(i, cmd.FetchAtt) and i.name == "FLAGS" for i in items):
        out += [Atom("FLAGS"), message_flags(ctx, sel, info)]
    if add_modseq and not any(isinstance(i, cmd.FetchAtt) and i.name == "MODSEQ" for i in items):
        out += [Atom("MODSEQ"), (info.modseq,)]
    return out
