"""Maildir message file names: base name, ``,S=``/``,W=`` sizes, the ``:2,<flags>`` info suffix.

Theory of operation (maildir-format.md §1.3-1.5, §1.9):

* The *base name* is the name up to the FIRST ``:`` (or the whole name). It is a message's identity:
  dovecot-uidlist stores it and flag changes never alter it.
* Flags come from the LAST ``:`` and only when it is followed by ``2,``. A ``,`` inside the flag field
  ends the flags; the rest (from that ``,`` on) is kept untouched ("another flagset", Dovecot).
* Writing flags keeps everything before the last ``:`` (Dovecot ``maildir_filename_flags_full_set``),
  replaces an ``:1,...`` or any other info with ``:2,<flags>``, and emits the letters in ASCII order:
  ``D F P R S T`` (IMAP system flags), unknown characters kept, ``a..z`` keyword letters.
* ``P`` (passed) is exposed as the keyword ``$Forwarded`` (mbsync's mapping), so a client's
  ``$Forwarded`` round-trips through mbsync.
"""

from __future__ import annotations

import functools
import os
import re
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

INFO_SEP = ":"
"""Dovecot's ``MAILDIR_INFO_SEP``; only ``:`` is compatible with Dovecot (§1.6)."""

FLAGS_PREFIX = "2,"
EXTRA_SEP = ","

SYSTEM_LETTERS: dict[str, str] = {
    "D": "\\Draft",
    "F": "\\Flagged",
    "P": "$Forwarded",
    "R": "\\Answered",
    "S": "\\Seen",
    "T": "\\Deleted",
}
"""Upper-case flag letters and the IMAP flag each stands for (§1.5; ``P`` -> ``$Forwarded`` as mbsync)."""

_NAME_TO_LETTER: dict[str, str] = {name.lower(): letter for letter, name in SYSTEM_LETTERS.items()}

USEC_PER_SEC = 1_000_000

KEYWORD_LETTERS = "abcdefghijklmnopqrstuvwxyz"
"""Letters that stand for keywords through dovecot-keywords (index 0..25, §4)."""

_SIZE_RE = re.compile(r",S=(\d+)(?=[:,]|$)")
_VSIZE_RE = re.compile(r",W=(\d+)(?=[:,]|$)")
_LEADING_DIGITS_RE = re.compile(r"\d*")
_USEC_RE = re.compile(r"\.M(\d*)")


@dataclass(frozen=True, slots=True)
class MaildirName:
    """A parsed message file name.

    ``base``: up to the first ``:``. ``letters``: the flag characters of a ``:2,`` info (as found).
    ``extra``: the ``,``-suffix of the flag field (with its leading ``,``) or ``''``. ``has_info``:
    the name has a ``:`` at all. ``size``/``vsize``: the ``,S=``/``,W=`` values of the base, if any.
    ``stem``: everything before the last ``:`` (equal to ``base`` for every sane name; different
    only for odd names such as ``x:2,S:2,T``, which Dovecot rewrites as ``x:2,S:2,<flags>``).
    """

    base: str
    letters: str
    extra: str
    has_info: bool
    size: int | None
    vsize: int | None
    stem: str = ""

    @property
    def prefix(self) -> str:
        """What a flag rewrite keeps in front of ``:2,``."""
        return self.stem or self.base

    @property
    def system_flags(self) -> frozenset[str]:
        """The IMAP system flags (and ``$Forwarded``) set in the name."""
        return frozenset(SYSTEM_LETTERS[c] for c in self.letters if c in SYSTEM_LETTERS)

    @property
    def keyword_letters(self) -> frozenset[str]:
        """The ``a..z`` letters set in the name (map them through dovecot-keywords)."""
        return frozenset(c for c in self.letters if c in KEYWORD_LETTERS)


