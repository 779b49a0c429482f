"""STORE's fast path: the per-info flag edit gives exactly ``filenames.with_flags``' names, and a file
renamed by another program behind our back (same clock tick, so no resync) is found and keeps the
other program's flags (maildir-format.md §5.2 rules 4-5)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from maildird.store.base import FlagOp, NewMessage
from maildird.store.maildir.filenames import parse_name, system_letters, with_flags
from maildird.store.maildir.operations import _FlagEdit
from maildird.store.maildir.store import MaildirStore
from maildird.store.registry import Registry

MSG = b"Subject: x\n\nbody\n"
NAMES = [
    "1700000000.M1P1.h",  # in new/, no info
    "1700000000.M1P1.h:2,",
    "1700000000.M1P1.h,S=5,W=6:2,S",
    "1700000000.M1P1.h:2,FRSab",
    "1700000000.M1P1.h:2,PS",  # $Forwarded
    "1700000000.M1P1.h:2,SXz",  # an unknown letter kept in place
    "1700000000.M1P1.h:2,S,extra",  # a ,-suffix kept
    "x:2,S:2,T",  # flags from the LAST ':'
    "y:1,experimental",  # 1, info becomes 2,
]
CHANGES: list[tuple[FlagOp, frozenset[str], frozenset[str]]] = [
    ("add", frozenset({"\\Flagged"}), frozenset()),
    ("remove", frozenset({"\\Seen"}), frozenset()),
    ("replace", frozenset({"\\Deleted", "$Forwarded"}), frozenset({"c"})),
    ("add", frozenset(), frozenset({"a", "q"})),
    ("remove", frozenset({"\\Answered", "\\Flagged"}), frozenset({"b"})),
]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("change", CHANGES)
def test_flag_edit_matches_with_flags(
    name: str, change: tuple[FlagOp, frozenset[str], frozenset[str]]
) -> None:
    op, system, letters = change
    mn = parse_name(name)
    old_sys, old_letters = mn.system_flags, mn.keyword_letters
    if op == "replace":
        new_sys, new_letters = system, letters
    elif op == "add":
        new_sys, new_letters = old_sys | system, old_letters | letters
    else:
        new_sys, new_letters = old_sys - system, old_letters - letters
    unchanged = system_letters(new_sys) == system_letters(old_sys) and new_letters == old_letters
    expected = None if unchanged else with_flags(mn, new_sys, new_letters)
    edit = _FlagEdit(op, system, letters)
    assert edit.new_name(name) == expected
    assert edit.new_name(name) == expected  # the cached answer too


async def test_store_finds_a_file_renamed_in_the_same_tick(tmp_path: Path) -> None:
    root = tmp_path / "Maildir"
    store = MaildirStore(root, state_dir=tmp_path / "state", registry=Registry())
    inbox = await store.open("INBOX")
    await inbox.append(
        [NewMessage(MSG, frozenset({"\\Answered"})), NewMessage(MSG, frozenset({"\\Answered"}))]
    )
    await inbox.snapshot()
    folder = inbox.folder
    # Another program sets \Seen on UID 1 within the same clock tick: cur/'s mtime stays put, so
    # the quick check sees nothing and STORE meets ENOENT on the name it remembers.
    now = folder._current_stamps()
    folder.stamps = replace(now, checked_ns=max(now.new_mtime, now.cur_mtime) + 5 * 10**9)
    name = folder.msgs[1].name
    cur_mtime = os.stat(root / "cur").st_mtime_ns
    os.rename(root / "cur" / name, root / "cur" / (name.split(":")[0] + ":2,RS"))
    os.utime(root / "cur", ns=(cur_mtime, cur_mtime))
    assert not folder.needs_sync(claim_recent=False)
    result = await inbox.store_flags([1, 2], "add", frozenset({"\\Flagged"}))
    assert sorted(os.listdir(root / "cur")) == sorted(
        [name.split(":")[0] + ":2,FRS", folder.msgs[2].name.split(":")[0] + ":2,FR"]
    )
    assert {i.uid for i in result.changed} == {1, 2}
    snap = await inbox.snapshot()
    assert {m.uid: m.flags for m in snap.messages} == {
        1: {"\\Answered", "\\Seen", "\\Flagged"},
        2: {"\\Answered", "\\Flagged"},
    }
    await store.close()


async def test_store_on_a_file_expunged_behind_our_back(tmp_path: Path) -> None:
    root = tmp_path / "Maildir"
    store = MaildirStore(root, state_dir=tmp_path / "state", registry=Registry())
    inbox = await store.open("INBOX")
    await inbox.append([NewMessage(MSG, frozenset({"\\Seen"})), NewMessage(MSG, frozenset({"\\Seen"}))])
    await inbox.snapshot()
    folder = inbox.folder
    now = folder._current_stamps()
    folder.stamps = replace(now, checked_ns=max(now.new_mtime, now.cur_mtime) + 5 * 10**9)
    cur_mtime = os.stat(root / "cur").st_mtime_ns
    os.unlink(root / "cur" / folder.msgs[1].name)
    os.utime(root / "cur", ns=(cur_mtime, cur_mtime))
    result = await inbox.store_flags([1, 2], "add", frozenset({"\\Flagged"}))
    assert [i.uid for i in result.changed] == [2]
    snap = await inbox.snapshot()
    assert [m.uid for m in snap.messages] == [2]
    await store.close()
