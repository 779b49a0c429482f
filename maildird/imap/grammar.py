"""The IMAP command grammar: one framed ``RawCommand`` in, one ``Command`` value out.

RFC 9051 §9 and RFC 3501 §9 (the ABNF), plus the extensions of capabilities.md. The lexer lives in
``grammar_tokens``, values (sequence sets, dates, flags, mailbox names) in ``grammar_values``, the
mailbox commands (SELECT, CREATE, LIST, STATUS, APPEND) in ``grammar_mailbox``, SEARCH in
``grammar_search`` and FETCH/STORE in ``grammar_fetch``. This module reads the tag and the command
name and dispatches to one small function per command; each reads its arguments and ends with
``r.end()`` so that extra trailing arguments are an error.

Errors are ``ParseError`` (``BAD [PARSE]``, or ``BAD [CLIENTBUG]`` for a known command used wrongly,
RFC 5530 §3); the message names the offending token. Nothing else escapes: no input can raise
another exception type or recurse without bound.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable, Collection

from maildird.imap import commands as c
from maildird.imap.grammar_fetch import (
    cached_items,
    fetch_items,
    fetch_modifiers,
    store_action,
    store_flags,
    store_modifiers,
)
from maildird.imap.grammar_mailbox import append, create, list_command, rename, select, status, word_list
from maildird.imap.grammar_search import MAX_NESTING, search_keys
from maildird.imap.grammar_tokens import TAG_RE, UINT32_MAX, ParseError, Reader, show
from maildird.imap.grammar_values import decode_text, mailbox, sequence_set
from maildird.imap.raw import RawCommand

__all__ = ["MAX_NESTING", "ParseError", "parse_command", "parse_full", "parse_line", "parse_tag"]

Parser = Callable[[Reader], c.Command]

_BASE64_RE = re.compile(rb"[A-Za-z0-9+/]+={0,2}\Z")
_CHARSET_RE = re.compile(rb"[A-Za-z0-9_.:+-]+")
SEARCH_RETURN = frozenset({"MIN", "MAX", "ALL", "COUNT", "SAVE"})


# -- shared pieces ---------------------------------------------------------------------------------


def _no_args(cls: type[c.Command]) -> Parser:
    def parse(r: Reader) -> c.Command:
        r.end()
        return cls(r.tag or "")

    return parse


def _one_mailbox(cls: type[c.Delete] | type[c.Subscribe] | type[c.Unsubscribe]) -> Parser:
    def parse(r: Reader) -> c.Command:
        r.sp()
        name = mailbox(r)
        r.end()
        return cls(r.tag or "", name)

    return parse


# -- any state and not authenticated (RFC 9051 §6.1, §6.2) -----------------------------------------


def _id(r: Reader) -> c.Command:
    """``"ID" SP ("(" *(string SP nstring) ")" / nil)`` (RFC 2971 §4)."""
    r.sp()
    if r.try_nil():
        r.end()
        return c.Id(r.tag or "", None)
    r.expect(0x28, "'(' or NIL after ID")
    params: list[tuple[str, str | None]] = []
    while not r.try_char(0x29):
        if params:
            r.sp()
        key = r.string("an ID field name").decode("utf-8", "replace")
        r.sp()
        value = r.nstring("an ID value or NIL")
        params.append((key, None if value is None else value.decode("utf-8", "replace")))
    r.end()
    return c.Id(r.tag or "", tuple(params))


def _enable(r: Reader) -> c.Command:
    """``"ENABLE" 1*(SP capability)`` (RFC 5161 §4)."""
    caps: list[str] = []
    r.sp()
    caps.append(r.word("a capability name"))
    while not r.at_end():
        r.sp()
        caps.append(r.word("a capability name"))
    return c.Enable(r.tag or "", tuple(caps))


def _compress(r: Reader) -> c.Command:
    """``"COMPRESS" SP algorithm`` (RFC 4978 §4)."""
    r.sp()
    mechanism = r.word("a compression mechanism")
    r.end()
    return c.Compress(r.tag or "", mechanism)


def _authenticate(r: Reader) -> c.Command:
    """``"AUTHENTICATE" SP auth-type [SP (base64 / "=")]`` (RFC 9051 §6.2.2, RFC 4959 §7)."""
    r.sp()
    mechanism = r.word("a SASL mechanism")
    initial: bytes | None = None
    if not r.at_end():
        r.sp()
        data = r.line[r.pos :]
        if data == b"=":
            initial = b""
        elif _BASE64_RE.match(data) and len(data) % 4 == 0:
            try:
                initial = binascii.a2b_base64(data, strict_mode=True)
            except binascii.Error:
                raise r.fail(f"Invalid base64 initial response '{show(data)}'")
        else:
            raise r.fail(f"Invalid base64 initial response '{show(data)}'")
        r.pos = len(r.line)
    r.end()
    return c.Authenticate(r.tag or "", mechanism, initial)


def _login(r: Reader) -> c.Command:
    """``"LOGIN" SP userid SP password``; both kept octet-faithful via surrogateescape."""
    r.sp()
    user = r.astring("a user name").decode("utf-8", "surrogateescape")
    r.sp()
    password = r.astring("a password").decode("utf-8", "surrogateescape")
    r.end()
    return c.Login(r.tag or "", user, password)


# -- selected (RFC 9051 §6.4) ----------------------------------------------------------------------


def _search(uid: bool) -> Parser:
    """``"SEARCH" [SP "RETURN" SP "(" ... ")"] [SP "CHARSET" SP charset] 1*(SP search-key)``
    (RFC 9051 §6.4.4, RFC 4731 §3.1: RETURN comes before CHARSET)."""

    def parse(r: Reader) -> c.Command:
        returns: tuple[str, ...] | None = None
        charset: str | None = None
        if r.line[r.pos : r.pos + 8].upper() == b" RETURN ":
            r.pos += 8
            options = word_list(r, "SEARCH return option list")
            for option in options:
                if option not in SEARCH_RETURN:
                    raise r.fail(f"Unknown SEARCH return option {option}")
            returns = tuple(options)
        if r.line[r.pos : r.pos + 9].upper() == b" CHARSET ":
            r.pos += 9
            raw = r.quoted() if r.peek() == 0x22 else (r.match(_CHARSET_RE) or b"")
            if not raw or not _CHARSET_RE.fullmatch(raw):
                raise r.fail(f"Invalid charset name {r.token_text()}")
            charset = raw.decode("ascii").upper()
        key = search_keys(r, lambda data: decode_text(data, charset))
        return c.Search(r.tag or "", key, uid, charset, returns)

    return parse


def _fetch(uid: bool) -> Parser:
    """``"FETCH" SP sequence-set SP items [SP "(" fetch-modifier ... ")"]``."""

    def parse(r: Reader) -> c.Command:
        r.sp()
        seq = sequence_set(r)
        r.sp()
        items = fetch_items(r)
        changedsince, vanished = fetch_modifiers(r, uid=uid)
        r.end()
        return c.Fetch(r.tag or "", seq, items, uid, changedsince, vanished)

    return parse


def _store(uid: bool) -> Parser:
    """``"STORE" SP sequence-set [store-modifiers] SP store-att-flags`` (RFC 7162 §3.1.3)."""

    def parse(r: Reader) -> c.Command:
        r.sp()
        seq = sequence_set(r)
        unchangedsince = store_modifiers(r)
        r.sp()
        mode, silent = store_action(r)
        r.sp()
        flags = store_flags(r)
        r.end()
        return c.Store(r.tag or "", seq, mode, silent, flags, uid, unchangedsince)

    return parse


def _copy_move(cls: type[c.Copy] | type[c.Move], uid: bool) -> Parser:
    def parse(r: Reader) -> c.Command:
        r.sp()
        seq = sequence_set(r)
        r.sp()
        name = mailbox(r)
        r.end()
        return cls(r.tag or "", seq, name, uid)

    return parse


def _uid_expunge(r: Reader) -> c.Command:
    """``"UID" SP "EXPUNGE" SP sequence-set`` (RFC 4315 §2.1)."""
    r.sp()
    seq = sequence_set(r)
    r.end()
    return c.Expunge(r.tag or "", seq)


_UID_COMMANDS: dict[str, Parser] = {
    "COPY": _copy_move(c.Copy, True),
    "MOVE": _copy_move(c.Move, True),
    "FETCH": _fetch(True),
    "SEARCH": _search(True),
    "STORE": _store(True),
    "EXPUNGE": _uid_expunge,
}


def _uid(r: Reader) -> c.Command:
    """``"UID" SP (copy / move / fetch / search / store / uid-expunge)``."""
    r.sp()
    start = r.pos
    name = r.word("a UID command")
    parser = _UID_COMMANDS.get(name)
    if parser is None:
        raise r.fail(f"Unknown UID command {show(r.line[start : r.pos])}", "CLIENTBUG")
    return parser(r)


COMMANDS: dict[str, Parser] = {
    "CAPABILITY": _no_args(c.Capability),
    "NOOP": _no_args(c.Noop),
    "LOGOUT": _no_args(c.Logout),
    "ID": _id,
    "ENABLE": _enable,
    "COMPRESS": _compress,
    "STARTTLS": _no_args(c.StartTLS),
    "AUTHENTICATE": _authenticate,
    "LOGIN": _login,
    "SELECT": select(False),
    "EXAMINE": select(True),
    "CREATE": create,
    "DELETE": _one_mailbox(c.Delete),
    "RENAME": rename,
    "SUBSCRIBE": _one_mailbox(c.Subscribe),
    "UNSUBSCRIBE": _one_mailbox(c.Unsubscribe),
    "LIST": list_command(False),
    "LSUB": list_command(True),
    "NAMESPACE": _no_args(c.Namespace),
    "STATUS": status,
    "APPEND": append,
    "IDLE": _no_args(c.Idle),
    "CHECK": _no_args(c.Check),
    "CLOSE": _no_args(c.Close),
    "UNSELECT": _no_args(c.Unselect),
    "EXPUNGE": _no_args(c.Expunge),
    "SEARCH": _search(False),
    "FETCH": _fetch(False),
    "STORE": _store(False),
    "COPY": _copy_move(c.Copy, False),
    "MOVE": _copy_move(c.Move, False),
    "UID": _uid,
}
"""Command name (upper-case) to its argument parser."""


# -- entry points ----------------------------------------------------------------------------------


def _read_tag(r: Reader) -> str:
    raw = r.match(TAG_RE)
    if raw is None:
        raise r.fail(f"Expected a tag, got {r.rest()}")
    return raw.decode("ascii")


def parse_tag(raw: RawCommand) -> str | None:
    """The command's tag if one can be read (for error responses), else None."""
    m = TAG_RE.match(raw.lines[0])
    if m is None or m.end() >= len(raw.lines[0]) or raw.lines[0][m.end()] != 0x20:
        return None
    return m.group().decode("ascii")


