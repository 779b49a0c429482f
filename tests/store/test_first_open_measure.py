"""The first open's bulk steps give what the per-file steps give: ``measure.measure_entries`` the
sizes and mtimes of ``Folder._measure`` (and of ``listing.file_vsize``), ``listing.list_dir``'s
C-level pass the per-name loop's listing, ``uidlist_format.format_records`` the octets and errors
of ``format_record``; and a first open through them the same snapshot as a per-file sync."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maildird.store.maildir import listing, measure
from maildird.store.maildir.listing import Entry, crlf_size, file_vsize, list_dir
from maildird.store.maildir.measure import chunk_vsize, measure_entries
from maildird.store.maildir.sync import Folder
from maildird.store.maildir.uidlist_format import UidRecord, _check_ascending, format_record, format_records

SEED = 20261128
SMALL_CHUNK = 7
"""A read size small enough that CRLF pairs fall across chunk boundaries in the tests."""

BODIES = [
    b"",
    b"\n",
    b"\r\n",
    b"\r",
    b"Subject: lf\n\nbody\n",
    b"Subject: crlf\r\n\r\nbody\r\n",
    b"Subject: mixed\r\n\nbare\nand crlf\r\n\r\r\n",
    b"\r\n" * 9,
    b"x\r" * 5 + b"\n",
    b"ends in cr\r",
]


def make_folder(tmp_path: Path) -> Path:
    root = tmp_path / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (root / sub).mkdir(parents=True)
    return root


def put(root: Path, sub: str, name: str, data: bytes, mtime: int) -> Entry:
    path = root / sub / name
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))
    return Entry(name, sub == "new")


def varied_entries(root: Path) -> list[Entry]:
    """Files with and without ``,W=`` (a ``,W=`` that lies, too: the name is trusted, as before),
    with and without info, in new/ and cur/, over every body of ``BODIES``."""
    rng = random.Random(SEED)
    entries = []
    for i, body in enumerate(BODIES * 3):
        sub = rng.choice(["new", "cur"])
        base = f"{1700000000 + i}.M{i}P{i}.host"
        if i % 3 == 1:
            base += f",S={len(body)},W={crlf_size(body)}"
        elif i % 3 == 2 and i % 2:
            base += ",W=999"
        name = base + (":2,S" if sub == "cur" and i % 2 else "")
        entries.append(put(root, sub, name, body, 1_600_000_000 + i * 3600))
    return entries


def per_file(root: Path, entries: list[Entry]) -> list[tuple[int, int] | None]:
    folder = Folder(root, root=root, state_dir=root.parent / "state", fsync=False)
    out: list[tuple[int, int] | None] = []
    for e in entries:
        found = folder._measure(e.name.split(":")[0], e)
        out.append(None if found is None else (found[1], found[2]))
    return out


@pytest.mark.parametrize("pool_min", [1, 10**6], ids=["pool", "no-pool"])
@pytest.mark.parametrize("chunk", [SMALL_CHUNK, listing.READ_CHUNK])
def test_measure_entries_equals_the_per_file_measure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int, pool_min: int
) -> None:
    root = make_folder(tmp_path)
    entries = varied_entries(root)
    monkeypatch.setattr(measure, "READ_CHUNK", chunk)
    monkeypatch.setattr(listing, "READ_CHUNK", chunk)
    monkeypatch.setattr(measure, "READ_POOL_MIN", pool_min)
    got = measure_entries(str(root), entries, [True] * len(entries))
    assert got == per_file(root, entries)
    assert all(m is not None for m in got)
    lied = [m for e, m in zip(entries, got, strict=True) if ",W=999" in e.name]
    assert lied and all(m is not None and m[0] == 999 for m in lied)
    # Unsized entries take only the mtime (the caller has the size).
    dates = measure_entries(str(root), entries, [False] * len(entries))
    assert dates == [(0, m[1]) for m in got if m is not None]


def test_measure_entries_leaves_odd_files_to_the_per_file_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_folder(tmp_path)
    plain = put(root, "cur", "1.M1P1.h:2,S", b"a\nb\n", 1_600_000_000)
    gone = Entry("2.M2P2.h", True)  # listed, then renamed away by someone
    (root / "cur" / "target").write_bytes(b"x\n")
    (root / "cur" / "3.M3P3.h").symlink_to(root / "cur" / "target")
    link = Entry("3.M3P3.h", False)
    (root / "cur" / "4.M4P4.h").mkdir()
    a_dir = Entry("4.M4P4.h", False)
    for pool_min in (1, 10**6):
        monkeypatch.setattr(measure, "READ_POOL_MIN", pool_min)
        got = measure_entries(str(root), [plain, gone, link, a_dir], [True] * 4)
        assert got == [(6, 1_600_000_000 * 10**9), None, None, None]
    # A gone file whose name holds its size is left to the per-file path too.
    assert measure_entries(str(root), [Entry("5.M5P5.h,W=3", False)], [True]) == [None]


def test_measure_entries_without_cur_raises(tmp_path: Path) -> None:
    root = make_folder(tmp_path)
    (root / "cur").rmdir()
    with pytest.raises(FileNotFoundError):
        measure_entries(str(root), [], [])


@given(st.lists(st.sampled_from([b"a", b"\r", b"\n", b"\r\n", b"xy"]), max_size=40).map(b"".join))
def test_chunk_vsize_is_crlf_size(data: bytes) -> None:
    assert chunk_vsize(data) == crlf_size(data) == len(data) + data.count(b"\n") - data.count(b"\r\n")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from([b"a", b"\r", b"\n", b"\r\n"]), max_size=30).map(b"".join),
    st.integers(min_value=1, max_value=9),
)
def test_fd_vsize_over_chunks_is_file_vsize(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, chunk: int
) -> None:
    path = tmp_path_factory.mktemp("fd") / "m"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    saved = measure.READ_CHUNK
    try:
        measure.READ_CHUNK = chunk
        got = measure.fd_vsize(fd, len(data))
    finally:
        measure.READ_CHUNK = saved
        os.close(fd)
    assert got == file_vsize(path) == crlf_size(data)


# -- listing --------------------------------------------------------------------------------------

NAME_PARTS = ["a", "b", ".x", ":2,S", ":2,", "\r", "\n", ",S=5", "c:2,T"]


def reference_listing(root: Path) -> tuple[dict[str, Entry], list[tuple[str, Entry]]]:
    """``list_dir`` with the per-name loop only."""
    seen: dict[str, Entry] = {}
    dups: list[tuple[str, Entry]] = []
    for sub, in_new in (("new", True), ("cur", False)):
        with os.scandir(root / sub) as it:
            names = [e.name for e in it if not e.is_symlink()]
        listing._each(names, in_new, seen, dups)
    return seen, dups


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(st.booleans(), st.lists(st.sampled_from(NAME_PARTS), min_size=1, max_size=3)), max_size=12
    )
)
def test_list_dir_equals_the_per_name_loop(
    tmp_path_factory: pytest.TempPathFactory, files: list[tuple[bool, list[str]]]
) -> None:
    root = make_folder(tmp_path_factory.mktemp("ls"))
    for in_new, parts in files:
        name = "".join(parts)
        if name in (".", ".."):
            continue
        (root / ("new" if in_new else "cur") / name).write_bytes(b"x")
    got = list_dir(root)
    want = reference_listing(root)
    assert got == want
    assert list(got[0].items()) == list(want[0].items())  # the same order too


def test_list_dir_plain_names_take_the_bulk_pass(tmp_path: Path) -> None:
    root = make_folder(tmp_path)
    for i in range(50):
        (root / ("new" if i % 5 == 0 else "cur") / f"{i}.M{i}P1.h{':2,S' if i % 2 else ''}").write_bytes(b"")
    seen: dict[str, Entry] = {}
    assert listing._plain(sorted(os.listdir(root / "cur")), False, seen)
    assert len(seen) == 40 and all(not e.in_new and e.name.startswith(b) for b, e in seen.items())
    # A base in new/ and cur/ at once is left to the loop (it goes to the duplicates there).
    twice = next(iter(seen))
    assert not listing._plain([twice], True, seen)
    assert listing._plain([], True, seen)
    got, dups = list_dir(root)
    assert len(got) == 50 and not dups


# -- uidlist records ------------------------------------------------------------------------------

RECORD_NAMES = ["1.M1P1.h", "2.M2P2.h,S=3,W=4", "3.h:2,S", "4.h:2,S:2,T", "é.h", "5\udcff.h"]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(RECORD_NAMES),
            st.lists(st.tuples(st.sampled_from("GSWZ"), st.sampled_from(["", "x", "12"])), max_size=2),
        ),
        max_size=8,
    )
)
def test_format_records_is_format_record(items: list[tuple[str, list[tuple[str, str]]]]) -> None:
    recs = [UidRecord(i + 1, name, tuple(exts)) for i, (name, exts) in enumerate(items)]
    assert format_records(recs) == b"".join(map(format_record, recs))
    plain = [UidRecord(i + 1, name) for i, (name, _) in enumerate(items)]
    assert format_records(plain) == b"".join(map(format_record, plain))


@pytest.mark.parametrize("bad", ["", "a/b", "a\nb", "a\rb"])
def test_format_records_refuses_what_format_record_refuses(bad: str) -> None:
    recs = [UidRecord(1, "ok.h"), UidRecord(2, bad)]
    with pytest.raises(ValueError) as want:
        format_record(recs[1])
    with pytest.raises(ValueError) as got:
        format_records(recs)
    assert str(got.value) == str(want.value)


@pytest.mark.parametrize(
    ("uids", "after", "message"),
    [
        ([1, 2, 3], 0, None),
        ([], 5, None),
        ([2, 2], 0, "record UIDs must ascend: 2 then 2"),
        ([3, 1], 0, "record UIDs must ascend: 3 then 1"),
        ([5], 5, "record UIDs must ascend: 5 then 5"),
        ([0], 0, "record UIDs must ascend: 0 then 0"),
        ([1, 2**32 - 1], 0, f"record UIDs must ascend: 1 then {2**32 - 1}"),
    ],
)
def test_check_ascending(uids: list[int], after: int, message: str | None) -> None:
    recs = [UidRecord(u, f"{u}.h") for u in uids]
    if message is None:
        _check_ascending(recs, after)
        _check_ascending(iter(recs), after)
        return
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        _check_ascending(recs, after)


def test_measure_many_takes_known_sizes_and_follows_renames(tmp_path: Path) -> None:
    """``Folder._measure_many``: a base memory knows keeps its recorded size and date (the file is
    only checked to be there), an unknown one is measured, one renamed since the listing is found
    under its new name (§5.2 rule 4), one removed since is None."""
    from maildird.store.maildir.state import Record

    root = make_folder(tmp_path)
    known = put(root, "cur", "1.M1P1.h:2,S", b"abc\n", 1_600_000_000)
    fresh = put(root, "new", "2.M2P2.h", b"a\r\nb\n", 1_600_000_100)
    moved = put(root, "new", "3.M3P3.h", b"x\n", 1_600_000_200)
    gone = put(root, "cur", "4.M4P4.h,W=9:2,", b"y\n", 1_600_000_300)
    folder = Folder(root, root=root, state_dir=tmp_path / "state", fsync=False)
    folder.msgs = {7: Record(7, "1.M1P1.h", known.name, False, 12345, 42, 1)}
    folder.by_base = {"1.M1P1.h": 7}
    seen = {n.split(":")[0]: e for n, e in ((e.name, e) for e in (known, fresh, moved, gone))}
    os.rename(root / "new" / moved.name, root / "cur" / (moved.name + ":2,F"))
    os.unlink(root / "cur" / gone.name)
    got = folder._measure_many(list(seen), seen)
    assert got == {
        "1.M1P1.h": (known, 12345, 42),
        "2.M2P2.h": (fresh, 6, 1_600_000_100 * 10**9),
        "3.M3P3.h": (Entry("3.M3P3.h:2,F", False), 3, 1_600_000_200 * 10**9),
        "4.M4P4.h,W=9": None,
    }


UIDLIST_LINES = [
    "1 :a.h",
    "2 :b.h,S=3,W=4",
    "3 :c.h:2,S",
    "4 G1 :d.h",
    "5 :a.h",
    "6  :e.h",
    "7 :",
    "8 :f/g",
    "x :h.h",
    "² :i.h",
    "0 :j.h",
    "4294967295 :k.h",
    "9 :l.h :m",
    "10 :\udcffn.h",
    "",
    " :o.h",
    "11 p.h",
]


ORDERED_LINES = st.lists(
    st.tuples(st.integers(min_value=0, max_value=3), st.sampled_from(["a.h", "b.h:2,S", "a.h:2,T", "c,W=1"])),
    max_size=8,
).map(lambda steps: [f"{sum(n for n, _ in steps[: i + 1])} :{name}" for i, (_, name) in enumerate(steps)])
"""Mostly well-formed bodies: UIDs ascending (or repeating, by a step of 0), bases that repeat."""


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(st.lists(st.sampled_from(UIDLIST_LINES), max_size=7), ORDERED_LINES),
    st.sampled_from(["3 V5 N1 Gab", "1 5 1"]),
)
def test_parse_uidlist_plain_records_equal_the_line_loop(lines: list[str], header: str) -> None:
    """``uidlist_format._plain_records`` (the C-level pass over a v3 body) gives what the line loop
    gives: the same ``Uidlist`` or the same ``UidlistCorrupt``."""
    from maildird.store.maildir import uidlist_format
    from maildird.store.maildir.uidlist_format import UidlistCorrupt, parse_uidlist

    head = header.replace("Gab", "G" + "ab" * 16)
    data = "\n".join([head, *lines, ""]).encode("utf-8", "surrogateescape")

    def parse() -> object:
        try:
            return parse_uidlist(data)
        except UidlistCorrupt as exc:
            return ("corrupt", exc.line, exc.reason)

    fast = parse()
    saved = uidlist_format._plain_records
    uidlist_format._plain_records = lambda body: None
    try:
        loop = parse()
    finally:
        uidlist_format._plain_records = saved
    assert fast == loop


def test_parse_uidlist_takes_a_plain_body_in_one_pass() -> None:
    from maildird.store.maildir.uidlist_format import _plain_records

    body = "\n".join(f"{u} :{u}.M{u}P1.h,S=1,W=2" for u in range(1, 50)).encode()
    recs = _plain_records(body)
    assert recs is not None and [r.uid for r in recs] == list(range(1, 50))
    assert all(type(r) is UidRecord and r.extensions == () for r in recs)
    assert _plain_records(body + b"\n50 G7 :x.h") is None  # extensions: the line loop
    assert _plain_records(b"") == ()
