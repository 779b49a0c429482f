"""The framer's vocabulary: its limits (``Limits``), the fragments it yields (framing.py), and what a
command line's head (``_head``: tag and name) and end (``_announcement``: a literal) say.

``Framer.next`` returns one of ``FramedCommand`` (a complete command, RFC 9051 §2.2.1),
``FramedLine`` (a line in line mode: IDLE's DONE, an AUTHENTICATE response), ``LiteralAnnounced`` (a
synchronizing literal to accept or reject, RFC 9051 §4.3), ``Refusal`` (input refused, to answer
NO/BAD) or ``EndOfInput``. ``_head`` peeks at a command's tag and name (RFC 9051 §9 ``tag SP
command``); ``_announcement`` reads ``{n}``, ``{n+}``, ``~{n}`` at a line's end (RFC 9051 §4.3, RFC 7888,
RFC 3516 §4.1). Moved unchanged out of framing.py (the 400-line house rule); framing.py
imports them back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal as TypingLiteral

from .raw import RawCommand

__all__ = [
    "LITERAL_MINUS_MAX",
    "MAX_LITERALS",
    "EndOfInput",
    "Fragment",
    "FramedCommand",
    "FramedLine",
    "Limits",
    "LiteralAnnounced",
    "Refusal",
]

KiB = 1024
MiB = 1024 * KiB

LITERAL_MINUS_MAX = 4096
"""RFC 7888 (LITERAL-): non-synchronizing literals may carry at most 4096 octets."""

MAX_LITERALS = 1000
"""Literals in one command. The octet budget alone let 8 octets (`` {1+}\r\nx``) make a MULTIAPPEND
message: ~6 million in one APPEND, each a parsed object and a file. No client batches more than a
few hundred messages into one APPEND (RFC 3502); SEARCH has at most 1000 keys anyway."""


@dataclass(frozen=True, slots=True)
class Limits:
    """The framing and session limits (defaults as config.Limits; precedents there)."""

    max_line: int = 64 * KiB  # one line, without CRLF and literals
    max_literal: int = 64 * KiB  # one literal outside APPEND
    max_command: int = 1 * MiB  # lines and literals of one command (APPEND: plus max_append)
    max_append: int = 50 * MiB  # one APPEND literal (RFC 7889 APPENDLIMIT)
    literal_minus: bool = False  # LITERAL- instead of LITERAL+ (RFC 7888)
    max_bad_commands: int = 20  # BAD responses in a row before "* BYE"
    max_nonsync_literal: int = LITERAL_MINUS_MAX  # the LITERAL- cap
    max_literals: int = MAX_LITERALS  # literals in one command (MULTIAPPEND: messages)


# -- what the framer yields -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FramedCommand:
    """A complete command. ``tag`` and ``name`` (upper-case; ``UID FETCH`` for UID forms) are
    peeked from the first line, None/"" when it does not start with ``tag SP name``."""

    raw: RawCommand
    tag: str | None
    name: str


@dataclass(frozen=True, slots=True)
class FramedLine:
    """One line in line mode (IDLE's DONE, an AUTHENTICATE response), without its CRLF."""

    line: bytes


@dataclass(frozen=True, slots=True)
class LiteralAnnounced:
    """A synchronizing literal within limits: the owner must accept or reject it."""

    tag: str
    size: int
    binary: bool
    command: str


@dataclass(frozen=True, slots=True)
class Refusal:
    """The framer refused input; the owner answers ``tag status [code] text`` (``*`` when no tag)."""

    tag: str | None
    status: TypingLiteral["NO", "BAD"]
    code: str
    text: str
    sync_literal: bool = False
    """The refused line announced a synchronizing literal: a conforming client sends nothing more
    until it has read the refusal, so octets already received are a client that did not wait."""


@dataclass(frozen=True, slots=True)
class EndOfInput:
    """The peer closed its side; whatever partial command was buffered is dropped."""


Fragment = FramedCommand | FramedLine | LiteralAnnounced | Refusal | EndOfInput


_HUGE = 1 << 64
"""Stands for a literal size with more digits than any limit (never parsed as an int)."""

_MAX_DIGITS = 20
"""Longer octet counts are not converted (they exceed every limit anyway)."""


# Tag (RFC 9051 §9): 1*<any ASTRING-CHAR except "+">; ASTRING-CHAR = ATOM-CHAR / "]". Then SP, the
# command name and, for UID, SP and the name of the UID command (one match per command).
_HEAD_RE = re.compile(rb"([!#$&',-\[\]-z|}~]+) (?:([A-Za-z][A-Za-z0-9]*)(?: ([A-Za-z][A-Za-z0-9]*))?)?")
_ANNOUNCE_RE = re.compile(rb"\{([0-9]+)(\+?)\}")
_TAIL_DIGITS_RE = re.compile(rb"[0-9]+\+?\}\Z")


def _announcement(line: bytes) -> tuple[int, bool, bool] | None:
    """``(size, synchronizing, binary)`` if ``line`` ends with a literal announcement."""
    if not line.endswith(b"}"):
        return None
    start = line.rfind(b"{")
    if start < 0:
        # Only possible in a kept tail: the digits ran past it, so the number is beyond any limit.
        if _TAIL_DIGITS_RE.fullmatch(line) is not None:
            return _HUGE, not line.endswith(b"+}"), False
        return None
    m = _ANNOUNCE_RE.fullmatch(line, start)
    if m is None:
        return None
    digits = m.group(1)
    size = int(digits) if len(digits) <= _MAX_DIGITS else _HUGE
    binary = start > 0 and line[start - 1] == 0x7E  # "~"
    return size, m.group(2) != b"+", binary


def _head(line: bytes | bytearray) -> tuple[str | None, str]:
    """The tag and command name at the start of a command's first line (best effort)."""
    m = _HEAD_RE.match(line)
    if m is None:
        return None, ""
    tag, name, sub = m.groups()
    if name is None:
        return tag.decode("ascii"), ""
    name = name.decode("ascii").upper()
    if sub is not None and name == "UID":
        name = "UID " + sub.decode("ascii").upper()
    return tag.decode("ascii"), name
