"""SEARCH evaluation (RFC 9051 §6.4.4, RFC 7162 §3.1.5 MODSEQ, RFC 5032 OLDER/YOUNGER, RFC 5182 ``$``).

Theory of operation
-------------------
A ``SearchContext`` describes one message by what the snapshot already knows (sequence number, UID, flags,
size, internal date, modseq) plus a loader for its bytes. Evaluation is three-valued: a key that needs the
message's content answers ``None`` ("unknown") when loading is not allowed. ``prefilter`` evaluates that
way, so a handler can decide most messages without opening a file (``UNSEEN BODY x`` never reads a seen
message) and only call the blocking loader (in a worker thread) for the undecided ones. ``matches`` allows
loading; it still runs the cheap keys of an AND/OR first, so the file is read only when the answer depends
on it, and at most once per context (the parsed message and its decoded texts are cached on the context).

Text keys compare case-insensitively by substring (RFC 9051 §6.4.4) after ``decode.normalize``: header
values with RFC 2047 words decoded, bodies with their transfer encoding and charset undone
(``search_texts`` builds those texts).

When the loader gives the stored octets, a text key first asks ``search_octets.misses`` to prove a miss
from them without parsing (its docstring explains how); only a "maybe" comes to the exact path here.
``Octets``, ``misses`` and ``header_block_rejecter`` are re-exported for the importers of this module.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from maildird.imap.commands import (
    SearchAll,
    SearchAnd,
    SearchDate,
    SearchFlag,
    SearchHeader,
    SearchKey,
    SearchModSeq,
    SearchNot,
    SearchOr,
    SearchSet,
    SearchSize,
    SearchText,
    SearchWithin,
)
from maildird.message.decode import normalize
from maildird.message.envelope import header_date
from maildird.message.parse import ParsedMessage
from maildird.message.search_octets import Octets, header_block_rejecter, misses
from maildird.message.search_texts import collect_text, contains, field_text, folded_header

__all__ = [
    "RECENT",
    "Loader",
    "Octets",
    "SearchContext",
    "header_block_rejecter",
    "matches",
    "misses",
    "needs_body",
    "needs_message",
    "prefilter",
]

RECENT = "\\Recent"

Loader = Callable[[], "ParsedMessage | bytes"]


class SearchContext:
    """One message as SEARCH sees it. ``load`` returns the message (parsed, or raw bytes as on disk), or
    ``octets`` gives the raw bytes at once (then the fast path applies; with ``header_only`` they are the
    header block and only that is parsed); ``saved`` holds the UIDs of the SEARCHRES result for ``$``
    (RFC 5182); ``now`` anchors OLDER/YOUNGER."""

    __slots__ = (
        "_body",
        "_folded",
        "_folded_header",
        "_headers",
        "_loaded",
        "_message",
        "_octets",
        "_text",
        "flags",
        "header_only",
        "internaldate",
        "largest_seq",
        "largest_uid",
        "load",
        "modseq",
        "now",
        "recent",
        "saved",
        "seq",
        "size",
        "uid",
    )

    def __init__(
        self,
        *,
        seq: int,
        uid: int,
        flags: frozenset[str],
        size: int,
        internaldate: datetime,
        modseq: int = 0,
        recent: bool = False,
        largest_seq: int,
        largest_uid: int,
        load: Loader | None = None,
        saved: frozenset[int] = frozenset(),
        now: datetime | None = None,
        header_only: bool = False,
        octets: Octets | None = None,
    ) -> None:
        self.seq = seq
        self.uid = uid
        self.flags = flags
        self.size = size
        self.internaldate = internaldate
        self.modseq = modseq
        self.recent = recent
        self.largest_seq = largest_seq
        self.largest_uid = largest_uid
        self.load = load
        self.saved = saved
        self.now = now
        self.header_only = header_only
        self._loaded = octets is not None
        self._message: ParsedMessage | None = None
        self._octets = octets
        self._headers: dict[bytes, str | None] = {}
        self._body: str | None = None
        self._text: str | None = None
        self._folded: dict[bool, str] = {}
        self._folded_header: str | None = None

    def _load(self) -> None:
        if self._loaded:
            return
        if self.load is None:
            raise LookupError("this search needs the message but the context has no loader")
        loaded = self.load()
        self._loaded = True
        if isinstance(loaded, ParsedMessage):
            self._message = loaded
        else:
            self._octets = Octets(loaded)

    def octets(self) -> Octets | None:
        """The message's octets as stored, when the loader gave octets (not a parsed message)."""
        self._load()
        return self._octets

    def message(self) -> ParsedMessage:
        """The parsed message, loaded and parsed on first use only (with ``header_only`` the loader
        gives the header block and only that is parsed, ``ParsedMessage.parse_header``)."""
        if self._message is None:
            self._load()
        if self._message is None:
            octets = self._octets
            assert octets is not None
            self._message = octets.header_message() if self.header_only else ParsedMessage.parse(octets.raw)
        return self._message

    # -- cached normalised texts -------------------------------------------------------------------

    def header_text(self, name: str) -> str | None:
        """All ``name`` fields of the top-level header, decoded and normalised, joined; None if absent.
        Only the fields asked for are decoded (a message has a dozen, a search asks for one or two)."""
        self._load()
        if self._octets is not None:
            return self._octets.field_text(name)  # the header alone is enough, and shared
        key = name.upper().encode("ascii", "replace")
        if key in self._headers:
            return self._headers[key]
        text = self._headers[key] = field_text(self.message().root, name)
        return text

    def folded_header_text(self) -> str:
        """The top-level header decoded and case-folded, whitespace as it is (``folded_body_text``)."""
        if self._folded_header is None:
            self._folded_header = folded_header(self.message().root)
        return self._folded_header

    def whole_header_text(self) -> str:
        """The top-level header decoded and normalised (whitespace runs collapsed)."""
        return normalize(self.folded_header_text())

    def folded_body_text(self, *, with_headers: bool = False) -> str:
        """``body_text`` case-folded but with its whitespace as it is: enough to look for a needle that
        holds no whitespace, and much cheaper on big bodies than collapsing every run of blanks."""
        folded = self._folded.get(with_headers)
        if folded is None:
            chunks: list[str] = []
            collect_text(self.message().root, chunks, with_headers)
            folded = self._folded[with_headers] = "\n".join(chunks).casefold()
        return folded

    def body_text(self, *, with_headers: bool = False) -> str:
        """The decoded text of every text part (inside multiparts and attached messages too), and with
        ``with_headers`` the headers of attached messages."""
        cached = self._text if with_headers else self._body
        if cached is None:
            cached = normalize(self.folded_body_text(with_headers=with_headers))
            if with_headers:
                self._text = cached
            else:
                self._body = cached
        return cached


