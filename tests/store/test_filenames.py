"""Maildir file names against the names Dovecot wrote in maildir-format.md (§1.3-1.5, Appendix A)."""

from __future__ import annotations

import os
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maildird.store.maildir.filenames import (
    SYSTEM_LETTERS,
    MaildirName,
    base_of,
    is_message_name,
    new_base_name,
    parse_name,
    sort_key,
    system_letters,
    with_flags,
)

# fmt: off
PARSE_TABLE = [
    # name, base, letters, extra, has_info, size, vsize
    ("1795836464.M53864P25416.vm,S=86,W=92", "1795836464.M53864P25416.vm,S=86,W=92", "", "", False, 86, 92),
    ("1795836464.M53864P25416.vm,S=86,W=92:2,DFRScq", "1795836464.M53864P25416.vm,S=86,W=92", "DFRScq", "",
     True, 86, 92),
    ("1795836464.M115755P25416.vm,S=86,W=92:2,FSab", "1795836464.M115755P25416.vm,S=86,W=92", "FSab", "",
     True, 86, 92),
    ("1700000000.Vfd01I4242M123456.otherhost", "1700000000.Vfd01I4242M123456.otherhost", "", "", False, None,
     None),
    # E4h: base to the FIRST ':', flags from the LAST ':'
    ("x:2,S:2,T", "x", "T", "", True, None, None),
    # E8b: ':1,' info carries no flags
    ("y:1,experimental", "y", "", "", True, None, None),
    # a ',' ends the flag field; the rest is kept
    ("z:2,FS,X=1,Y", "z", "FS", ",X=1,Y", True, None, None),
    # §1.6: ';' and '!' separators are part of the base for Dovecot
    ("1700000300.M1P1.win;2,S", "1700000300.M1P1.win;2,S", "", "", False, None, None),
    ("1700000300.M1P1.win!2,S", "1700000300.M1P1.win!2,S", "", "", False, None, None),
    # offlineimap / mbsync
    ("1_2.3.host,U=17,FMD5=abc:2,FS", "1_2.3.host,U=17,FMD5=abc", "FS", "", True, None, None),
    ("a,U=5:2,", "a,U=5", "", "", True, None, None),
    # ,S= only counts when followed by ':', ',' or the end
    ("a,S=12x,W=3", "a,S=12x,W=3", "", "", False, None, 3),
    ("a,S=12,W=3x:2,S", "a,S=12,W=3x", "S", "", True, 12, None),
]
# fmt: on


@pytest.mark.parametrize(("name", "base", "letters", "extra", "has_info", "size", "vsize"), PARSE_TABLE)
def test_parse_table(
    name: str, base: str, letters: str, extra: str, has_info: bool, size: int | None, vsize: int | None
) -> None:
    parsed = parse_name(name)
    assert (parsed.base, parsed.letters, parsed.extra, parsed.has_info, parsed.size, parsed.vsize) == (
        base,
        letters,
        extra,
        has_info,
        size,
        vsize,
    )
    assert base_of(name) == base


WITH_FLAGS_TABLE = [
    # name, system, keyword letters, expected
    ("1795836464.M53864P25416.vm,S=86,W=92", {"\\Seen"}, set(), "1795836464.M53864P25416.vm,S=86,W=92:2,S"),
    ("b:2,", {"\\Seen", "\\Answered", "\\Flagged", "\\Draft"}, {"q", "c"}, "b:2,DFRScq"),
    # E8b: ':1,' is replaced by ':2,<flags>'
    ("y:1,experimental", {"\\Seen"}, set(), "y:2,S"),
    # E4h: Dovecot keeps everything up to the LAST ':'
    ("x:2,S:2,T", {"\\Seen"}, set(), "x:2,S:2,S"),
    # unknown letters kept, in ASCII order with the rest
    ("u:2,AS", {"\\Flagged"}, set(), "u:2,AF"),
    ("u:2,S9", set(), {"a"}, "u:2,9a"),
    # the ','-suffix is kept
    ("z:2,FS,X=1", {"\\Seen"}, set(), "z:2,S,X=1"),
    # P is $Forwarded
    ("p:2,PS", {"\\Seen"}, set(), "p:2,S"),
    ("p:2,S", {"$Forwarded", "\\Seen"}, set(), "p:2,PS"),
    ("p:2,T", {"\\deleted", "\\SEEN", "\\Recent"}, set(), "p:2,ST"),
    # letters accepted as well as names
    ("l", {"S", "T"}, {"z", "a"}, "l:2,STaz"),
    ("e:2,Sa", set(), set(), "e:2,"),
]


@pytest.mark.parametrize(("name", "system", "kw", "expected"), WITH_FLAGS_TABLE)
def test_with_flags_table(name: str, system: set[str], kw: set[str], expected: str) -> None:
    assert with_flags(parse_name(name), frozenset(system), frozenset(kw)) == expected