def parse_name(name: str) -> MaildirName:
    """Split a file name per maildir-format.md §1.9 (``parse``)."""
    first = name.find(INFO_SEP)
    if first < 0:
        return MaildirName(name, "", "", False, _int_field(_SIZE_RE, name), _int_field(_VSIZE_RE, name), name)
    base = name[:first]
    last = name.rfind(INFO_SEP)
    info = name[last + 1 :]
    letters = ""
    extra = ""
    if info.startswith(FLAGS_PREFIX):
        field = info[len(FLAGS_PREFIX) :]
        comma = field.find(EXTRA_SEP)
        if comma >= 0:
            letters, extra = field[:comma], field[comma:]
        else:
            letters = field
    return MaildirName(
        base, letters, extra, True, _int_field(_SIZE_RE, base), _int_field(_VSIZE_RE, base), name[:last]
    )


def _int_field(pattern: re.Pattern[str], text: str) -> int | None:
    match = pattern.search(text)
    return int(match.group(1)) if match else None


def vsize_of(name: str) -> int | None:
    """The ``,W=`` value (RFC822.SIZE) of a file name's base, without parsing the rest of it."""
    first = name.find(INFO_SEP)
    base = name if first < 0 else name[:first]
    return _int_field(_VSIZE_RE, base) if ",W=" in base else None


def base_of(name: str) -> str:
    """The base name of a file name: up to the first ``:`` (Dovecot ``maildir_filename_base_cmp``)."""
    first = name.find(INFO_SEP)
    return name if first < 0 else name[:first]


def system_letters(flags: Iterable[str], *, manage_forwarded: bool = True) -> frozenset[str]:
    """Letters for IMAP system flag names (case-insensitive, RFC 9051 §2.3.2).

    Accepts the flag names of ``SYSTEM_LETTERS`` and, for convenience, the single letters
    themselves. ``\\Recent`` is session state and is ignored. Anything else raises ``ValueError``:
    keywords go through dovecot-keywords letters instead. With ``manage_forwarded=False`` the
    name ``$Forwarded`` is refused (``P`` is then kept as an unknown letter).
    """
    out: set[str] = set()
    for flag in flags:
        if flag.lower() == "\\recent":
            continue
        letter = flag if flag in SYSTEM_LETTERS else _NAME_TO_LETTER.get(flag.lower())
        if letter is None or (letter == "P" and not manage_forwarded):
            raise ValueError(f"not a Maildir system flag: {flag!r}")
        out.add(letter)
    return frozenset(out)


def is_system_flag(flag: str) -> bool:
    """True for the flag names that map to an upper-case letter (``\\Seen``, ``$Forwarded``...)."""
    return flag.lower() in _NAME_TO_LETTER


def with_flags(
    name: MaildirName,
    system: frozenset[str],
    keyword_letters: frozenset[str],
    *,
    manage_forwarded: bool = True,
) -> str:
    """The full file name carrying exactly these flags (maildir-format.md §1.9 ``emit``).

    ``system``: IMAP system flag names (see ``system_letters``). ``keyword_letters``: letters
    ``a..z``. Unknown characters of the old flag field are kept; so is ``P`` when
    ``manage_forwarded`` is false. Letters come out in ASCII order, each once.
    """
    managed = set("DFRST") | set(KEYWORD_LETTERS)
    if manage_forwarded:
        managed.add("P")
    bad = [c for c in keyword_letters if c not in KEYWORD_LETTERS or len(c) != 1]
    if bad:
        raise ValueError(f"not keyword letters: {bad!r}")
    keep = {c for c in name.letters if c not in managed}
    letters = set(system_letters(system, manage_forwarded=manage_forwarded)) | set(keyword_letters) | keep
    return f"{name.prefix}{INFO_SEP}{FLAGS_PREFIX}{''.join(sorted(letters))}{name.extra}"


