"""Message rendering and search for FETCH and SEARCH (contracts.md §2): pure, stdlib only.

``ParsedMessage.parse(raw)`` once per message per command, then ``envelope``, ``bodystructure``,
``body_section``, ``binary_section`` and ``matches`` on it.
"""

from __future__ import annotations

from maildird.message.bodystructure import bodystructure
from maildird.message.decode import UnknownTransferEncoding
from maildird.message.envelope import envelope, header_date, header_datetime
from maildird.message.parse import MAX_MIME_DEPTH, MAX_MIME_PARTS, ParsedMessage, Part
from maildird.message.search import SearchContext, matches, needs_message, prefilter
from maildird.message.sections import (
    apply_partial,
    binary_section,
    binary_size,
    body_section,
    find_part,
    response_label,
    section_spec,
    sets_seen,
)

__all__ = [
    "MAX_MIME_DEPTH",
    "MAX_MIME_PARTS",
    "ParsedMessage",
    "Part",
    "SearchContext",
    "UnknownTransferEncoding",
    "apply_partial",
    "binary_section",
    "binary_size",
    "body_section",
    "bodystructure",
    "envelope",
    "find_part",
    "header_date",
    "header_datetime",
    "matches",
    "needs_message",
    "prefilter",
    "response_label",
    "section_spec",
    "sets_seen",
]
