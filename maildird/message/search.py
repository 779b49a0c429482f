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
values with RFC 2047 words decoded, bodies with their transfer encoding and charset undone.

Fast path: proving a miss from the octets
-----------------------------------------
Most messages do not match a text key, and deciding that exactly means parsing the MIME tree and
decoding every text part. When the loader gives the stored octets (``Octets``), ``misses`` first tries to
prove the miss without that: an ASCII word of the needle (its blank-free runs, ``decode.needle_tokens``)
absent from the lower-cased octets of the region the key compares against cannot be in its text if
nothing in that region decodes to other characters (``decode`` explains when: no encoded words, no
base64 or quoted-printable declared anywhere, only charsets whose ASCII octets stand for themselves,
ASCII only, so case folding cannot turn a long s into an "s"). Header keys look at the header block, and
then at the asked field alone (decoded, read off the stored block); TEXT and BODY at the body region,
and TEXT at the decoded header. ``False`` means "maybe": the exact evaluation decides. Needles without
blanks are compared against case-folded texts without collapsing their whitespace (the same answer).
tests/message/test_search_fast.py and tests/rfc/test_rfc9051_6_4_4_search_fast.py hold the fast
answers to the exact ones over generated messages.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

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
from maildird.message.decode import (
    UnknownTransferEncoding,
    declarations_safe,
    decode_charset,
    decode_header,
    decode_transfer,
    may_have_base64,
    needle_tokens,
    normalize,
    plain,
    qp_text,
)
from maildird.message.envelope import header_date
from maildird.message.parse import ParsedMessage, Part, header_block, stored_field_values

RECENT = "\\Recent"

Loader = Callable[[], "ParsedMessage | bytes"]


BIG_OCTETS = 64 * 1024
"""Octets from which ``Octets`` looks for a base64 label before lower-casing the message: such a
message is mostly an attachment, which lower-casing would copy for nothing (the exact path skips it
without decoding). Smaller ones are lower-cased at once, which answers that question too."""