def test_unmanaged_forwarded_keeps_p() -> None:
    name = parse_name("p:2,PS")
    assert with_flags(name, frozenset({"\\Flagged"}), frozenset(), manage_forwarded=False) == "p:2,FP"
    with pytest.raises(ValueError):
        with_flags(name, frozenset({"$Forwarded"}), frozenset(), manage_forwarded=False)


def test_bad_flags_refused() -> None:
    with pytest.raises(ValueError):
        with_flags(parse_name("a"), frozenset({"$Junk"}), frozenset())
    with pytest.raises(ValueError):
        with_flags(parse_name("a"), frozenset(), frozenset({"A"}))


def test_system_letters_mapping() -> None:
    assert SYSTEM_LETTERS["P"] == "$Forwarded"
    assert system_letters(["\\Seen", "\\answered", "$forwarded"]) == frozenset("SRP")
    assert parse_name("q:2,DFPRSTab").system_flags == frozenset(SYSTEM_LETTERS.values())
    assert parse_name("q:2,DFPRSTab").keyword_letters == frozenset("ab")


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("1795836464.M53864P25416.vm,S=86,W=92:2,S", True),
        (".uidvalidity", False),
        (".mbsyncstate", False),
        (":2,S", False),
        ("a\nb", False),
        ("a\rb", False),
        ("", False),
        ("msg.1234", True),
    ],
)
def test_is_message_name(name: str, ok: bool) -> None:
    assert is_message_name(name) is ok


def test_new_base_name_form_and_uniqueness() -> None:
    names = [new_base_name(86, 92, host="mail/x:y") for _ in range(2000)]
    assert len(set(names)) == len(names)
    pattern = re.compile(r"^(\d+)\.M(\d+)P(\d+)\.mail\\057x\\072y,S=86,W=92$")
    for name in names:
        m = pattern.match(name)
        assert m is not None, name
        assert int(m.group(3)) == os.getpid()
        assert int(m.group(2)) < 1_000_000
        assert ":" not in name and "/" not in name
    parsed = parse_name(names[0])
    assert (parsed.size, parsed.vsize) == (86, 92)
    # generated in Dovecot sort order, so UIDs assigned in sort order follow creation order
    assert sorted(names, key=sort_key) == names


def test_sort_order_like_dovecot() -> None:
    # E2b: these three got UIDs 5, 6, 7
    names = ["1700000012.M2P999.mda", "1700000010.M0P999.mda", "1700000011.M1P999.mda:2,S"]
    assert sorted(names, key=sort_key) == [
        "1700000010.M0P999.mda",
        "1700000011.M1P999.mda:2,S",
        "1700000012.M2P999.mda",
    ]
    # numeric seconds and microseconds, not byte order
    assert sorted(["100.M20P1.h", "99.M5P1.h", "100.M3P1.h"], key=sort_key) == [
        "99.M5P1.h",
        "100.M3P1.h",
        "100.M20P1.h",
    ]
    # then the rest byte-wise
    assert sorted(["5.Vb", "5.Va"], key=sort_key) == ["5.Va", "5.Vb"]


_base = st.text(
    alphabet=st.characters(blacklist_characters=":/\r\n", blacklist_categories=("Cs",)), min_size=1
).filter(lambda s: not s.startswith("."))
_unknown = st.sets(st.sampled_from("ABCEGXZ0123456789"))
_sys = st.sets(st.sampled_from(sorted(SYSTEM_LETTERS.values())))
_kw = st.sets(st.sampled_from("abcdefghijklmnopqrstuvwxyz"))


@given(_base, _sys, _kw, _unknown, st.sampled_from(["", ",X=1", ",foo,bar"]))
def test_roundtrip(base: str, sysf: set[str], kw: set[str], unknown: set[str], extra: str) -> None:
    start = f"{base}:2,{''.join(sorted(unknown))}{extra}"
    name = with_flags(parse_name(start), frozenset(sysf), frozenset(kw))
    parsed = parse_name(name)
    assert parsed.base == base
    assert parsed.extra == extra
    assert parsed.system_flags == frozenset(sysf)
    assert parsed.keyword_letters == frozenset(kw)
    assert set(parsed.letters) == set(system_letters(sysf)) | kw | unknown
    assert list(parsed.letters) == sorted(parsed.letters)
    # idempotent
    assert with_flags(parsed, frozenset(sysf), frozenset(kw)) == name


def test_dataclass_is_frozen() -> None:
    name = parse_name("a:2,S")
    assert isinstance(name, MaildirName)
    with pytest.raises(AttributeError):
        name.base = "b"  # type: ignore[misc]
