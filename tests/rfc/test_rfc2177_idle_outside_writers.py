"""RFC 2177 IDLE: changes on disk, by maildird or by any other process, are pushed to idling clients."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import trio

from tests.conftest import RunningServer
from tests.support.maildirs import sample_message
from tests.support.rawclient import RawClient

PUSH_TIMEOUT = 10.0
"""Generous upper bound for a test to fail rather than hang; latency is measured in benchmarks/."""


async def _idle_on_inbox(server: RunningServer) -> RawClient:
    c = await server.login()
    await c.cmd("s1 SELECT INBOX")
    await c.send_raw(b"i1 IDLE\r\n")
    assert (await c.read_line()).startswith(b"+ ")
    return c


async def _read_until(c: RawClient, predicate: Callable[[bytes], bool]) -> list[bytes]:
    seen: list[bytes] = []
    with trio.move_on_after(PUSH_TIMEOUT):
        while True:
            line = (await c.read_line()).rstrip(b"\r\n")
            seen.append(line)
            if predicate(line):
                return seen
    raise AssertionError(f"not pushed within {PUSH_TIMEOUT}s; got {seen}")


def _deliver(maildir: Path, name: str, *, link: bool = False) -> None:
    tmp = maildir / "tmp" / name
    tmp.write_bytes(sample_message(message_id=f"<{name}@x>", subject="pushed"))
    if link:  # Postfix style: link() then unlink() (maildir-format.md §1.2)
        os.link(tmp, maildir / "new" / name)
        tmp.unlink()
    else:
        os.rename(tmp, maildir / "new" / name)


async def test_delivery_by_rename_into_new_is_pushed(imap_server: RunningServer) -> None:
    c = await _idle_on_inbox(imap_server)
    _deliver(imap_server.maildir, "1800000000.M1P1.mta")
    await _read_until(c, lambda line: line == b"* 4 EXISTS")
    await c.send_raw(b"DONE\r\n")
    assert (await c.read_until_tagged(b"i1"))[-1].startswith(b"i1 OK")


async def test_delivery_by_link_is_pushed(imap_server: RunningServer) -> None:
    c = await _idle_on_inbox(imap_server)
    _deliver(imap_server.maildir, "1800000001.M1P1.postfix", link=True)
    await _read_until(c, lambda line: line == b"* 4 EXISTS")


async def test_a_change_right_after_the_continuation_is_not_lost(imap_server: RunningServer) -> None:
    """The hub version is read before IDLE's first refresh, so a delivery racing it still wakes us."""
    c = await imap_server.login()
    await c.cmd("s1 SELECT INBOX")
    await c.send_raw(b"i1 IDLE\r\n")
    _deliver(imap_server.maildir, "1800000002.M1P1.race")
    lines = await _read_until(c, lambda line: line == b"* 4 EXISTS")
    assert lines[0].startswith(b"+ ") or b"* 4 EXISTS" in lines


async def test_outside_flag_rename_is_pushed_as_fetch(imap_server: RunningServer) -> None:
    c = await _idle_on_inbox(imap_server)
    cur = imap_server.maildir / "cur"
    (unseen,) = [p for p in cur.iterdir() if p.name.endswith(":2,")]
    os.rename(unseen, cur / (unseen.name + "F"))
    lines = await _read_until(c, lambda line: b"FETCH" in line)
    assert lines[-1] == b"* 2 FETCH (FLAGS (\\Flagged))", lines


async def test_outside_deletion_is_pushed_as_expunge(imap_server: RunningServer) -> None:
    c = await _idle_on_inbox(imap_server)
    cur = imap_server.maildir / "cur"
    (flagged,) = [p for p in cur.iterdir() if p.name.endswith(":2,FS")]
    flagged.unlink()
    await _read_until(c, lambda line: line == b"* 3 EXPUNGE")


async def test_another_sessions_store_and_expunge_are_pushed(imap_server: RunningServer) -> None:
    c = await _idle_on_inbox(imap_server)
    other = await imap_server.login()
    await other.cmd("o1 SELECT INBOX")
    await other.cmd("o2 STORE 2 +FLAGS (\\Answered)")
    lines = await _read_until(c, lambda line: b"FETCH" in line)
    assert lines[-1] == b"* 2 FETCH (FLAGS (\\Answered))", lines
    await other.cmd("o3 STORE 1 +FLAGS.SILENT (\\Deleted)")
    await other.cmd("o4 EXPUNGE")
    await _read_until(c, lambda line: line == b"* 1 EXPUNGE")


async def test_idle_without_a_selected_mailbox_and_done(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    await c.send_raw(b"i1 IDLE\r\n")
    assert (await c.read_line()).startswith(b"+ ")
    await c.send_raw(b"DONE\r\n")
    assert (await c.read_until_tagged(b"i1"))[-1].rstrip() == b"i1 OK IDLE terminated."
    assert (await c.cmd("n1 NOOP"))[-1].startswith(b"n1 OK")
