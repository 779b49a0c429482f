"""Interop with Dovecot's own ``imap`` (PREAUTH on a pipe, maildir-format.md §0) on the same Maildir,
in both directions: UIDs, UIDVALIDITY, flags and keywords must agree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from maildird.store.base import NewMessage
from maildird.store.maildir.store import MaildirStore
from maildird.store.registry import Registry
from tests.support.dovecot import dovecot_preauth

pytestmark = pytest.mark.interop

MSG = b"From: a@example.org\r\nSubject: interop\r\n\r\nbody\r\n"
FETCH_RE = re.compile(rb"^\* \d+ FETCH \((.*)\)\r?$", re.M)


def make_store(tmp_path: Path) -> MaildirStore:
    return MaildirStore(tmp_path / "Maildir", state_dir=tmp_path / "state", registry=Registry())


def append_cmd(tag: str, flags: str) -> bytes:
    """An APPEND with a LITERAL+ literal; the final CRLF ends the command line after the literal."""
    return f"{tag} APPEND INBOX {flags}{{{len(MSG)}+}}\r\n".encode() + MSG + b"\r\n"


def parse_flags(text: bytes) -> frozenset[str]:
    return frozenset(f for f in text.decode().split() if f != "\\Recent")


def dovecot_view(maildir: Path, folder: str) -> tuple[int, dict[int, frozenset[str]]]:
    """(UIDVALIDITY, {uid: flags}) as Dovecot sees ``folder`` (EXAMINE moves nothing)."""
    out = dovecot_preauth(maildir, [f'a EXAMINE "{folder}"', "b UID FETCH 1:* (UID FLAGS)"])
    uv = re.search(rb"\[UIDVALIDITY (\d+)\]", out)
    assert uv is not None, out
    msgs: dict[int, frozenset[str]] = {}
    for m in FETCH_RE.finditer(out):
        items = m.group(1)
        uid = re.search(rb"UID (\d+)", items)
        flags = re.search(rb"FLAGS \(([^)]*)\)", items)
        assert uid is not None and flags is not None, items
        msgs[int(uid.group(1))] = parse_flags(flags.group(1))
    return int(uv.group(1)), msgs


async def our_view(tmp_path: Path, folder: str) -> tuple[int, dict[int, frozenset[str]]]:
    store = make_store(tmp_path)
    mb = await store.open(folder, readonly=True)
    snap = await mb.snapshot()
    await store.close()
    return snap.uidvalidity, {m.uid: m.flags for m in snap.messages}


async def test_dovecot_reads_what_maildird_wrote(tmp_path: Path) -> None:
    maildir = tmp_path / "Maildir"
    store = make_store(tmp_path)
    await store.create("Foo")
    inbox = await store.open("INBOX")
    foo = await store.open("Foo")
    await inbox.append(
        [
            NewMessage(MSG),
            NewMessage(MSG, frozenset({"\\Seen", "$Label1"})),
            NewMessage(MSG, frozenset({"\\Flagged", "Junk", "\\Deleted"})),
            NewMessage(MSG, frozenset({"\\Answered", "\\Draft", "NonJunk"})),
        ]
    )
    await inbox.store_flags([1], "add", frozenset({"Work", "\\Seen"}))
    await inbox.expunge()
    await inbox.copy([2, 4], foo)
    await inbox.snapshot(claim_recent=True)
    ours = {"INBOX": await our_view(tmp_path, "INBOX"), "Foo": await our_view(tmp_path, "Foo")}
    assert sorted(ours["INBOX"][1]) == [1, 2, 4]
    for folder in ("INBOX", "Foo"):
        assert dovecot_view(maildir, folder) == ours[folder]
    await store.close()


async def test_maildird_reads_what_dovecot_wrote(tmp_path: Path) -> None:
    maildir = tmp_path / "Maildir"
    commands: list[bytes | str] = [
        "a1 CREATE Foo",
        append_cmd("a2", ""),
        append_cmd("a3", "(\\Seen $Label1 Junk) "),
        append_cmd("a4", "(\\Flagged) "),
        "a5 SELECT INBOX",
        "a6 UID STORE 1 +FLAGS (NonJunk \\Answered)",
        "a7 UID STORE 3 +FLAGS (\\Deleted)",
    ]
    out = dovecot_preauth(maildir, commands)
    assert b"a7 OK" in out, out
    # A second session: Dovecot runs pipelined commands concurrently, so EXPUNGE goes separately.
    out = dovecot_preauth(maildir, ["a8 SELECT INBOX", "a9 EXPUNGE", "a10 UID COPY 1:2 Foo"])
    assert b"* 3 EXPUNGE" in out and b"a10 OK" in out, out
    for folder in ("INBOX", "Foo"):
        theirs = dovecot_view(maildir, folder)
        assert await our_view(tmp_path, folder) == theirs
    _, msgs = await our_view(tmp_path, "INBOX")
    assert msgs == {
        1: frozenset({"NonJunk", "\\Answered"}),
        2: frozenset({"\\Seen", "$Label1", "Junk"}),
    }


async def test_alternating_writers_never_reuse_uids(tmp_path: Path) -> None:
    maildir = tmp_path / "Maildir"
    store = make_store(tmp_path)
    inbox = await store.open("INBOX")
    assert (await inbox.append([NewMessage(MSG), NewMessage(MSG)])).uids == (1, 2)
    await inbox.store_flags([2], "add", frozenset({"\\Deleted"}))
    await inbox.expunge()
    out = dovecot_preauth(maildir, [append_cmd("a", "(kw1) ")])
    assert re.search(rb"APPENDUID \d+ 3\]", out), out  # Dovecot continues after our expunged 2
    inbox.folder.dirty = True
    res = await inbox.append([NewMessage(MSG, frozenset({"kw2"}))])
    assert res.uids == (4,)
    _, ours = await our_view(tmp_path, "INBOX")
    assert dovecot_view(maildir, "INBOX") == (res.uidvalidity, ours)
    assert ours == {1: frozenset(), 3: frozenset({"kw1"}), 4: frozenset({"kw2"})}
    out = dovecot_preauth(maildir, ["a SELECT INBOX", "b UID STORE 4 FLAGS (\\Seen kw1)"])
    assert b"b OK" in out
    inbox.folder.dirty = True
    snap = await inbox.snapshot()
    assert {m.uid: m.flags for m in snap.messages}[4] == {"\\Seen", "kw1"}
    await store.close()


async def test_concurrent_appends_with_dovecot(tmp_path: Path) -> None:
    """Dovecot and maildird append at the same time; the uidlist lock keeps UIDs unique and both
    servers agree on every UID afterwards.

    System flags only: Dovecot picks a NEW keyword's letter before it takes the uidlist lock and
    writes dovecot-keywords from memory afterwards, so two writers creating keywords at the same
    moment can lose one mapping (observed here; a Dovecot race, not one maildird can close)."""
    import trio

    maildir = tmp_path / "Maildir"
    store = make_store(tmp_path)
    inbox = await store.open("INBOX")
    await inbox.append([NewMessage(MSG)])
    commands = [append_cmd(f"d{i}", "(\\Answered) ") for i in range(20)]
    ours: list[int] = []

    async def ours_append() -> None:
        for _ in range(20):
            ours.extend((await inbox.append([NewMessage(MSG, frozenset({"\\Flagged"}))])).uids)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.to_thread.run_sync, dovecot_preauth, maildir, commands)
        nursery.start_soon(ours_append)
    inbox.folder.dirty = True
    snap = await inbox.snapshot()
    flags = {m.uid: m.flags for m in snap.messages}
    assert len(flags) == 41
    assert sorted(u for u, f in flags.items() if f == {"\\Flagged"}) == ours
    assert sum(1 for f in flags.values() if f == {"\\Answered"}) == 20
    assert dovecot_view(maildir, "INBOX") == (snap.uidvalidity, flags)
    await store.close()
