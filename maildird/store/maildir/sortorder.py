"""New base names in Dovecot's UID order, sorted with native keys when every name allows it.

Theory of operation (maildir-format.md §3.3.3; ``filenames.sort_key``):

* Dovecot's ``maildir_filename_sort_cmp`` compares the leading decimal seconds, then, when BOTH names
  carry ``.M<usecs>`` after them, the microseconds and the rest of the base, else the rest after the
  seconds. ``filenames.SortKey`` is that comparison as a Python ``__lt__``: sorting the 100,000 names
  of a folder opened for the first time calls it ~1.7 million times (about a second).
* Within a set where every name has ``.M`` the comparison is the order of (seconds, usecs, rest
  after them); where none has it, of (seconds, rest after them). Either is the order of one string
  per name (the numbers zero-padded to a common width, then the rest), built by one regular
  expression over all names and C-level ``map`` calls, and sorting is stable like the
  comparison-based sort, so the order is the same, ties included (100,000 names: ~0.7 -> ~0.2 s).
* A set that mixes both kinds (the comparison is then not a key order) takes ``SortKey``, as does
  any name holding ``:`` (the rest is cut there) or a newline, or a character UTF-8 cannot encode
  (``SortKey`` compares encoded octets; for the others code point order is UTF-8 octet order).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from operator import methodcaller
from typing import Any, cast

from maildird.store.maildir.filenames import INFO_SEP, sort_key

__all__ = ["dovecot_order"]

NEWLINE = "\n"

_LINE = re.compile(r"^(\d*)(\.M)?(\d*)(.*)$", re.MULTILINE)
"""One name per line: leading seconds, ``.M`` when present, its microseconds, the rest (the parts
``SortKey`` compares). Without ``.M`` the microseconds group is empty: the seconds took every digit."""
MAX_KEY_DIGITS = 40
"""Past this many digits of seconds and microseconds together, the padded keys would be wasteful:
``SortKey`` then sorts."""


def dovecot_order(names: Iterable[str]) -> list[str]:
    """``sorted(names, key=filenames.sort_key)``, with native keys when possible (module docstring).

    The key of a name is its seconds and microseconds, each zero-padded to the widest of the set,
    followed by the rest: one string, compared in C."""
    names = list(names)
    if len(names) < 2:
        return names
    joined = NEWLINE.join(names)
    if INFO_SEP in joined or NEWLINE in "".join(names) or (not joined.isascii() and not _encodable(joined)):
        return _slow(names)
    found = _LINE.findall(joined)
    if len(found) != len(names):
        return _slow(names)
    secs, marks, usecs, rests = zip(*found, strict=True)
    with_usec = len(marks) - marks.count("")
    if with_usec not in (0, len(names)):
        return _slow(names)
    width, usec_width = max(map(len, secs)), max(map(len, usecs))
    if width + usec_width > MAX_KEY_DIGITS:
        return _slow(names)
    padded = map(
        str.__add__, map(methodcaller("zfill", width), secs), map(methodcaller("zfill", usec_width), usecs)
    )
    keys = list(map(str.__add__, padded, rests))
    order = sorted(range(len(names)), key=keys.__getitem__)  # stable, as the comparison sort
    return list(map(names.__getitem__, order))


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _slow(names: list[str]) -> list[str]:
    return sorted(names, key=lambda n: cast(Any, sort_key(n)))