class Octets:
    """A message's octets as stored (the whole file, or for a search of header keys only its header
    block), with what the fast path asks of them computed once. The *header* region is the top-level
    header block (RFC 5322 §2.1, ``parse.header_block``): every header key compares against text from
    it. The *body* region is the rest: BODY, and TEXT besides the top-level header, compare against
    text from it, decoded as declared in headers that may be in either region."""

    __slots__ = (
        "_body_ok",
        "_field_texts",
        "_field_values",
        "_header_low",
        "_header_message",
        "_header_plain",
        "_header_text",
        "_low",
        "_split",
        "raw",
    )

    def __init__(self, raw: bytes, *, header_only: bool = False) -> None:
        self.raw = raw
        # A header block is its own header region (``header_block`` of it is all of it).
        self._split = len(raw) if header_only else -1
        self._low: bytes | None = None
        self._header_low: bytes | None = None
        self._header_plain: bool | None = None
        self._body_ok: bool | None = None
        self._header_text: str | None = None
        self._header_message: ParsedMessage | None = None
        self._field_texts: dict[bytes, str | None] | None = None
        self._field_values: dict[bytes, list[bytes]] | None = None

    @property
    def split(self) -> int:
        """Where the header region ends."""
        if self._split < 0:
            self._split = len(header_block(self.raw))
        return self._split

    @property
    def low(self) -> bytes:
        """All the octets with ASCII letters lower-cased."""
        if self._low is None:
            self._low = self.raw.lower()
        return self._low

    def header_lacks(self, tokens: tuple[bytes, ...]) -> bool:
        """True when some token is absent from the header region (ASCII case-insensitively)."""
        if self._low is not None:
            low, end = self._low, self.split
        else:
            low = self._header_region()[1]
            end = len(low)
        return any(low.find(t, 0, end) < 0 for t in tokens)

    @property
    def header_plain(self) -> bool:
        """``decode.plain`` for the header region: its header text is its own octets."""
        if self._header_plain is None:
            self._header_plain = plain(self.raw[: self.split])
        return self._header_plain

    def body_lacks(self, tokens: tuple[bytes, ...]) -> bool:
        """True when some token is absent from the body region (ASCII case-insensitively)."""
        low, start = self.low, self.split
        return any(low.find(t, start) < 0 for t in tokens)

    @property
    def body_plain(self) -> bool:
        """True when nothing but quoted-printable can make text from the body region differ from its
        octets: no base64 or unsafe charset declared anywhere (``decode.declarations_safe``), and the
        region is ASCII without encoded words (attached messages' headers)."""
        if self._body_ok is None:
            raw, start = self.raw, self.split
            self._body_ok = (
                not (len(raw) >= BIG_OCTETS and may_have_base64(raw))
                and (raw.find(b"?", start) < 0 or raw.find(b"=?", start) < 0)
                and (raw.isascii() or raw[start:].isascii())
                and declarations_safe(self.low)
            )
        return self._body_ok

    def body_misses(self, tokens: tuple[bytes, ...]) -> bool:
        """True when some token is certainly absent from every text of the body region: absent from
        its octets, which are the text itself (``body_plain`` and no quoted-printable declared), or,
        with quoted-printable, absent from the region decoded as a whole too when that is ASCII
        (``decode.qp_text``; ASCII, so case folding is lower-casing)."""
        if not (self.body_plain and self.body_lacks(tokens)):
            return False
        if b"quoted-printable" not in self.low:
            return True
        decoded = qp_text(self.raw[self.split :])
        if not decoded.isascii():
            return False
        # One word must be in neither: a phrase's words may come from different parts.
        low, start, qp_low = self.low, self.split, decoded.lower()
        return any(low.find(t, start) < 0 and t not in qp_low for t in tokens)

    def header_message(self) -> ParsedMessage:
        """The header region parsed (``ParsedMessage.parse_header``), once."""
        if self._header_message is None:
            self._header_message = ParsedMessage.parse_header(self.raw)
        return self._header_message

    def field_values(self, name: str) -> list[bytes]:
        """The unfolded values of every ``name`` field of the header region (``Part.fields_named``),
        read off the stored block when it is LF-only (``parse.stored_field_values``), else parsed."""
        key = name.upper().encode("ascii", "replace")
        cache = self._field_values
        if cache is None:
            cache = self._field_values = {}
        elif key in cache:
            return cache[key]
        block, low = self._header_region()
        values = stored_field_values(block, low, name)
        if values is None:  # CRs in the header: parse it
            values = [f.unfolded() for f in self.header_message().root.fields_named(name)]
        cache[key] = values
        return values

    def field_text(self, name: str) -> str | None:
        """``SearchContext.header_text`` from the header region alone."""
        key = name.upper().encode("ascii", "replace")
        texts = self._field_texts
        if texts is None:
            texts = self._field_texts = {}
        elif key in texts:
            return texts[key]
        values = self.field_values(name)
        text = texts[key] = normalize("\n".join(_header_value(v) for v in values)) if values else None
        return text

    def _header_region(self) -> tuple[bytes, bytes]:
        """The header region and its lower-cased copy."""
        block = self.raw if self.split == len(self.raw) else self.raw[: self.split]
        if self._header_low is None:
            self._header_low = self._low[: self.split] if self._low is not None else block.lower()
        return block, self._header_low

    def header_text(self) -> str:
        """``SearchContext.folded_header_text`` from the header region alone."""
        if self._header_text is None:
            self._header_text = _folded_header(self.header_message().root)
        return self._header_text


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
        text = self._headers[key] = _field_text(self.message().root, name)
        return text

    def folded_header_text(self) -> str:
        """The top-level header decoded and case-folded, whitespace as it is (``folded_body_text``)."""
        if self._folded_header is None:
            self._folded_header = _folded_header(self.message().root)
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
            _collect_text(self.message().root, chunks, with_headers)
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


def _field_text(root: Part, name: str) -> str | None:
    """All ``name`` fields of the header, decoded and normalised, joined by line breaks; None when
    there is none (what HEADER, FROM, TO, SUBJECT... compare against)."""
    values = [_header_value(f.unfolded()) for f in root.fields_named(name)]
    return normalize("\n".join(values)) if values else None


def _header_value(value: bytes) -> str:
    """``decode_header``, skipped for a value that is its own text (``decode.plain``)."""
    return value.decode("ascii") if plain(value) else decode_header(value)


def _folded_header(root: Part) -> str:
    """The top-level header decoded and case-folded, as TEXT compares against it (``normalize`` of this
    is the collapsed form; a needle without blanks is found in either or in neither)."""
    return decode_header(root.buf[root.start : root.header_end].replace(b"\r\n", b"\n")).casefold()


