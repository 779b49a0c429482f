"""Token readers over one framed command (RFC 9051 §9, RFC 3501 §9): the grammar's lexer.

Theory of operation: a ``RawCommand`` is a list of lines with literal octets between them, and
every line but the last ends with the literal's announcement (``{n}``, ``{n+}`` or ``~{n}``). The
``Reader`` keeps a cursor (line index, byte offset). Readers for strings, when they meet an
announcement that ends the current line, take the next literal from ``raw.literals`` and move the
cursor to the start of the next line. A literal can therefore never be read as command text, and an
announcement anywhere but at the end of a line is just a syntax error.

Every reader works on the line bytes with compiled regexes matched at the cursor (``re.match(line,
pos)``) rather than byte by byte in Python: FETCH and STORE arrive in bulk. No reader recurses.
Errors raise ``ParseError`` carrying the tag (once known) and a message naming the offending token.
"""

from __future__ import annotations

import re

from maildird.imap.raw import RawCommand

__all__ = ["MAX_NUMBER_DIGITS", "ParseError", "Reader", "show"]

UINT32_MAX = 4294967295
"""RFC 9051 §9 ``number``: unsigned 32-bit."""
NUMBER64_MAX = 9223372036854775807
"""RFC 9051 §9 ``number64`` and RFC 7162 §7 ``mod-sequence-value``: 63-bit."""
MAX_NUMBER_DIGITS = 20
"""Digits read before the value check: 63-bit values need 19; longer runs are refused unconverted."""
SHOW_LIMIT = 40
"""How much of an offending token an error message quotes."""

# ATOM-CHAR: any CHAR (0x01-0x7F) except atom-specials: ( ) { SP CTL % * " \ ]  (RFC 9051 §9).
_ATOM_CLASS = rb"!#$&'+-\[^-z|}~"
ATOM_RE = re.compile(rb"[" + _ATOM_CLASS + rb"]+")
# ASTRING-CHAR adds resp-specials ("]").
ASTRING_RE = re.compile(rb"[" + _ATOM_CLASS + rb"\]]+")
# list-char adds list-wildcards ("%" / "*") to ASTRING-CHAR (RFC 9051 §9 "list-mailbox").
LIST_CHAR_RE = re.compile(rb"[" + _ATOM_CLASS + rb"\]%*]+")
# tag: ASTRING-CHAR except "+".
TAG_RE = re.compile(rb"[!#$&',-\[\]^-z|}~]+")
# quoted: DQUOTE *QUOTED-CHAR DQUOTE; QUOTED-CHAR is a TEXT-CHAR (no CR, LF, NUL) other than " and \,
# or \" / \\. 8-bit octets are allowed (RFC 9051 §9 admits UTF-8 there; RFC 6855 §3 likewise).
QUOTED_RE = re.compile(rb'"([^"\\\r\n\x00]*(?:\\["\\][^"\\\r\n\x00]*)*)"')
_UNESCAPE_RE = re.compile(rb'\\(["\\])')
# A literal announcement, which must end its line (RFC 9051 §4.3, RFC 7888 "+", RFC 3516 "~").
LITERAL_RE = re.compile(rb"(~?)\{([0-9]+)(\+?)\}\Z")
DIGITS_RE = re.compile(rb"[0-9]+")
SEQ_RE = re.compile(rb"[0-9*:,$]+")
NIL = b"NIL"


def show(data: bytes) -> str:
    """A printable, bounded rendering of ``data`` for error texts (no CR/LF ever reaches a response)."""
    text = data[:SHOW_LIMIT].decode("ascii", "backslashreplace")
    text = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)
    return text + ("..." if len(data) > SHOW_LIMIT else "")


class ParseError(Exception):
    """A malformed command: the session answers ``BAD [code] message`` (``* BAD`` when ``tag`` is None).

    ``code`` is ``"PARSE"`` for syntax errors and ``"CLIENTBUG"`` for a known command used wrongly
    (RFC 5530 §3).
    """

    def __init__(self, message: str, *, tag: str | None = None, code: str = "PARSE") -> None:
        super().__init__(message)
        self.message = message
        self.tag = tag
        self.code = code

    def __str__(self) -> str:
        return self.message


