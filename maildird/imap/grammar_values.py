"""Value readers built on the lexer: sequence sets, dates, flags, mailbox names, search text.

RFC 9051 §9 (``sequence-set``, ``date``, ``date-time``, ``flag``, ``mailbox``), RFC 5182 (``$``),
RFC 3501 §5.1.3 (modified UTF-7 names) and RFC 6855 §3 (UTF-8 names after ``ENABLE UTF8=ACCEPT``).
"""

from __future__ import annotations

import codecs
import re
from datetime import date, datetime, timedelta, timezone

from maildird.imap import modutf7
from maildird.imap.commands import SequenceSet
from maildird.imap.grammar_tokens import (
    ATOM_RE,
    MAX_NUMBER_DIGITS,
    SEQ_RE,
    UINT32_MAX,
    Reader,
    show,
)

__all__ = [
    "SAVED_SET",
    "SYSTEM_FLAGS",
    "charset_known",
    "date_value",
    "datetime_value",
    "decode_mailbox",
    "decode_text",
    "flag",
    "flag_list",
    "keyword",
    "mailbox",
    "sequence_set",
]

SAVED_SET = SequenceSet((), saved=True)
"""``$``: the saved search result (RFC 5182 §2.1)."""

SYSTEM_FLAGS = {
    "\\answered": "\\Answered",
    "\\flagged": "\\Flagged",
    "\\deleted": "\\Deleted",
    "\\seen": "\\Seen",
    "\\draft": "\\Draft",
}
"""The settable system flags of RFC 9051 §2.3.2, by lower-case spelling, to their canonical case."""
RECENT = "\\Recent"

MONTHS = {
    b"JAN": 1, b"FEB": 2, b"MAR": 3, b"APR": 4, b"MAY": 5, b"JUN": 6,
    b"JUL": 7, b"AUG": 8, b"SEP": 9, b"OCT": 10, b"NOV": 11, b"DEC": 12,
}  # fmt: skip

# date = date-text / DQUOTE date-text DQUOTE; date-text = date-day "-" date-month "-" date-year.
_DATE_RE = re.compile(rb'(")?([0-9]{1,2})-([A-Za-z]{3})-([0-9]{4})(?(1)")')
# date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE; the day may
# be space-padded (" 1") or, leniently, a single digit.
_DATETIME_RE = re.compile(
    rb'"( ?[0-9]{1,2})-([A-Za-z]{3})-([0-9]{4}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-])([0-9]{2})([0-9]{2})"'
)
# flag = "\" atom (system flags and flag-extension) / atom (keywords); "\*" is flag-perm only.
_FLAG_RE = re.compile(rb"\\\*|\\?" + ATOM_RE.pattern)
# Mailbox names may hold no C0 or C1 controls, DEL, or U+2028/U+2029 line and paragraph separators
# (RFC 6855 §3, RFC 5198 §2: the Net-Unicode rules mailbox names follow).
_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


# -- sequence sets (RFC 9051 §9, RFC 5182) ---------------------------------------------------------


def _seq_number(r: Reader, token: bytes, whole: bytes, star: bool) -> int | None:
    if token == b"*":
        if not star:
            raise r.fail(f"'*' is not allowed in this sequence set: '{show(whole)}'")
        return None
    if not token.isdigit() or len(token) > MAX_NUMBER_DIGITS or not 1 <= int(token) <= UINT32_MAX:
        raise r.fail(f"Invalid sequence set '{show(whole)}'")
    return int(token)


def sequence_set(r: Reader, *, saved: bool = True, star: bool = True) -> SequenceSet:
    """``sequence-set`` or ``$``; numbers are nz-number (1..2^32-1), ``*`` becomes None."""
    whole = r.match(SEQ_RE)
    if whole is None:
        raise r.fail(f"Expected a sequence set, got {r.rest()}")
    if whole == b"$":
        if not saved:
            raise r.fail("'$' is not allowed here")
        return SAVED_SET
    ranges: list[tuple[int | None, int | None]] = []
    for part in whole.split(b","):
        low, colon, high = part.partition(b":")
        a = _seq_number(r, low, whole, star)
        b = _seq_number(r, high, whole, star) if colon else a
        ranges.append((a, b))
    return SequenceSet(tuple(ranges))


# -- dates (RFC 9051 §9) ---------------------------------------------------------------------------


def date_value(r: Reader) -> date:
    """``date``: ``1-Feb-1994`` or ``"01-Feb-1994"``."""
    m = _DATE_RE.match(r.line, r.pos)
    if m is None:
        raise r.fail(f"Expected a date like 1-Feb-1994, got {r.token_text()}")
    month = MONTHS.get(m.group(3).upper())
    try:
        if month is None:
            raise ValueError("month")
        value = date(int(m.group(4)), month, int(m.group(2)))
    except ValueError:
        raise r.fail(f"Invalid date '{show(m.group())}'")
    r.pos = m.end()
    return value


