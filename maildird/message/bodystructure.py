"""FETCH BODY and BODYSTRUCTURE (RFC 9051 §7.5.2 body, body-type-1part, body-type-mpart, body-ext-*).

Values are nested tuples of ``str | bytes | int | None``, except one thing the grammar forces: the parts of
a multipart are written with no space between them (``1*body SP media-subtype``), which a tuple cannot
say, so a multipart is ``(Raw(b"(part1)(part2)"), "mixed", ...)``: the children pre-serialised into a
``maildird.imap.responses.Raw``. That keeps the wire form exact (``((...)(...) "mixed" ...)``), as every
server sends it and as clients' parsers expect.

Field choices follow Dovecot (checked against dovecot-imapd 2.3 in PREAUTH mode): names, types and encodings
keep the case they were written in; a text part without a charset gets ``("charset" "us-ascii")`` appended
to its parameters; a missing transfer encoding is ``"7bit"``; a part with no parameters has NIL.
"""

from __future__ import annotations

from maildird.imap.responses import Raw, Value, serialize_value
from maildird.message.envelope import StructureTooLarge, envelope_cost, envelope_of, text_value
from maildird.message.fields import parse_disposition, parse_language
from maildird.message.parse import ParsedMessage, Part

__all__ = ["DEFAULT_ENCODING", "STRUCTURE_IN_THREAD", "StructureTooLarge", "bodystructure"]

DEFAULT_ENCODING = "7bit"
"""RFC 2045 §6.1: no Content-Transfer-Encoding means 7bit."""

STRUCTURE_IN_THREAD = 256
"""MIME entities after which ``bodystructure(..., limit=STRUCTURE_IN_THREAD)`` (and ``envelope``, in the
same units) gives up so the caller can build the value in a worker thread. Parsing is lazy
(``maildird.message.parse``), so the walk is where each part's header and parameters get parsed: ~70 µs
per part on a quiet machine, so 10,000 parts (``MAX_MIME_PARTS``) held the event loop ~0.7 s; 256 parts
cost under 20 ms, and a thread hop ~0.1 ms."""


class _Walk:
    """One walk's settings and what is left of its budget in entity units (None: no limit)."""

    __slots__ = ("extensible", "left")

    def __init__(self, extensible: bool, limit: int | None) -> None:
        self.extensible = extensible
        self.left = limit

    def visit(self, cost: int = 1) -> None:
        if self.left is not None:
            self.left -= cost
            if self.left < 0:
                raise StructureTooLarge("too many MIME entities for the event loop")


def _params(params: tuple[tuple[str, bytes], ...]) -> tuple[str | bytes | None, ...] | None:
    """body-fld-param: ``(name value name value ...)`` or NIL."""
    if not params:
        return None
    out: list[str | bytes | None] = []
    for name, value in params:
        out.append(name)
        out.append(text_value(value))
    return tuple(out)


def _type_params(part: Part) -> tuple[str | bytes | None, ...] | None:
    ct = part.content_type
    params = ct.params
    if ct.maintype == "text" and ct.param("charset") is None:
        params = (*params, ("charset", b"us-ascii"))
    return _params(params)


def _extension(part: Part) -> tuple[Value, ...]:
    """body-fld-dsp, body-fld-lang, body-fld-loc (shared by single parts and multiparts)."""
    dsp_value = part.header_value("Content-Disposition")
    dsp = parse_disposition(dsp_value) if dsp_value else None
    disposition: Value = None if dsp is None else (text_value(dsp[0]), _params(dsp[1]))
    lang_value = part.header_value("Content-Language")
    langs = parse_language(lang_value) if lang_value else ()
    language: Value = tuple(text_value(t) for t in langs) if langs else None
    return (disposition, language, text_value(part.header_value("Content-Location")))


def _part(part: Part, walk: _Walk) -> Value:
    walk.visit()
    extensible = walk.extensible
    if part.is_multipart:
        children = b"".join(serialize_value(_part(child, walk)) for child in part.children)
        head: tuple[Value, ...] = (Raw(children), part.content_type.sub)
        if not extensible:
            return head
        return (*head, _params(part.content_type.params), *_extension(part))
    ct = part.content_type
    cte = part.header_value("Content-Transfer-Encoding")
    fields: tuple[Value, ...] = (
        ct.type,
        ct.sub,
        _type_params(part),
        text_value(part.header_value("Content-ID")),
        text_value(part.header_value("Content-Description")),
        text_value(cte) if cte else DEFAULT_ENCODING,
        part.body_size,
    )
    inner = part.message if part.is_message else None
    if inner is not None:
        walk.visit(envelope_cost(inner))
        fields = (*fields, envelope_of(inner), _part(inner, walk), part.body_lines)
    elif ct.maintype == "text":
        fields = (*fields, part.body_lines)
    if not extensible:
        return fields
    return (*fields, text_value(part.header_value("Content-MD5")), *_extension(part))


def bodystructure(msg: ParsedMessage, *, extensible: bool = True, limit: int | None = None) -> Value:
    """FETCH BODYSTRUCTURE (``extensible``) or BODY (RFC 9051 §7.5.2).

    With ``limit``, raises StructureTooLarge once the walk has cost more than ``limit`` units: one per
    MIME entity (the root, multipart children, encapsulated messages) plus each encapsulated message's
    ``envelope_cost``, so an async caller can walk on the event
    loop and retry without a limit in a worker thread only for the rare message with thousands of parts:
    ``try: v = bodystructure(m, limit=STRUCTURE_IN_THREAD) except StructureTooLarge: v = await
    trio.to_thread.run_sync(partial(bodystructure, m))``. Without one it always answers (the parser
    stops splitting at ``MAX_MIME_PARTS``)."""
    return _part(msg.root, _Walk(extensible, limit))