class Reader:
    """A cursor over a ``RawCommand``; every method either consumes a token or raises ``ParseError``."""

    __slots__ = ("_binary", "_last", "_lines", "_literals", "idx", "line", "pos", "tag", "utf8")

    def __init__(self, raw: RawCommand, *, utf8: bool = False) -> None:
        self._lines = raw.lines
        self._literals = raw.literals
        self._binary = raw.binary
        self._last = len(raw.lines) - 1
        self.idx = 0
        self.line = raw.lines[0]
        self.pos = 0
        self.tag: str | None = None
        self.utf8 = utf8

    # -- errors and lookahead ---------------------------------------------------------------------

    def fail(self, message: str, code: str = "PARSE") -> ParseError:
        """The error to raise (callers write ``raise r.fail(...)`` so control flow stays visible)."""
        return ParseError(message, tag=self.tag, code=code)

    def rest(self) -> str:
        """The offending text at the cursor, for error messages."""
        if self.pos >= len(self.line):
            return "end of line" if self.idx == self._last else "a literal"
        return f"'{show(self.line[self.pos :])}'"

    def token_text(self) -> str:
        """The next space-delimited token at the cursor, for error messages."""
        end = self.line.find(b" ", self.pos)
        chunk = self.line[self.pos : end if end >= 0 else len(self.line)]
        return f"'{show(chunk)}'" if chunk else self.rest()

    def peek(self) -> int:
        """The next octet, or -1 at the end of a line."""
        return self.line[self.pos] if self.pos < len(self.line) else -1

    def on_last_line(self) -> bool:
        """True when no literal follows the current line: the rest of the command is ``line[pos:]``."""
        return self.idx == self._last

    def at_end(self) -> bool:
        return self.pos >= len(self.line) and self.idx == self._last

    def end(self) -> None:
        """Require the end of the command: trailing arguments are an error."""
        if not self.at_end():
            raise self.fail(f"Unexpected extra arguments: {self.rest()}")

    # -- punctuation --------------------------------------------------------------------------------

    def sp(self) -> None:
        if self.pos < len(self.line) and self.line[self.pos] == 0x20:
            self.pos += 1
            return
        raise self.fail(f"Expected a space, got {self.rest()}")

    def try_sp(self) -> bool:
        if self.pos < len(self.line) and self.line[self.pos] == 0x20:
            self.pos += 1
            return True
        return False

    def expect(self, char: int, what: str) -> None:
        if self.pos < len(self.line) and self.line[self.pos] == char:
            self.pos += 1
            return
        raise self.fail(f"Expected {what}, got {self.rest()}")

    def try_char(self, char: int) -> bool:
        if self.pos < len(self.line) and self.line[self.pos] == char:
            self.pos += 1
            return True
        return False

    # -- atoms --------------------------------------------------------------------------------------

    def match(self, pattern: re.Pattern[bytes]) -> bytes | None:
        m = pattern.match(self.line, self.pos)
        if m is None:
            return None
        self.pos = m.end()
        return m.group()

    def atom(self, what: str = "an atom") -> bytes:
        m = ATOM_RE.match(self.line, self.pos)
        if m is None:
            raise self.fail(f"Expected {what}, got {self.rest()}")
        self.pos = m.end()
        return m.group()

    def word(self, what: str = "a keyword") -> str:
        """An atom, upper-cased (command names, options, item names are case-insensitive)."""
        return self.atom(what).decode("ascii").upper()

    def peek_word(self) -> str | None:
        """The upper-cased atom at the cursor without consuming it."""
        m = ATOM_RE.match(self.line, self.pos)
        return None if m is None else m.group().decode("ascii").upper()

    def try_nil(self) -> bool:
        m = ATOM_RE.match(self.line, self.pos)
        if m is not None and m.group().upper() == NIL:
            self.pos = m.end()
            return True
        return False

    # -- strings ------------------------------------------------------------------------------------

    def quoted(self) -> bytes:
        m = QUOTED_RE.match(self.line, self.pos)
        if m is None:
            raise self.fail(self._quoted_problem())
        self.pos = m.end()
        value = m.group(1)
        return _UNESCAPE_RE.sub(rb"\1", value) if b"\\" in value else value

    def _quoted_problem(self) -> str:
        # Only on the error path: find what is wrong with the quoted string at the cursor.
        line = self.line
        i = self.pos + 1
        while i < len(line):
            c = line[i]
            if c == 0x22:
                break
            if c == 0x5C:
                nxt = line[i + 1 : i + 2]
                if nxt not in (b'"', b"\\"):
                    return f"Bad escape '\\{show(nxt)}' in quoted string (only \\\" and \\\\ are allowed)"
                i += 2
                continue
            if c == 0:
                return "NUL octet in quoted string"
            i += 1
        return f"Unterminated quoted string {self.rest()}"

    def literal(self, *, binary_ok: bool = False) -> tuple[bytes, bool]:
        """The literal announced at the cursor: ``(octets, is_literal8)``."""
        m = LITERAL_RE.match(self.line, self.pos)
        if m is None:
            if b"{" in self.line[self.pos : self.pos + 2]:
                raise self.fail(f"A literal announcement must end the line: {self.rest()}")
            raise self.fail(f"Expected a literal, got {self.rest()}")
        if self.idx >= len(self._literals):
            raise self.fail("Literal announced but no literal data followed")
        binary = bool(m.group(1))
        if binary and not binary_ok:
            raise self.fail("A literal8 (~{n}) is only allowed for APPEND message data")
        data = self._literals[self.idx]
        if len(m.group(2)) > MAX_NUMBER_DIGITS or int(m.group(2)) != len(data):
            raise self.fail("Literal length does not match its announcement")
        self.idx += 1
        self.line = self._lines[self.idx]
        self.pos = 0
        return data, binary

    def string(self, what: str = "a string") -> bytes:
        """``string = quoted / literal``."""
        c = self.peek()
        if c == 0x22:
            return self.quoted()
        if c == 0x7B:
            return self.literal()[0]
        raise self.fail(f"Expected {what} (quoted or literal), got {self.rest()}")

    def astring(self, what: str = "a string") -> bytes:
        """``astring = 1*ASTRING-CHAR / string``."""
        c = self.peek()
        if c == 0x22:
            return self.quoted()
        if c == 0x7B or (c == 0x7E and self.line[self.pos + 1 : self.pos + 2] == b"{"):
            return self.literal()[0]
        m = ASTRING_RE.match(self.line, self.pos)
        if m is None:
            raise self.fail(f"Expected {what}, got {self.rest()}")
        self.pos = m.end()
        return m.group()

    def nstring(self, what: str = "a string or NIL") -> bytes | None:
        if self.try_nil():
            return None
        return self.string(what)

    def list_mailbox(self) -> bytes:
        """``list-mailbox = 1*list-char / string`` (a LIST pattern, RFC 9051 §9)."""
        c = self.peek()
        if c == 0x22:
            return self.quoted()
        if c == 0x7B:
            return self.literal()[0]
        m = LIST_CHAR_RE.match(self.line, self.pos)
        if m is None:
            raise self.fail(f"Expected a mailbox pattern, got {self.rest()}")
        self.pos = m.end()
        return m.group()

    # -- numbers ------------------------------------------------------------------------------------

    def number(self, what: str = "a number", *, low: int = 0, high: int = UINT32_MAX) -> int:
        """``number`` (uint32) by default; ``low=1`` gives ``nz-number``, ``high=NUMBER64_MAX`` a
        ``number64`` / mod-sequence (RFC 7162 §7)."""
        m = DIGITS_RE.match(self.line, self.pos)
        if m is None:
            raise self.fail(f"Expected {what}, got {self.rest()}")
        digits = m.group()
        if len(digits) > MAX_NUMBER_DIGITS or not low <= int(digits) <= high:
            raise self.fail(f"Expected {what} in {low}..{high}, got '{show(digits)}'")
        self.pos = m.end()
        return int(digits)
