"""INTERNALDATE as octets for FETCH responses (RFC 9051 §9 ``date-time``), fast and bounded.

A message list's first ENVELOPE/INTERNALDATE fetch after a restart formats every message's date:
``updates.internaldate`` (an f-string of eight fields, then an encode) took 100-120 ms for 10,000 on
the benchmark machine. Here each date is made from a day part and a zone part remembered per day and
per UTC offset, with one ``%`` for the time (25-30 ms), and the result is remembered per instant and
zone. Every memory is bounded by ``DATE_CACHE_SIZE`` (emptied when full). The octets are those of
``updates.internaldate`` (tests/handlers/test_cold_dates.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo

from maildird.handlers.updates import MONTHS

DATE_CACHE_SIZE = 16384
"""INTERNALDATE strings remembered (about 200 octets each): a message list's dates, formatted once
(``internaldate`` costs ~5 µs, a third of a warm 10,000-message FETCH); emptied when full."""

_DATES: dict[tuple[datetime, tzinfo | None], bytes] = {}
_DAYS: dict[tuple[int, int, int], bytes] = {}
_ZONES: dict[timedelta | None, bytes] = {}


def internaldate_bytes(when: datetime) -> bytes:
    """``internaldate(when)`` as ASCII octets, remembered per instant and zone (two datetimes of one
    instant in different zones are equal, and must not share their string)."""
    key = (when, when.tzinfo)
    data = _DATES.get(key)
    if data is None:
        if len(_DATES) >= DATE_CACHE_SIZE:
            _DATES.clear()
        data = _DATES[key] = _date_bytes(when)
    return data


def _date_bytes(when: datetime) -> bytes:
    """The octets of ``updates.internaldate(when)`` (RFC 9051 §9 ``date-time``), made from a day part
    and a zone part remembered per day and per offset, and one ``%`` for the time. A message list's
    first ENVELOPE/INTERNALDATE fetch after a restart formats every message's date once: 10,000 with
    ``internaldate`` took 100-120 ms on the benchmark machine (load 4), this 25-30 ms (the same
    octets: tests/handlers/test_cold_dates.py)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    offset = when.utcoffset()
    zone = _ZONES.get(offset)
    if zone is None:
        if len(_ZONES) >= DATE_CACHE_SIZE:
            _ZONES.clear()
        minutes = int(offset.total_seconds() // 60) if offset is not None else 0
        sign = b"-" if minutes < 0 else b"+"
        minutes = abs(minutes)
        zone = _ZONES[offset] = b" %s%02d%02d" % (sign, minutes // 60, minutes % 60)
    day = (when.year, when.month, when.day)
    prefix = _DAYS.get(day)
    if prefix is None:
        if len(_DAYS) >= DATE_CACHE_SIZE:
            _DAYS.clear()
        month = MONTHS[when.month - 1].encode("ascii")
        prefix = _DAYS[day] = b"%02d-%s-%04d " % (when.day, month, when.year)
    return b"%s%02d:%02d:%02d%s" % (prefix, when.hour, when.minute, when.second, zone)


__all__ = ["DATE_CACHE_SIZE", "internaldate_bytes"]
