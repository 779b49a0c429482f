"""One message as SEARCH's exact path sees it (RFC 9051 §6.4.4): the ``SearchContext`` built from a
snapshot entry and the search's ``Mailbox`` (the ``*`` values, ``$``, the clock, \\Recent).

Its own module because both ``handlers.search`` (the octet path) and ``handlers.search_text`` (the
body-row path, which ``search`` imports) build it, and they must build it the same way: the body-row
path's answers are held to the octet path's.
"""

from __future__ import annotations

from maildird.message.search import Octets, SearchContext
from maildird.message.snapshot import Mailbox
from maildird.store.base import MessageInfo


def search_context(
    seq: int,
    info: MessageInfo,
    box: Mailbox,
    *,
    header: bool = False,
    octets: Octets | None = None,
    recent: bool | None = None,
) -> SearchContext:
    """The context of message ``seq`` (``info``): its octets when given (only its header block with
    ``header``), and ``recent`` when the caller asked the view already (a worker thread must not:
    the view is the event loop's), else ``box.recent``."""
    return SearchContext(
        seq=seq,
        uid=info.uid,
        flags=info.flags,
        size=info.size,
        internaldate=info.internaldate,
        modseq=info.modseq,
        recent=box.recent(info.uid) if recent is None else recent,
        largest_seq=box.largest_seq,
        largest_uid=box.largest_uid,
        saved=box.saved,
        now=box.now,
        header_only=header,
        octets=octets,
    )