# -- the usual commands, read at once ---------------------------------------------------------------

_NO_ARGS: dict[bytes, type[c.Command]] = {
    name.encode("ascii"): cls
    for name, cls in (
        ("NOOP", c.Noop),
        ("CHECK", c.Check),
        ("CAPABILITY", c.Capability),
        ("LOGOUT", c.Logout),
        ("IDLE", c.Idle),
        ("CLOSE", c.Close),
        ("UNSELECT", c.Unselect),
        ("EXPUNGE", c.Expunge),
        ("NAMESPACE", c.Namespace),
    )
}
"""Commands without arguments, by name (upper-case): ``tag SP name`` is the whole command."""

# ``tag SP ["UID" SP] "FETCH" SP n[:m|:*] SP``: a message list's FETCH of one range, whose items (and
# modifiers) the item memo already knows (grammar_fetch.fetch_items).
_FETCH_RE = re.compile(
    b"(" + TAG_RE.pattern + rb") ((?i:UID) )?(?i:FETCH) ([0-9]{1,10})(?::([0-9]{1,10}|\*))? "
)


def _quick(line: bytes, utf8: bool) -> c.Command | None:
    """The command a one-line NOOP-like command or a one-range FETCH with a known item list reads as,
    without the token readers; None for anything else (``parse_command`` then reads it, and gives the
    same value: ``tests/imap/test_grammar_quick.py`` holds the two to each other)."""
    tag, sp, name = line.partition(b" ")
    if sp:
        cls = _NO_ARGS.get(name.upper())
        if cls is not None:
            if TAG_RE.fullmatch(tag) is None:
                return None
            return cls(tag.decode("ascii"))
    m = _FETCH_RE.match(line)
    if m is None:
        return None
    items = cached_items(line[m.end() :], utf8)
    if items is None:
        return None
    low = int(m.group(3))
    last = m.group(4)
    high = low if last is None else None if last == b"*" else int(last)
    if not 1 <= low <= UINT32_MAX or (high is not None and not 1 <= high <= UINT32_MAX):
        return None
    seq = c.SequenceSet(((low, high),))
    return c.Fetch(m.group(1).decode("ascii"), seq, items, m.group(2) is not None)


