"""dovecot-keywords (maildir-format.md §4) against the bytes Dovecot wrote."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maildird.store.maildir.keywords import (
    KEYWORDS_NAME,
    MAX_KEYWORDS,
    KeywordLimit,
    Keywords,
    LockNotHeld,
    parse_keywords,
    serialize_keywords,
)
from maildird.store.maildir.lock import UidlistLock

APPENDIX_A = b"0 $Label1\n1 Junk\n2 NonJunk\n16 unknown-16\n"


def test_parse_appendix_a() -> None:
    assert parse_keywords(APPENDIX_A) == {0: "$Label1", 1: "Junk", 2: "NonJunk", 16: "unknown-16"}
    assert serialize_keywords(parse_keywords(APPENDIX_A)) == APPENDIX_A


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"0 a\n", {0: "a"}),
        (b"nospace\n0 a\n", {0: "a"}),  # old .customflags first line
        (b"26 toolarge\n25 z\n", {25: "z"}),
        (b"0 \n1 b\n", {1: "b"}),  # empty name
        (b"0 Junk\n1 junk\n", {0: "Junk"}),  # duplicate, case-insensitive
        (b"x y\n3 d\n", {3: "d"}),
        (b"0 a\r\n1 b", {0: "a", 1: "b"}),
        (b"0 a\n0 b\n", {0: "a"}),
    ],
)
def test_parse_skips_bad_lines(data: bytes, expected: dict[int, str]) -> None:
    assert parse_keywords(data) == expected


def test_letters_and_allocation(tmp_path: Path) -> None:
    (tmp_path / KEYWORDS_NAME).write_bytes(APPENDIX_A)
    kw = Keywords.load(tmp_path)
    assert kw.letter_for("junk") == "b"
    assert kw.letter_for("NONJUNK") == "c"
    assert kw.letter_for("$Forwarded") is None
    assert not kw.dirty
    assert kw.letter_for("$Forwarded", allocate=True) == "d"  # lowest free index
    assert kw.letter_for("Other", allocate=True) == "e"
    assert kw.name_for("q") == "unknown-16"
    assert kw.name_for("a") == "$Label1"
    assert kw.dirty


def test_unknown_letter_is_named_and_written(tmp_path: Path) -> None:
    kw = Keywords.load(tmp_path)
    assert kw.mtime_ns is None
    assert kw.name_for("q") == "unknown-16"
    assert kw.dirty
    with UidlistLock(tmp_path):
        kw.save(tmp_path)
    assert (tmp_path / KEYWORDS_NAME).read_bytes() == b"16 unknown-16\n"  # E1i
    clash = Keywords({0: "unknown-1"})
    assert clash.name_for("b") == "unknown-1?"


def test_limit() -> None:
    kw = Keywords({i: f"kw{i:02}" for i in range(MAX_KEYWORDS)})
    assert kw.is_full()
    assert kw.letter_for("KW05", allocate=True) == "f"
    with pytest.raises(KeywordLimit) as info:
        kw.letter_for("kw26", allocate=True)
    assert info.value.code == "LIMIT"


def test_save_needs_the_uidlist_lock(tmp_path: Path) -> None:
    kw = Keywords()
    kw.letter_for("Junk", allocate=True)
    with pytest.raises(LockNotHeld):
        kw.save(tmp_path)
    assert not (tmp_path / KEYWORDS_NAME).exists()
    (tmp_path / "dovecot-uidlist.lock").write_bytes(b"1:otherhost")
    with pytest.raises(LockNotHeld):
        kw.save(tmp_path)


def test_save_mtime_grows_and_removes_stale_lock(tmp_path: Path) -> None:
    path = tmp_path / KEYWORDS_NAME
    path.write_bytes(b"0 $Label1\n")
    future = 4_000_000_000  # an mtime in the future: the new file must still be newer
    os.utime(path, (future, future))
    (tmp_path / "dovecot-keywords.lock").write_bytes(b"leftover")
    kw = Keywords.load(tmp_path)
    kw.letter_for("Junk", allocate=True)
    with UidlistLock(tmp_path):
        kw.save(tmp_path)
    assert path.read_bytes() == b"0 $Label1\n1 Junk\n"
    assert int(os.stat(path).st_mtime) == future + 1
    assert not (tmp_path / "dovecot-keywords.lock").exists()
    assert not kw.dirty
    assert not kw.changed_on_disk(tmp_path)
    # a second save in the same second still grows the mtime
    kw.letter_for("NonJunk", allocate=True)
    with UidlistLock(tmp_path):
        kw.save(tmp_path)
    assert int(os.stat(path).st_mtime) == future + 2
    assert Keywords.load(tmp_path).by_index == {0: "$Label1", 1: "Junk", 2: "NonJunk"}


def test_changed_on_disk(tmp_path: Path) -> None:
    kw = Keywords.load(tmp_path)
    assert not kw.changed_on_disk(tmp_path)
    (tmp_path / KEYWORDS_NAME).write_bytes(b"0 a\n")
    assert kw.changed_on_disk(tmp_path)


@given(st.lists(st.sampled_from([f"k{i}" for i in range(40)] + ["K1", "K2"]), max_size=60))
def test_never_renumber(names: list[str]) -> None:
    kw = Keywords({3: "Junk", 10: "NonJunk"})
    assigned: dict[str, str] = {"junk": "d", "nonjunk": "k"}
    for name in names:
        try:
            letter = kw.letter_for(name, allocate=True)
        except KeywordLimit:
            assert len(kw.by_index) == MAX_KEYWORDS
            continue
        assert letter is not None
        if name.lower() in assigned:
            assert assigned[name.lower()] == letter
        assigned[name.lower()] = letter
        # every earlier assignment still holds
        for n, lt in assigned.items():
            assert kw.letter_for(n) == lt
    again = Keywords(parse_keywords(serialize_keywords(kw.by_index)))
    assert again.by_index == kw.by_index