def _collect_text(part: Part, out: list[str], with_headers: bool) -> None:
    """Decoded text of the text parts under ``part``; with ``with_headers``, attached messages' headers too
    (Dovecot's TEXT searches them, its BODY does not; we do the same)."""
    if part.is_multipart:
        for child in part.children:
            _collect_text(child, out, with_headers)
        return
    if part.is_message:
        inner = part.message
        if inner is not None:
            if with_headers:
                out.append(decode_header(inner.buf[inner.start : inner.header_end]))
            _collect_text(inner, out, with_headers)
        return
    if not part.is_text:
        return
    try:
        data = decode_transfer(part.body, part.header_value("Content-Transfer-Encoding"))
    except UnknownTransferEncoding:
        data = part.body
    out.append(decode_charset(data, part.content_type.param("charset")))


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


def _contains(haystack: str | None, needle: str) -> bool:
    return haystack is not None and normalize(needle) in haystack


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
        if octets is not None and _misses(key, octets):
            return False
    if isinstance(key, SearchHeader):
        text = ctx.header_text(key.field)
        if key.value == "":
            return text is not None  # RFC 9051 §6.4.4: an empty string matches every message with the field
        return _contains(text, key.value)
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


@lru_cache(maxsize=256)
def _tokens(value: str) -> tuple[bytes, ...] | None:
    return needle_tokens(normalize(value))


def _misses(key: SearchHeader | SearchText, octets: Octets) -> bool:
    """True when the octets alone prove that ``key`` does not match: an ASCII word of the needle is
    absent from the region the key compares against, and nothing decodes that region to other
    characters (``Octets``). TEXT whose body region settles it but whose header has encoded words
    decodes that header alone (no full parse)."""
    if isinstance(key, SearchHeader) and key.value == "":
        return False
    tokens = _tokens(key.value)
    if tokens is None:
        return False
    if isinstance(key, SearchHeader):
        if octets.header_lacks(tokens):
            if octets.header_plain:
                return True
        elif octets.header_plain:
            return False  # every word is there, and the header is its own text: likely a hit
        # Encoded words or 8-bit octets somewhere in the header: decode the asked field alone, which
        # settles it (the same text ``SearchContext.header_text`` compares against).
        return not _contains(octets.field_text(key.field), key.value)
    if not octets.body_misses(tokens):
        return False
    if key.body_only or (octets.header_lacks(tokens) and octets.header_plain):
        return True
    needle = normalize(key.value)
    header = octets.header_text()
    return needle not in (header if " " not in needle else normalize(header))


def misses(key: SearchKey, octets: Octets) -> bool:
    """True when the message whose octets (as stored: the whole file, or its header block when ``key``
    needs no body) are ``octets`` certainly does not match ``key``: a cheap test before parsing. False
    means "maybe" (evaluate with ``matches``)."""
    if isinstance(key, SearchHeader | SearchText):
        return _misses(key, octets)
    if isinstance(key, SearchAnd):
        return any(misses(k, octets) for k in key.keys)
    if isinstance(key, SearchOr):
        return misses(key.left, octets) and misses(key.right, octets)
    return False


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


def header_block_rejecter(key: SearchKey) -> Callable[[Octets], bool] | None:
    """For a key of header fields only (a FROM, SUBJECT or HEADER, or an AND holding one), a test of a
    message's octets that is True when its header certainly does not match, by ``_misses``'s rules
    with less work per message (a header search runs it for every candidate): the needle's word is not
    in the header and the header is plain, or not in the asked field and the field is plain. None when
    the key has no such part."""
    if isinstance(key, SearchAnd):
        for sub in key.keys:
            test = header_block_rejecter(sub)
            if test is not None:
                return test
        return None
    if not isinstance(key, SearchHeader) or key.value == "":
        return None
    tokens = _tokens(key.value)
    if tokens is None:
        return None
    name = key.field

    def reject(octets: Octets) -> bool:
        block, low = octets._header_region()
        if all(t in low for t in tokens):
            return False
        if plain(block):
            return True
        values = octets.field_values(name)
        if not all(plain(v) for v in values):
            return False
        lowered = [v.lower() for v in values]
        return any(all(t not in v for v in lowered) for t in tokens)

    return reject