# --------------------------------------------------------------------------------------------------
# Evaluation


_MESSAGE_KEYS = (SearchHeader, SearchText)


_NEEDS_CACHE: dict[int, tuple[SearchKey, bool]] = {}
_NEEDS_CACHE_MAX = 4096
"""``needs_message`` answers by node identity (the node is kept, so its id cannot be reused): the
evaluation asks it at every OR/AND of every message, which was quadratic in the nesting depth."""


def needs_message(key: SearchKey) -> bool:
    """True when ``key`` (anywhere in the tree) needs the message's content, not only the snapshot."""
    hit = _NEEDS_CACHE.get(id(key))
    if hit is not None and hit[0] is key:
        return hit[1]
    result = _needs_message(key)
    if len(_NEEDS_CACHE) >= _NEEDS_CACHE_MAX:
        _NEEDS_CACHE.clear()
    _NEEDS_CACHE[id(key)] = (key, result)
    return result


def _needs_message(key: SearchKey) -> bool:
    if isinstance(key, _MESSAGE_KEYS):
        return True
    if isinstance(key, SearchDate):
        return key.sent
    if isinstance(key, SearchNot):
        return needs_message(key.key)
    if isinstance(key, SearchOr):
        return needs_message(key.left) or needs_message(key.right)
    if isinstance(key, SearchAnd):
        return any(needs_message(k) for k in key.keys)
    return False


def needs_body(key: SearchKey) -> bool:
    """True when ``key`` needs more than the top-level header (a TEXT or BODY key somewhere): otherwise
    ``ParsedMessage.parse_header`` is enough to evaluate it."""
    if isinstance(key, SearchText):
        return True
    if isinstance(key, SearchNot):
        return needs_body(key.key)
    if isinstance(key, SearchOr):
        return needs_body(key.left) or needs_body(key.right)
    if isinstance(key, SearchAnd):
        return any(needs_body(k) for k in key.keys)
    return False


