"""dovecot-uidlist against the bytes Dovecot 2.3.19.1 wrote (maildir-format.md §3, Appendix A)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maildird.store.maildir.uidlist import (
    UIDLIST_NAME,
    Uidlist,
    UidlistCorrupt,
    UidlistLowered,
    UidRecord,
    append_records,
    new_guid,
    parse_uidlist,
    quarantine_broken,
    read_uidlist,
    rewrite_uidlist,
    serialize_uidlist,
)

NEW_FOLDER = b"3 V1795836465 N1 G30040314524a0a6b1d6f000083ecc375\n"
E2B = (
    b"3 V1795836464 N5 Gf0325c03304a0a6b4863000083ecc375\n1 :1795836464.M53864P25416.vm,S=86,W=92\n"
    b"2 :1795836464.M115755P25416.vm,S=86,W=92\n3 :1700000000.Vfd01I4242M123456.otherhost\n"
    b"4 :1795836483.M471722P26655.vm,S=100,W=106\n5 :1700000010.M0P999.mda\n6 :1700000011.M1P999.mda\n"
    b"7 :1700000012.M2P999.mda\n"
)
E3D = (
    b"3 V1795836464 N3 Gf0325c03304a0a6b4863000083ecc375\n1 :1795836464.M53864P25416.vm,S=86,W=92\n"
    b"2 G1700000000.Vfd01I4242M123456.otherhost :1795836498.M537360P28445.vm,S=104,W=110\n"
)


def test_new_folder_header() -> None:
    ul = parse_uidlist(NEW_FOLDER)
    assert (ul.uidvalidity, ul.next_uid, ul.guid, ul.records) == (
        1795836465,
        1,
        "30040314524a0a6b1d6f000083ecc375",
        (),
    )
    assert ul.effective_next_uid == 1
    assert not ul.needs_rewrite
    assert serialize_uidlist(ul) == NEW_FOLDER


def test_stale_n_and_effective_next() -> None:
    ul = parse_uidlist(E2B)
    assert ul.next_uid == 5
    assert [r.uid for r in ul.records] == [1, 2, 3, 4, 5, 6, 7]
    assert ul.effective_next_uid == 8
    assert ul.records[2].filename == "1700000000.Vfd01I4242M123456.otherhost"
    # a rewrite carries the current N
    assert serialize_uidlist(ul) == E2B.replace(b" N5 ", b" N8 ")


def test_n_larger_than_records_is_kept() -> None:
    ul = parse_uidlist(E3D.replace(b" N3 ", b" N100 "))
    assert ul.effective_next_uid == 100


def test_g_extension() -> None:
    ul = parse_uidlist(E3D)
    rec = ul.records[1]
    assert rec.extensions == (("G", "1700000000.Vfd01I4242M123456.otherhost"),)
    assert rec.ext("G") == "1700000000.Vfd01I4242M123456.otherhost"
    assert rec.base == "1795836498.M537360P28445.vm,S=104,W=110"
    assert serialize_uidlist(ul) == E3D


def test_crlf_and_partial_last_line() -> None:
    crlf = E3D.replace(b"\n", b"\r\n")
    assert parse_uidlist(crlf).records == parse_uidlist(E3D).records
    partial = E3D + b"3 :1795836499.M1P1.v"
    ul = parse_uidlist(partial)
    assert [r.uid for r in ul.records] == [1, 2]
    assert ul.effective_next_uid == 3


def test_unknown_fields_kept_and_invalid_dropped() -> None:
    # E8b: Xfoo (header) and Zbar (record) are kept; the lowercase qbad is removed
    data = b"3 V10 N3 G00112233445566778899aabbccddeeff Xfoo\n1 Zbar W12 :a,S=3\n2 qbad :b:2,S\n"
    ul = parse_uidlist(data)
    assert ul.header_extra == (("X", "foo"),)
    assert ul.records[0].extensions == (("Z", "bar"), ("W", "12"))
    assert ul.records[1].extensions == ()
    assert ul.records[1].filename == "b:2,S"  # older Dovecot wrote full names
    assert ul.records[1].base == "b"
    assert ul.needs_rewrite
    assert serialize_uidlist(ul) == (
        b"3 V10 N3 G00112233445566778899aabbccddeeff Xfoo\n1 Zbar W12 :a,S=3\n2 :b\n"
    )


def test_version1() -> None:
    ul = parse_uidlist(b"1 1234 5\n1 msg1:2,S\n3 msg3\n")
    assert (ul.version, ul.uidvalidity, ul.effective_next_uid, ul.guid) == (1, 1234, 5, None)
    assert [(r.uid, r.base) for r in ul.records] == [(1, "msg1"), (3, "msg3")]
    assert ul.needs_rewrite


def test_duplicate_base_later_line_wins() -> None:
    ul = parse_uidlist(b"3 V1 N1 G00112233445566778899aabbccddeeff\n1 :a\n2 :b\n3 :a\n")
    assert [(r.uid, r.base) for r in ul.records] == [(2, "b"), (3, "a")]
    assert ul.needs_rewrite


def test_missing_guid_needs_rewrite() -> None:
    ul = parse_uidlist(b"3 V1 N1\n")
    assert ul.guid is None and ul.needs_rewrite


@pytest.mark.parametrize(
    ("data", "line", "reason"),
    [
        (b"garbage\n1 :a\n", 1, "invalid version number"),  # E4f
        (b"2 V1 N1\n", 1, "Unsupported version"),
        (b"3 V0 N1\n", 1, "Broken header"),
        (b"3 V1 N0\n", 1, "Broken header"),
        (b"3 Vx N1\n", 1, "Broken header"),
        (b"3 V1 N1 Gnothex\n", 1, "GUID"),
        (b"", 1, "empty"),
        (b"3 V1 N1", 1, "empty"),
        (b"3 V1 N1\n1 :a\n2 :b\n1 :c\n", 4, "UIDs not ordered (2 >= 1)"),  # E4e
        (b"3 V1 N1\n2 :a\n2 :b\n", 3, "UIDs not ordered"),
        (b"3 V1 N1\n0 :a\n", 2, "Invalid UID"),
        (b"3 V1 N1\n4294967295 :a\n", 2, "Invalid UID"),
        (b"3 V1 N1\nx :a\n", 2, "Invalid data"),
        (b"3 V1 N1\n1 a\n", 2, "no filename"),
        (b"3 V1 N1\n1 :a/b\n", 2, "Broken filename"),
        (b"3 V1 N1\n1 :\n", 2, "Broken filename"),
        (b"1 5\n", 1, "Corrupted header"),
    ],
)
def test_corruption(data: bytes, line: int, reason: str) -> None:
    with pytest.raises(UidlistCorrupt) as info:
        parse_uidlist(data)
    assert info.value.line == line
    assert reason in info.value.reason
    assert info.value.code == "CORRUPTION"


def test_read_missing(tmp_path: Path) -> None:
    assert read_uidlist(tmp_path) is None


def test_append_keeps_header_and_bytes(tmp_path: Path) -> None:
    path = tmp_path / UIDLIST_NAME
    path.write_bytes(E3D[: E3D.index(b"2 G")])
    append_records(
        tmp_path,
        [
            UidRecord(
                2,
                "1795836498.M537360P28445.vm,S=104,W=110:2,S",
                (("G", "1700000000.Vfd01I4242M123456.otherhost"),),
            )
        ],
    )
    assert path.read_bytes() == E3D
    ino = os.stat(path).st_ino
    append_records(tmp_path, [UidRecord(5, "c"), UidRecord(6, "d")])
    assert path.read_bytes() == E3D + b"5 :c\n6 :d\n"
    assert os.stat(path).st_ino == ino  # appended in place
    ul = read_uidlist(tmp_path)
    assert ul is not None and ul.next_uid == 3 and ul.effective_next_uid == 7


def test_append_refuses_partial_line_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        append_records(tmp_path, [UidRecord(1, "a")])
    (tmp_path / UIDLIST_NAME).write_bytes(NEW_FOLDER + b"1 :hal")
    with pytest.raises(UidlistCorrupt):
        append_records(tmp_path, [UidRecord(1, "a")])
    assert (tmp_path / UIDLIST_NAME).read_bytes() == NEW_FOLDER + b"1 :hal"
    with pytest.raises(ValueError):
        append_records(tmp_path, [UidRecord(3, "a"), UidRecord(2, "b")])


def test_rewrite_replaces_atomically(tmp_path: Path) -> None:
    path = tmp_path / UIDLIST_NAME
    path.write_bytes(E2B)
    old_ino = os.stat(path).st_ino
    ul = read_uidlist(tmp_path)
    assert ul is not None
    kept = [r for r in ul.records if r.uid not in (2, 7)]
    written = rewrite_uidlist(tmp_path, ul.with_records(kept))
    data = path.read_bytes()
    assert data.startswith(b"3 V1795836464 N8 Gf0325c03304a0a6b4863000083ecc375\n1 :")
    assert b"\n2 :" not in data and b"\n7 :" not in data
    assert os.stat(path).st_ino != old_ino
    assert not (tmp_path / "dovecot-uidlist.tmp").exists()
    assert written.next_uid == 8
    reread = read_uidlist(tmp_path)
    assert reread is not None and reread.effective_next_uid == 8  # expunging 7 does not lower N


def test_rewrite_never_lowers_n(tmp_path: Path) -> None:
    (tmp_path / UIDLIST_NAME).write_bytes(E2B)
    with pytest.raises(UidlistLowered):
        rewrite_uidlist(tmp_path, Uidlist(1795836464, 3, "f0325c03304a0a6b4863000083ecc375"))
    assert (tmp_path / UIDLIST_NAME).read_bytes() == E2B
    # a new UIDVALIDITY may start over
    rewrite_uidlist(tmp_path, Uidlist(1795836471, 1, None))
    ul = read_uidlist(tmp_path)
    assert ul is not None and ul.uidvalidity == 1795836471 and ul.next_uid == 1 and ul.guid


def test_leftover_tmp_never_replaces_good_file(tmp_path: Path) -> None:
    # a crash after writing the .tmp but before the rename
    (tmp_path / UIDLIST_NAME).write_bytes(E3D)
    (tmp_path / "dovecot-uidlist.tmp").write_bytes(b"3 V999 N1 G00112233445566778899aabbccddeeff\n1 :x\n")
    ul = read_uidlist(tmp_path)
    assert ul is not None and ul.uidvalidity == 1795836464
    rewrite_uidlist(tmp_path, ul)
    assert (tmp_path / UIDLIST_NAME).read_bytes() == E3D
    assert not (tmp_path / "dovecot-uidlist.tmp").exists()


def test_file_mode_follows_directory(tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o750)
    rewrite_uidlist(tmp_path, Uidlist.new(5))
    assert os.stat(tmp_path / UIDLIST_NAME).st_mode & 0o777 == 0o640


def test_quarantine(tmp_path: Path) -> None:
    assert quarantine_broken(tmp_path) is None
    (tmp_path / UIDLIST_NAME).write_bytes(b"garbage\n")
    first = quarantine_broken(tmp_path)
    (tmp_path / UIDLIST_NAME).write_bytes(b"garbage2\n")
    second = quarantine_broken(tmp_path)
    assert first is not None and second is not None and first != second
    assert first.name.startswith("dovecot-uidlist.broken.")
    assert first.read_bytes() == b"garbage\n" and second.read_bytes() == b"garbage2\n"
    assert not (tmp_path / UIDLIST_NAME).exists()


def test_new_guid() -> None:
    g = new_guid()
    assert len(g) == 32 and int(g, 16) >= 0 and g == g.lower()
    assert new_guid() != g


_fname = st.text(
    alphabet=st.characters(blacklist_characters=":/\r\n ", blacklist_categories=("Cs", "Cc")), min_size=1
)
_ext = st.tuples(st.sampled_from("ABGPSWZ"), st.text(alphabet="0123456789abcdef", max_size=8))


@given(
    st.integers(1, 2**32 - 1),
    st.lists(st.tuples(st.integers(1, 1000), _fname, st.lists(_ext, max_size=3)), max_size=20),
    st.integers(1, 5000),
)
def test_roundtrip(uidvalidity: int, items: list[tuple[int, str, list[tuple[str, str]]]], n: int) -> None:
    uid = 0
    records = []
    seen = set()
    for step, name, exts in items:
        if name in seen:
            continue
        seen.add(name)
        uid += step
        records.append(UidRecord(uid, name, tuple(exts)))
    ul = Uidlist(uidvalidity, n, new_guid(), tuple(records), (("X", "foo"),))
    again = parse_uidlist(serialize_uidlist(ul))
    assert again.records == ul.records
    assert again.effective_next_uid == ul.effective_next_uid
    assert (again.uidvalidity, again.guid, again.header_extra) == (uidvalidity, ul.guid, ul.header_extra)
