"""New files get UIDs in Dovecot's order (maildir-format.md §3.3.3): the precomputed ``SortKey``
compares every pair exactly like a direct transcription of ``maildir_filename_sort_cmp``."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from maildird.store.maildir.filenames import sort_key

_DIGITS = re.compile(r"\d*")
_USEC = re.compile(r"\.M(\d*)")


def reference_cmp(a: str, b: str) -> int:
    """Dovecot's comparison, one pair at a time: leading seconds, then ``.M<usecs>`` when both have
    one, then the rest of the base name byte-wise."""
    da, db = _DIGITS.match(a), _DIGITS.match(b)
    assert da is not None and db is not None
    sa, sb = int(da.group() or "0"), int(db.group() or "0")
    if sa != sb:
        return -1 if sa < sb else 1
    ra, rb = a[da.end() :], b[db.end() :]
    ma, mb = _USEC.match(ra), _USEC.match(rb)
    if ma is not None and mb is not None:
        ua, ub = int(ma.group(1) or "0"), int(mb.group(1) or "0")
        if ua != ub:
            return -1 if ua < ub else 1
        ra, rb = ra[ma.end() :], rb[mb.end() :]
    ba, bb = ra.split(":", 1)[0].encode(), rb.split(":", 1)[0].encode()
    return (ba > bb) - (ba < bb)


names = st.builds(
    lambda secs, usec, rest, info: f"{secs}{usec}{rest}{info}",
    st.sampled_from(["", "0", "7", "17", "1700000000", "01700000000"]),
    st.sampled_from(["", ".M", ".M0", ".M5", ".M123456", ".M99"]),
    st.text(alphabet="P12.,=SWhostéx", max_size=8),
    st.sampled_from(["", ":2,S", ":2,", ":1,x"]),
)


@given(names, names)
def test_pairs_compare_like_dovecot(a: str, b: str) -> None:
    ka, kb = sort_key(a), sort_key(b)
    expected = reference_cmp(a, b)
    assert (ka < kb, ka == kb, kb < ka) == (expected < 0, expected == 0, expected > 0)


def test_a_batch_sorts_by_seconds_then_usecs() -> None:
    batch = ["1700000001.M5P1.h", "1700000000.M100000P1.h", "1700000000.M99999P1.h", "99.Vfd01I1.host"]
    assert sorted(batch, key=sort_key) == [
        "99.Vfd01I1.host",
        "1700000000.M99999P1.h",
        "1700000000.M100000P1.h",
        "1700000001.M5P1.h",
    ]
