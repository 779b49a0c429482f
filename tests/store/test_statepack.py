"""The packed copy of a sidecar's rows (``statepack``): it decodes to exactly the rows it was made from,
and anything that is not that exact copy (another sidecar state, another version or byte order, a
truncated or damaged file) reads as None, so the rows are read instead."""

from __future__ import annotations

import json
import random
import sys
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from maildird.store.maildir import statepack
from maildird.store.maildir.state import Record
from maildird.store.maildir.statepack import MAGIC, PackKey, decode, encode, read, write

KEY = PackKey("0123456789abcdef", 7, "[1, 2, 3, null, null, 4, [5, 6], [7, 8], 9]")
NS = 10**9
SUFFIXES = ["", ":2,", ":2,S", ":2,RS", ":2,FSa", ":1,xyz", ":2,S:2,T", ":2,S,extra"]


def make_rows(count: int, seed: int = 5) -> tuple[list[Record], list[datetime]]:
    """Rows as the sidecar stores them (UID order, gaps, 0/1 in_new, odd names) and their dates."""
    rng = random.Random(seed)
    rows: list[Record] = []
    uid = 0
    for i in range(count):
        uid += rng.randrange(1, 4)
        base = f"{1_600_000_000 + i}.M{rng.randrange(10**6)}P{i}.host,S={i},W={i + 3}"
        if i % 17 == 0:
            base = f"odd\udcff{i}.é.名前"  # a non-UTF-8 file name (surrogate escape) and non-ASCII
        suffix = SUFFIXES[i % len(SUFFIXES)]
        mtime = rng.choice([0, -NS, 2**63 - 1, (1_700_000_000 + i) * NS + rng.randrange(NS)])
        rows.append(Record(uid, base, base + suffix, i % 3 == 0, rng.randrange(10**9), mtime, 2**62 + i))
    dates = [datetime.fromtimestamp(r.mtime_ns // NS, UTC) for r in rows]
    return rows, dates


def sidecar_rows(rows: list[Record]) -> list[tuple[Any, ...]]:
    """What SQLite gives back for these records (in_new as 0/1)."""
    return [(r.uid, r.base, r.name, int(r.in_new), r.size, r.mtime_ns, r.modseq) for r in rows]


def test_round_trip_equals_the_rows() -> None:
    rows, dates = make_rows(500)
    data = encode(KEY, rows, dates)
    assert data is not None
    cols = decode(data, KEY)
    assert cols is not None
    assert cols.rows() == sidecar_rows(rows)
    assert [type(v) for v in cols.rows()[0]] == [int, str, str, int, int, int, int]
    assert cols.dates == dates
    assert all(d.tzinfo is UTC for d in cols.dates)
    assert [cols.suffixes[i] for i in cols.suffix_index] == [r.name[len(r.base) :] for r in rows]


@pytest.mark.parametrize("field", ["epoch", "gen", "mark"])
def test_another_state_is_not_this_pack(field: str) -> None:
    rows, dates = make_rows(20)
    data = encode(KEY, rows, dates)
    assert data is not None
    other = {
        "epoch": PackKey("fedcba9876543210", KEY.gen, KEY.mark),
        "gen": PackKey(KEY.epoch, KEY.gen + 1, KEY.mark),
        "mark": PackKey(KEY.epoch, KEY.gen, KEY.mark + " "),
    }[field]
    assert decode(data, other) is None
    assert decode(data, KEY) is not None


def _with_header(data: bytes, **changes: Any) -> bytes:
    end = data.index(b"\n", len(MAGIC))
    header = json.loads(data[len(MAGIC) : end])
    header.update(changes)
    return MAGIC + json.dumps(header).encode() + data[end:]


@pytest.mark.parametrize(
    "changes",
    [
        {"version": statepack.PACK_VERSION + 1},
        {"order": "big" if sys.byteorder == "little" else "little"},
        {"count": 19},
        {"suffixes": 1},
        {"crc": 0},
        {"lengths": [8] * 9},
    ],
)
def test_a_header_that_does_not_fit_is_refused(tmp_path: Path, changes: dict[str, Any]) -> None:
    rows, dates = make_rows(20)
    data = encode(KEY, rows, dates)
    assert data is not None
    path = tmp_path / "x.pack"
    path.write_bytes(_with_header(data, **changes))
    assert read(path, KEY) is None
    path.write_bytes(_with_header(data))
    assert read(path, KEY) is not None


def test_truncated_or_damaged_files_are_refused(tmp_path: Path) -> None:
    rows, dates = make_rows(300)
    data = encode(KEY, rows, dates)
    assert data is not None
    path = tmp_path / "x.pack"
    path.write_bytes(data)
    assert read(path, KEY) is not None
    for cut in (0, 5, len(MAGIC), len(MAGIC) + 10, len(data) // 2, len(data) - 1):
        path.write_bytes(data[:cut])
        assert read(path, KEY) is None, cut
    rng = random.Random(1)
    body_start = data.index(b"\n", len(MAGIC)) + 1
    for _ in range(40):
        at = rng.randrange(body_start, len(data))
        damaged = bytearray(data)
        damaged[at] ^= 1 << rng.randrange(8)
        path.write_bytes(bytes(damaged))
        assert read(path, KEY) is None, at
    path.write_bytes(data + b"x")
    assert read(path, KEY) is None
    path.write_bytes(b"not a pack at all")
    assert read(path, KEY) is None
    path.write_bytes(MAGIC + b"{not json\n")
    assert read(path, KEY) is None
    path.unlink()
    assert read(path, KEY) is None


def test_damage_the_crc_cannot_see_is_still_refused(tmp_path: Path) -> None:
    """A header that agrees with a damaged body (as if the CRC had been recomputed) still cannot
    give columns that do not add up: the checks after the CRC hold too."""
    rows, dates = make_rows(20)
    data = encode(KEY, rows, dates)
    assert data is not None
    end = data.index(b"\n", len(MAGIC))
    body = bytearray(data[end + 1 :])
    path = tmp_path / "x.pack"
    path.write_bytes(_with_header(data[:end] + b"\n" + bytes(body), crc=zlib.crc32(bytes(body))))
    assert read(path, KEY) is not None  # the forging itself is sound
    body[20 * 8 * 4 + 20 + 4 * 20 + 2] = 13  # a month of 13 in the first date's state
    path.write_bytes(_with_header(data[:end] + b"\n" + bytes(body), crc=zlib.crc32(bytes(body))))
    assert read(path, KEY) is None


@pytest.mark.parametrize(
    "damage",
    ["nul in a name", "base not a prefix", "colon in a base", "mtime past 64 bits", "fewer dates", "empty"],
)
def test_rows_that_cannot_be_packed(damage: str) -> None:
    rows, dates = make_rows(10)
    r = rows[3]
    if damage == "nul in a name":
        rows[3] = r._replace(base=r.base + "\0x", name=r.base + "\0x:2,S")
    elif damage == "base not a prefix":
        rows[3] = r._replace(name="other:2,S")
    elif damage == "colon in a base":
        rows[3] = r._replace(base="a:b", name="a:b:2,S")
    elif damage == "mtime past 64 bits":
        rows[3] = r._replace(mtime_ns=2**63)
    elif damage == "fewer dates":
        dates = dates[:-1]
    else:
        rows, dates = [], []
    assert encode(KEY, rows, dates) is None


def test_write_only_for_large_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows, dates = make_rows(30)
    path = tmp_path / "a.pack"
    monkeypatch.setattr(statepack, "PACK_MIN_MESSAGES", 31)
    assert not write(path, KEY, rows, dates)
    assert not path.exists()
    monkeypatch.setattr(statepack, "PACK_MIN_MESSAGES", 30)
    assert write(path, KEY, rows, dates)
    cols = read(path, KEY)
    assert cols is not None and cols.rows() == sidecar_rows(rows)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pack"]  # no temporary file left


def test_pack_path_beside_the_sidecar(tmp_path: Path) -> None:
    assert statepack.pack_path(tmp_path / "abc.sqlite") == tmp_path / "abc.pack"
    assert statepack.pack_path(Path(":memory:")) is None


def test_columns_are_the_transpose() -> None:
    rows, _ = make_rows(50)
    assert statepack.columns(rows, statepack.ROW_WIDTH) == [list(c) for c in zip(*rows, strict=True)]
    assert statepack.columns(iter(rows), statepack.ROW_WIDTH) == [list(c) for c in zip(*rows, strict=True)]


def test_dates_that_are_not_utc_are_not_packed() -> None:
    from datetime import timedelta, timezone

    rows, dates = make_rows(10)
    dates[4] = dates[4].astimezone(timezone(timedelta(hours=2)))
    assert encode(KEY, rows, dates) is None
    dates[4] = dates[4].replace(tzinfo=None)
    assert encode(KEY, rows, dates) is None