def is_message_name(name: str) -> bool:
    """True for directory entries of new/ and cur/ that are messages (§1.1).

    Dot-files are not messages; a name starting with ``:`` has no unique part (Dovecot renames
    those); names with CR/LF are ignored by Dovecot; ``/`` cannot occur in a file name.
    """
    # Three ``in`` tests, not a generator: this runs once per file per full sync.
    return bool(name) and name[0] not in ".:" and "\n" not in name and "\r" not in name and "/" not in name


def sort_key(name: str) -> SortKey:
    """A key ordering names like Dovecot's ``maildir_filename_sort_cmp`` (§3.3.3).

    Leading decimal seconds first, then the ``.M<usecs>`` value when both names have one, then the
    rest of the base name. New files of one sync get UIDs in this order.
    """
    return SortKey(name)


@functools.total_ordering
class SortKey:
    """Orders file names like Dovecot's ``maildir_filename_sort_cmp``; build it with ``sort_key``.

    The parts are parsed once per name, not once per comparison: sorting the 100,000 names of a
    folder opened for the first time makes about 1.7 million comparisons."""

    __slots__ = ("after_secs", "after_usec", "name", "secs", "usec")

    def __init__(self, name: str) -> None:
        self.name = name
        digits = _LEADING_DIGITS_RE.match(name)
        assert digits is not None
        self.secs = int(digits.group() or "0")
        rest = name[digits.end() :]
        self.after_secs = base_of(rest).encode()
        usec = _USEC_RE.match(rest)
        self.usec = int(usec.group(1) or "0") if usec is not None else None
        self.after_usec = base_of(rest[usec.end() :]).encode() if usec is not None else b""

    def _cmp(self, other: SortKey) -> int:
        if self.secs != other.secs:
            return -1 if self.secs < other.secs else 1
        if self.usec is not None and other.usec is not None:
            if self.usec != other.usec:
                return -1 if self.usec < other.usec else 1
            a, b = self.after_usec, other.after_usec
        else:
            a, b = self.after_secs, other.after_secs
        return (a > b) - (a < b)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SortKey) and self._cmp(other) == 0

    def __lt__(self, other: SortKey) -> bool:
        return self._cmp(other) < 0

    def __hash__(self) -> int:
        return hash(self.name)


def _sort_cmp(a: str, b: str) -> int:
    """Dovecot's comparison of two names (``maildir_filename_sort_cmp``), one pair at a time."""
    return SortKey(a)._cmp(SortKey(b))


# --------------------------------------------------------------------------------------------------
# New base names


def escape_host(host: str) -> str:
    """Escape ``/`` and ``:`` in a host name as ``\\057`` / ``\\072`` [DJB]."""
    return host.replace("/", "\\057").replace(":", "\\072")


class _UniqueClock:
    """Hands out (seconds, microseconds) pairs that never repeat within the process.

    Dovecot bumps the microseconds when the clock has not moved (``maildir_filename_generate``).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = (0, -1)
        self._pid = -1

    def next(self) -> tuple[int, int, int]:
        with self._lock:
            pid = os.getpid()
            if pid != self._pid:  # a forked child starts its own sequence (its pid differs)
                self._pid, self._last = pid, (0, -1)
            now_us = time.time_ns() // 1000
            sec, usec = divmod(now_us, USEC_PER_SEC)
            if (sec, usec) <= self._last:
                sec, usec = self._last[0], self._last[1] + 1
                if usec >= USEC_PER_SEC:
                    sec, usec = sec + 1, 0
            self._last = (sec, usec)
            return sec, usec, pid


_CLOCK = _UniqueClock()


def new_base_name(size: int, vsize: int, *, host: str | None = None) -> str:
    """A fresh base name in Dovecot's form ``<sec>.M<usec>P<pid>.<host>,S=<size>,W=<vsize>`` (§1.3-1.4).

    ``size`` is the file's byte count, ``vsize`` its RFC822.SIZE (CRLF line endings).
    """
    sec, usec, pid = _CLOCK.next()
    return f"{sec}.M{usec}P{pid}.{escape_host(host or socket.gethostname())},S={size},W={vsize}"
