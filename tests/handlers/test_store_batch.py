"""``STORE 1:* +FLAGS.SILENT`` on a folder large enough for the store to mute its watch while it
renames (``flagstore.QUIET_MIN_MESSAGES``), over a real server: another session in IDLE still gets
a FETCH FLAGS for every message (RFC 2177, RFC 9051 §7.5.2), the storing session gets nothing
untagged (RFC 9051 §6.4.6 .SILENT), and with CONDSTORE it gets each new MODSEQ (RFC 7162 §3.1.3)."""

from __future__ import annotations

import re

import pytest

from maildird.store.maildir.flagstore import QUIET_MIN_MESSAGES
from tests.conftest import RunningServer

MANY = QUIET_MIN_MESSAGES + 30
SPEC = {"INBOX": [{"id": f"<m{i}@example.org>", "flags": "S" if i % 3 else ""} for i in range(MANY)]}
FETCH = re.compile(rb"^\* (\d+) FETCH \((.*)\)\r\n$")


@pytest.mark.maildir(SPEC)
async def test_idle_session_sees_every_flag_of_a_large_silent_store(imap_server: RunningServer) -> None:
    a = await imap_server.login()
    b = await imap_server.login()
    await a.cmd("a1 SELECT INBOX")
    await b.cmd("b1 SELECT INBOX")
    await a.send_raw(b"a2 IDLE\r\n")
    assert (await a.read_line()).startswith(b"+ ")
    lines = await b.cmd("b2 STORE 1:* +FLAGS.SILENT (\\Flagged)")
    assert lines == [b"b2 OK STORE completed.\r\n"]
    pushed: dict[int, bytes] = {}
    while len(pushed) < MANY:
        m = FETCH.match(await a.read_line())  # read_line has its own timeout
        assert m is not None
        pushed[int(m.group(1))] = m.group(2)
    for seq, items in pushed.items():
        seen = (seq - 1) % 3 != 0
        assert items == (b"FLAGS (\\Flagged \\Seen)" if seen else b"FLAGS (\\Flagged)"), (seq, items)
    await a.send_raw(b"DONE\r\n")
    assert (await a.read_until_tagged("a2"))[-1] == b"a2 OK IDLE terminated.\r\n"
    lines = await b.cmd("b3 STORE 1:* -FLAGS.SILENT (\\Flagged)")
    assert lines == [b"b3 OK STORE completed.\r\n"]
    lines = await a.cmd("a3 NOOP")
    assert len([x for x in lines if FETCH.match(x)]) == MANY
    assert not any(b"\\Flagged" in x for x in lines)


@pytest.mark.maildir(SPEC)
async def test_condstore_silent_store_sends_every_new_modseq(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    await c.cmd("c1 ENABLE CONDSTORE")
    await c.cmd("c2 SELECT INBOX")
    lines = await c.cmd("c3 STORE 1:* +FLAGS.SILENT (\\Flagged)")
    assert lines[-1] == b"c3 OK STORE completed.\r\n"
    modseqs = {}
    for line in lines[:-1]:
        m = re.match(rb"^\* (\d+) FETCH \(UID \1 MODSEQ \((\d+)\)\)\r\n$", line)
        assert m is not None, line
        modseqs[int(m.group(1))] = int(m.group(2))
    assert sorted(modseqs) == list(range(1, MANY + 1)) and len(set(modseqs.values())) == 1
    (modseq,) = set(modseqs.values())
    # UNCHANGEDSINCE below that modseq: every message was modified since, none is touched.
    lines = await c.cmd(f"c4 STORE 1:* (UNCHANGEDSINCE {modseq - 1}) -FLAGS.SILENT (\\Flagged)")
    assert lines == [f"c4 OK [MODIFIED 1:{MANY}] Conditional STORE failed.\r\n".encode()]
    lines = await c.cmd("c5 FETCH 1:* (FLAGS)")
    assert all(b"\\Flagged" in x for x in lines[:-1]) and len(lines) == MANY + 1