def datetime_value(r: Reader) -> datetime:
    """``date-time``: ``"17-Jul-1996 02:44:25 -0700"``, timezone-aware."""
    m = _DATETIME_RE.match(r.line, r.pos)
    if m is None:
        raise r.fail(f'Expected a date-time like "17-Jul-1996 02:44:25 -0700", got {r.token_text()}')
    day, mon, year, hh, mm, ss, sign, zh, zm = m.groups()
    month = MONTHS.get(mon.upper())
    try:
        if month is None or int(zm) >= 60:
            raise ValueError("month or zone")
        offset = timedelta(hours=int(zh), minutes=int(zm))
        tz = timezone(-offset if sign == b"-" else offset)
        value = datetime(int(year), month, int(day), int(hh), int(mm), int(ss), tzinfo=tz)
    except ValueError:
        raise r.fail(f"Invalid date-time '{show(m.group())}'")
    r.pos = m.end()
    return value


# -- flags (RFC 9051 §2.3.2, §9 "flag") ------------------------------------------------------------


def flag(r: Reader, *, recent_ok: bool = False) -> str:
    """One ``flag``: system flags in canonical case, keywords as sent.

    ``\\Recent`` may not be set by a client (RFC 3501 §2.3.2) and ``\\*`` only appears in
    PERMANENTFLAGS, so both are refused; so is any other backslash flag (like Dovecot, since no
    such flag could be stored).
    """
    raw = r.match(_FLAG_RE)
    if raw is None:
        raise r.fail(f"Expected a flag, got {r.token_text()}")
    text = raw.decode("ascii")
    if text[0] != "\\":
        return text
    canonical = SYSTEM_FLAGS.get(text.lower())
    if canonical is not None:
        return canonical
    if recent_ok and text.lower() == "\\recent":
        return RECENT
    raise r.fail(f"Flag {text} cannot be set by a client")


def flag_list(r: Reader) -> tuple[str, ...]:
    """``flag-list = "(" [flag *(SP flag)] ")"``."""
    r.expect(0x28, "'(' to open a flag list")
    flags: list[str] = []
    if r.try_char(0x29):
        return ()
    while True:
        flags.append(flag(r))
        if r.try_char(0x29):
            return tuple(flags)
        r.sp()


def keyword(r: Reader) -> str:
    """``flag-keyword = atom`` (RFC 9051 §9)."""
    return r.atom("a keyword").decode("ascii")


# -- mailbox names (RFC 3501 §5.1.3, RFC 6855 §3, RFC 9051 §5.1) ---------------------------------


def decode_mailbox(r: Reader, data: bytes, *, inbox: bool = True) -> str:
    """Decode a mailbox name: modified UTF-7, or UTF-8 once UTF8=ACCEPT is enabled; any case of
    ``INBOX`` becomes ``"INBOX"`` (RFC 9051 §5.1) when ``inbox``."""
    if r.utf8:
        try:
            name = data.decode("utf-8")
        except UnicodeDecodeError:
            raise r.fail(f"Mailbox name '{show(data)}' is not valid UTF-8")
    else:
        try:
            name = modutf7.decode(data.decode("ascii"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise r.fail(f"Mailbox name '{show(data)}' is not valid modified UTF-7 ({exc})")
    if _CONTROL_RE.search(name):
        raise r.fail(f"Mailbox name '{show(data)}' contains control characters")
    if inbox and len(name) == 5 and name.upper() == "INBOX":
        return "INBOX"
    return name


def mailbox(r: Reader) -> str:
    """``mailbox = "INBOX" / astring``."""
    return decode_mailbox(r, r.astring("a mailbox name"))


# -- search text (RFC 9051 §6.4.4 CHARSET) ---------------------------------------------------------


def charset_known(charset: str) -> bool:
    """True if the grammar could decode search strings in ``charset``. Handlers answer
    ``NO [BADCHARSET]`` (RFC 9051 §6.4.4) for a ``Search.charset`` they do not accept."""
    try:
        codecs.lookup(charset)
    except LookupError:
        return False
    return True


def decode_text(data: bytes, charset: str | None) -> str:
    """Search strings: decoded with the named charset when Python knows it, else as UTF-8 (the
    default; clients send UTF-8 even without CHARSET). Undecodable octets become U+FFFD."""
    if charset is not None and charset not in ("UTF-8", "US-ASCII") and charset_known(charset):
        return data.decode(charset, "replace")
    return data.decode("utf-8", "replace")