def parse_command(raw: RawCommand, *, utf8: bool = False, extensions: Collection[str] = ()) -> c.Command:
    """Parse one complete command (RFC 9051 §9 ``command``).

    ``utf8`` is True once ``ENABLE UTF8=ACCEPT`` is in effect (mailbox names are then UTF-8,
    RFC 6855 §3). ``extensions`` names plug-in commands (upper-case) returned as ``Extension`` with
    their arguments as sent. Raises ``ParseError`` and nothing else.
    """
    if not raw.literals:
        quick = _quick(raw.lines[0], utf8)
        if quick is not None:
            return quick
    return parse_full(raw, utf8=utf8, extensions=extensions)


def parse_line(line: bytes, *, utf8: bool = False, extensions: Collection[str] = ()) -> c.Command:
    """``parse_command`` of a command that is one line without a literal (the framer's usual case,
    ``Framer.take_line``), without building a ``RawCommand`` unless the token readers need one."""
    quick = _quick(line, utf8)
    if quick is not None:
        return quick
    return parse_full(RawCommand((line,)), utf8=utf8, extensions=extensions)


def parse_full(raw: RawCommand, *, utf8: bool = False, extensions: Collection[str] = ()) -> c.Command:
    """``parse_command`` by the token readers alone, for every command."""
    r = Reader(raw, utf8=utf8)
    tag = _read_tag(r)
    if not r.try_sp():
        raise r.fail(f"Expected a space and a command name after the tag, got {r.rest()}")
    r.tag = tag
    start = r.pos
    name = r.word("a command name")
    parser = COMMANDS.get(name)
    if parser is not None:
        return parser(r)
    if name in extensions:
        return c.Extension(tag, name, _arguments(raw, r.pos))
    raise r.fail(f"Unknown command {show(r.line[start : r.pos])}")


def _arguments(raw: RawCommand, pos: int) -> bytes:
    """An extension's arguments as sent: the rest of the first line, then each literal in its
    wire form (announcement CRLF octets) followed by the next line."""
    parts = [raw.lines[0][pos:].removeprefix(b" ")]
    for literal, line in zip(raw.literals, raw.lines[1:], strict=True):
        parts += [b"\r\n", literal, line]
    return b"".join(parts)
