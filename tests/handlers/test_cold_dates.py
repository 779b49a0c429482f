"""``fetch_dates.internaldate_bytes`` (day and zone parts remembered, one ``%`` per date) gives the
octets of ``updates.internaldate`` (RFC 9051 §9 ``date-time``) for every kind of datetime INTERNALDATE
holds: UTC, fixed offsets either side (half hours, seconds in the offset), no zone at all, zones with
daylight saving, years below 1000, and the same instant in two zones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maildird.handlers import fetch_dates
from maildird.handlers.fetch_dates import internaldate_bytes
from maildird.handlers.updates import internaldate

ZONES: list[tzinfo | None] = [
    None,
    UTC,
    timezone(timedelta(hours=-7)),
    timezone(timedelta(hours=5, minutes=30)),
    timezone(timedelta(minutes=-30)),
    timezone(timedelta(hours=14)),
    timezone(timedelta(hours=-12)),
    timezone(timedelta(seconds=-30)),  # local mean time style: the offset floors to -0001
    timezone(timedelta(minutes=-1, seconds=-15)),
    ZoneInfo("Europe/Berlin"),
    ZoneInfo("America/St_Johns"),
]


@pytest.mark.parametrize("zone", ZONES, ids=repr)
@pytest.mark.parametrize(
    "when",
    [
        datetime(1996, 7, 17, 2, 44, 25),
        datetime(2024, 3, 31, 1, 59, 59, 999999),
        datetime(2024, 10, 27, 2, 30),
        datetime(1, 1, 1, 0, 0),
        datetime(999, 12, 31, 23, 59, 59),
        datetime(9999, 12, 31, 23, 59, 59),
    ],
    ids=str,
)
def test_the_same_octets_as_internaldate(when: datetime, zone: tzinfo | None) -> None:
    value = when.replace(tzinfo=zone)
    fetch_dates._DATES.clear()
    assert internaldate_bytes(value) == internaldate(value).encode("ascii")
    assert internaldate_bytes(value) == internaldate(value).encode("ascii")  # remembered


def test_one_instant_in_two_zones_keeps_two_strings() -> None:
    utc = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
    west = utc.astimezone(timezone(timedelta(hours=-7)))
    assert utc == west
    assert internaldate_bytes(utc) == b"01-Jan-2024 12:00:00 +0000"
    assert internaldate_bytes(west) == b"01-Jan-2024 05:00:00 -0700"


def test_full_caches_start_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fetch_dates, "DATE_CACHE_SIZE", 3)
    base = datetime(2020, 1, 1, tzinfo=UTC)
    for n in range(20):
        when = base + timedelta(days=n, seconds=n)
        assert internaldate_bytes(when) == internaldate(when).encode("ascii")
    assert len(fetch_dates._DATES) <= 3 and len(fetch_dates._DAYS) <= 3


@given(
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    st.integers(min_value=-(24 * 3600 - 1), max_value=24 * 3600 - 1),
)
def test_any_date_and_offset(when: datetime, seconds: int) -> None:
    value = when.replace(tzinfo=timezone(timedelta(seconds=seconds)))
    assert internaldate_bytes(value) == internaldate(value).encode("ascii")


def test_the_zone_parts_remembered_stay_within_the_cache_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every remembered part is bounded (``DATE_CACHE_SIZE``), the zones as the days: mail from
    senders in ever other odd offsets cannot grow the server."""
    monkeypatch.setattr(fetch_dates, "DATE_CACHE_SIZE", 8)
    fetch_dates._ZONES.clear()
    for minutes in range(-600, 600, 15):
        value = datetime(2024, 3, 1, 12, 0, tzinfo=timezone(timedelta(minutes=minutes)))
        assert internaldate_bytes(value) == internaldate(value).encode("ascii")
        assert len(fetch_dates._ZONES) <= 8
