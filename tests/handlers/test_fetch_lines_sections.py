"""FETCH of header sections over the Maildir store's section cache (``store.maildir.sectioncache``):
the same octets from the files, from memory, from the cache file after a restart, from the uncached
path (header blocks rendered per FETCH) and from the general path, under every ENABLE mode; a
restarted server answers a header fetch without opening a message file; an emptied file is never
served as an empty header, cached or not."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from maildird.store.maildir import mailbox
from maildird.store.maildir.mailbox import MaildirMailbox
from maildird.store.maildir.store import MaildirStore
from maildird.store.registry import Registry
from tests.support.maildirs import make_maildir

from .harness import Session
from .test_fetch_lines import COMMANDS, HEADERS, SETUPS, THUNDERBIRD, general_only

HEADER_COMMANDS = [c for c in COMMANDS if "HEADER" in c and "BODY[" not in c] + [
    f"FETCH 1:* (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (From Subject Date)] {THUNDERBIRD})",
    "FETCH 2:9 (BODY.PEEK[HEADER.FIELDS (date SUBJECT from)] BODY.PEEK[HEADER.FIELDS (From Subject Date)])",
    'FETCH 1:* (BODY.PEEK[HEADER.FIELDS ("X Odd")] BODY.PEEK[HEADER.FIELDS.NOT ("X Odd" "A:B")])',
]
"""Every command of the differential table that reads the header, and a few with several selections,
one of them the same selection named another way (not those that set \\Seen: their second run differs)."""

LETTERS = ["", "S", "FRS", "T"]


def build(tmp_path: Path) -> Path:
    files = {
        f"cur/{1700000000 + n}.M{n}P1.host,S={len(h)}:2,{letters}": h
        for n, (h, letters) in enumerate(itertools.product(HEADERS, LETTERS))
    }
    return make_maildir(tmp_path / "Maildir", {"INBOX": {"messages": [], "files": files}})


def store_of(tmp_path: Path) -> MaildirStore:
    """A store with its own registry: what a (re)started server sees."""
    return MaildirStore(tmp_path / "Maildir", state_dir=tmp_path / "state", fsync=False, registry=Registry())


async def session(tmp_path: Path, setup: list[str]) -> tuple[MaildirStore, Session]:
    store = store_of(tmp_path)
    s = Session(store)
    for n, line in enumerate([*setup, "SELECT INBOX"]):
        await s.cmd(f"s{n} {line}")
    return store, s


@pytest.mark.parametrize("setup", SETUPS, ids=lambda s: s[0] if s else "plain")
async def test_cached_sections_give_the_same_octets_as_every_other_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, setup: list[str]
) -> None:
    build(tmp_path)
    setup = ["ENABLE CONDSTORE", *setup] if setup != ["ENABLE CONDSTORE"] else setup
    store, s = await session(tmp_path, setup)
    first: list[bytes] = []
    for n, line in enumerate(HEADER_COMMANDS):
        files = await s.cmd(f"a{n} {line}")  # rendered from the message files, then cached
        warm = await s.cmd(f"a{n} {line}")  # from memory
        with monkeypatch.context() as m:
            general_only(m)
            general = await s.cmd(f"a{n} {line}")
        with monkeypatch.context() as m:
            m.delattr(MaildirMailbox, "read_sections")  # header blocks, rendered by the plan
            uncached = await s.cmd(f"a{n} {line}")
        assert files == warm == general == uncached, line
        first.append(files)
    await store.close()
    store, s = await session(tmp_path, setup)  # a restart: the cache file answers
    for n, line in enumerate(HEADER_COMMANDS):
        assert await s.cmd(f"a{n} {line}") == first[n], line
    await store.close()
    tb = first[HEADER_COMMANDS.index(f"UID FETCH 1:* (UID RFC822.SIZE FLAGS {THUNDERBIRD})")]
    assert tb.count(b" FETCH (UID ") == len(HEADERS) * len(LETTERS)  # the comparison is not vacuous


async def test_a_restarted_server_opens_no_message_file_for_a_header_fetch(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    build(tmp_path)
    line = f"a1 UID FETCH 1:* (UID RFC822.SIZE FLAGS {THUNDERBIRD})"
    store, s = await session(tmp_path, [])
    before = await s.cmd(line)
    await store.close()
    opened: list[Path] = []
    real = mailbox.open_message

    def spy(path: Path) -> object:
        opened.append(path)
        return real(path)

    monkeypatch.setattr(mailbox, "open_message", spy)
    store, s = await session(tmp_path, [])
    assert await s.cmd(line) == before
    # Only the empty files (nothing to cache: read again each time, like their header blocks).
    assert sorted(p.name for p in opened) == sorted(
        p.name for p in (tmp_path / "Maildir" / "cur").iterdir() if ",S=0:" in p.name
    )
    assert len(opened) == len(LETTERS)
    opened.clear()
    await s.cmd("a2 FETCH 1 (BODY.PEEK[TEXT])")
    assert len(opened) == 1  # the probe sees a file being opened
    await store.close()


async def test_an_emptied_file_is_not_served_cached_or_not(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    root = build(tmp_path)
    line = "a1 FETCH 1:3 (UID BODY.PEEK[HEADER.FIELDS (Subject)])"
    store, s = await session(tmp_path, [])  # the sizes are known now
    victim = sorted((root / "cur").iterdir())[0]
    victim.write_bytes(b"")
    for _ in range(2):
        out = await s.cmd(line)
        assert out.endswith(b"a1 NO [SERVERBUG] Some messages could not be read.\r\n")
        assert b"* 1 FETCH" not in out and b"* 2 FETCH" in out
        with monkeypatch.context() as m:
            general_only(m)
            assert await s.cmd(line) == out
    await store.close()
    store, s = await session(tmp_path, [])
    assert await s.cmd(line) == out
    await store.close()
    assert os.path.getsize(victim) == 0