def _has_flag(ctx: SearchContext, flag: str) -> bool:
    if flag == RECENT:
        return ctx.recent
    if flag in ctx.flags:
        return True
    if flag.startswith("\\"):
        return False  # system flags arrive canonically spelled
    folded = flag.casefold()  # keywords compare case-insensitively (RFC 9051 §2.3.2 flag-keyword is an atom)
    return any(f.casefold() == folded for f in ctx.flags)


def _date_test(op: str, day: date, when: date) -> bool:
    if op == "before":
        return day < when
    if op == "on":
        return day == when
    return day >= when


def _eval(key: SearchKey, ctx: SearchContext, load: bool) -> bool | None:
    """``key`` for ``ctx``: True, False, or None when the answer needs the message and ``load`` is False."""
    if isinstance(key, SearchAll):
        return True
    if isinstance(key, SearchFlag):
        return _has_flag(ctx, key.flag) == key.present
    if isinstance(key, SearchSize):
        return ctx.size > key.size if key.larger else ctx.size < key.size
    if isinstance(key, SearchSet):
        if key.set.saved:
            return ctx.uid in ctx.saved
        if key.uid:
            return key.set.contains(ctx.uid, ctx.largest_uid)
        return key.set.contains(ctx.seq, ctx.largest_seq)
    if isinstance(key, SearchModSeq):
        return ctx.modseq >= key.modseq
    if isinstance(key, SearchWithin):
        now = ctx.now or datetime.now(UTC)
        limit = now - timedelta(seconds=key.seconds)
        return ctx.internaldate <= limit if key.older else ctx.internaldate > limit
    if isinstance(key, SearchDate) and not key.sent:
        # RFC 9051 §6.4.4 "disregarding time and timezone": the internal date's own calendar date.
        return _date_test(key.op, ctx.internaldate.date(), key.when)
    if isinstance(key, SearchNot):
        inner = _eval(key.key, ctx, load)
        return None if inner is None else not inner
    if isinstance(key, SearchOr):
        first, second = (key.left, key.right) if not needs_message(key.left) else (key.right, key.left)
        a = _eval(first, ctx, load)
        if a is True:
            return True
        b = _eval(second, ctx, load)
        if b is True:
            return True
        return None if a is None or b is None else False
    if isinstance(key, SearchAnd):
        unknown = False
        # Cheap keys first: the message is read only if they all pass.
        for sub in sorted(key.keys, key=needs_message):
            r = _eval(sub, ctx, load)
            if r is False:
                return False
            unknown = unknown or r is None
        return None if unknown else True
    # Keys that need the message's content.
    if not load:
        return None
    if isinstance(key, SearchDate):
        sent = header_date(ctx.message())
        return sent is not None and _date_test(key.op, sent, key.when)
    if isinstance(key, SearchHeader | SearchText):
        octets = ctx.octets()
        if octets is not None and misses(key, octets):
            return False
    if isinstance(key, SearchHeader):
        text = ctx.header_text(key.field)
        if key.value == "":
            return text is not None  # RFC 9051 §6.4.4: an empty string matches every message with the field
        return contains(text, key.value)
    if isinstance(key, SearchText):
        needle = normalize(key.value)
        # A needle without blanks occurs in the collapsed text exactly when it occurs in the folded text
        # (collapsing only rewrites whitespace runs, which such a needle cannot span): skip the collapse.
        body = ctx.folded_body_text if " " not in needle else ctx.body_text
        if key.body_only:
            return needle in body()
        header = ctx.folded_header_text if " " not in needle else ctx.whole_header_text
        return needle in header() or needle in body(with_headers=True)
    raise TypeError(f"unknown search key {type(key).__name__}")


def prefilter(key: SearchKey, ctx: SearchContext) -> bool | None:
    """``key`` decided from the snapshot alone, or None when the message's content is needed."""
    return _eval(key, ctx, load=False)


def matches(key: SearchKey, ctx: SearchContext) -> bool:
    """Whether the message matches ``key`` (RFC 9051 §6.4.4). Loads the message through ``ctx.load`` only
    if a content key must be evaluated. Synchronous: call it in a worker thread when the loader reads a
    file (``trio.to_thread.run_sync``), or load the bytes first and pass a loader that returns them."""
    result = _eval(key, ctx, load=True)
    assert result is not None
    return result
