"""RFC 7162 §3.2 QRESYNC, the RFC's examples adapted: §3.2.3 the QRESYNC SELECT parameter and the VANISHED
FETCH modifier need ``ENABLE QRESYNC`` first (BAD otherwise); §3.2.5 SELECT (QRESYNC ...) with a stale
UIDVALIDITY reports nothing; §3.2.5.2 seq-match-data is accepted; §3.2.6 ``UID FETCH ... (CHANGEDSINCE m
VANISHED)`` (``* VANISHED (EARLIER) 300:310,405,411``); §3.2.7 EXPUNGE answers with ``* VANISHED`` UID
sets instead of EXPUNGE, for this session's and for other sessions' expunges; §3.2.7 the tagged OK of
EXPUNGE carries HIGHESTMODSEQ. The full offline-resync scenario is test_rfc7162_3_2_5_qresync_resync.py.
"""

from __future__ import annotations

import re

import pytest

from tests.conftest import RunningServer
from tests.support.rawclient import RawClient

SPEC = {"INBOX": [{"id": f"<q{n}@example.org>"} for n in range(1, 13)]}


def number(lines: list[bytes], pattern: bytes) -> int:
    match = re.search(pattern, b"".join(lines))
    assert match is not None, (pattern, lines)
    return int(match.group(1))


async def qresync_session(server: RunningServer) -> tuple[RawClient, int, int]:
    c = await server.login()
    assert await c.cmd("e1 ENABLE QRESYNC") == [b"* ENABLED QRESYNC\r\n", b"e1 OK ENABLE completed.\r\n"]
    lines = await c.cmd("e2 SELECT INBOX")
    return c, number(lines, rb"\[UIDVALIDITY (\d+)\]"), number(lines, rb"\[HIGHESTMODSEQ (\d+)\]")


@pytest.mark.maildir(SPEC)
async def test_qresync_needs_enable(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    status = await c.cmd("a1 STATUS INBOX (UIDVALIDITY HIGHESTMODSEQ)")
    uv, ms = number(status, rb"UIDVALIDITY (\d+)"), number(status, rb"HIGHESTMODSEQ (\d+)")
    lines = await c.cmd(f"a2 SELECT INBOX (QRESYNC ({uv} {ms}))")
    assert len(lines) == 1 and lines[0].startswith(b"a2 BAD "), lines
    await c.cmd("a3 SELECT INBOX")
    lines = await c.cmd(f"a4 UID FETCH 1:* (FLAGS) (CHANGEDSINCE {ms} VANISHED)")
    assert len(lines) == 1 and lines[0].startswith(b"a4 BAD "), lines


@pytest.mark.maildir(SPEC)
async def test_vanished_modifier_needs_changedsince(imap_server: RunningServer) -> None:
    """§3.2.6: "The VANISHED UID FETCH modifier MUST only be specified together with CHANGEDSINCE"."""
    c, _, _ = await qresync_session(imap_server)
    lines = await c.cmd("a1 UID FETCH 1:* (FLAGS) (VANISHED)")
    assert len(lines) == 1 and lines[0].startswith(b"a1 BAD "), lines


@pytest.mark.maildir(SPEC)
async def test_expunge_answers_vanished(imap_server: RunningServer) -> None:
    """§3.2.7: ``* VANISHED 405,407,410,425`` replaces EXPUNGE; the OK has HIGHESTMODSEQ."""
    c, _, highest = await qresync_session(imap_server)
    await c.cmd("a1 UID STORE 2,4:6,9 +FLAGS.SILENT (\\Deleted)")
    lines = await c.cmd("a2 EXPUNGE")
    assert lines[0] == b"* VANISHED 2,4:6,9\r\n", lines
    assert number(lines[1:], rb"a2 OK \[HIGHESTMODSEQ (\d+)\] EXPUNGE completed\.") > highest
    assert len(lines) == 2
    assert await c.cmd("a3 UID STORE 1 +FLAGS.SILENT (\\Deleted)") != []
    assert (await c.cmd("a4 UID EXPUNGE 1"))[0] == b"* VANISHED 1\r\n"


@pytest.mark.maildir(SPEC)
async def test_other_sessions_expunge_arrives_as_vanished(imap_server: RunningServer) -> None:
    c, _, _ = await qresync_session(imap_server)
    other = await imap_server.login()
    await other.cmd("b1 SELECT INBOX")
    await other.cmd("b2 UID STORE 3,7 +FLAGS.SILENT (\\Deleted)")
    await other.cmd("b3 EXPUNGE")
    lines = await c.cmd("a1 NOOP")
    assert lines == [b"* VANISHED 3,7\r\n", b"a1 OK NOOP completed.\r\n"]


@pytest.mark.maildir(SPEC)
async def test_uid_fetch_changedsince_vanished(imap_server: RunningServer) -> None:
    """§3.2.6: ``s100 UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)`` -> ``* VANISHED (EARLIER)
    300:310,405,411`` then the changed messages. Only UIDs inside the requested set are reported."""
    first = await imap_server.login()
    highest = number(await first.cmd("a1 STATUS INBOX (HIGHESTMODSEQ)"), rb"HIGHESTMODSEQ (\d+)")
    other = await imap_server.login()
    await other.cmd("b1 SELECT INBOX")
    await other.cmd("b2 UID STORE 1,3:5,8,11 +FLAGS.SILENT (\\Deleted)")
    await other.cmd("b3 EXPUNGE")
    await other.cmd("b4 UID STORE 9 +FLAGS.SILENT (\\Seen)")
    c, _, _ = await qresync_session(imap_server)  # nothing pending: the expunges happened before SELECT
    lines = await c.cmd(f"s100 UID FETCH 3:10 (FLAGS) (CHANGEDSINCE {highest} VANISHED)")
    assert lines[0] == b"* VANISHED (EARLIER) 3:5,8\r\n", lines
    changed = [line for line in lines if b" FETCH (" in line]
    assert len(changed) == 1 and re.fullmatch(
        rb"\* \d+ FETCH \(UID 9 FLAGS \(\\Seen\) MODSEQ \(\d+\)\)\r\n", changed[0]
    ), lines
    assert lines[-1] == b"s100 OK UID FETCH completed.\r\n"


@pytest.mark.maildir(SPEC)
async def test_select_qresync_with_stale_uidvalidity(imap_server: RunningServer) -> None:
    """§3.2.5: a UIDVALIDITY that does not match means a full resync; no VANISHED, no FETCH."""
    c, uidvalidity, highest = await qresync_session(imap_server)
    await c.cmd("a1 UID STORE 2 +FLAGS.SILENT (\\Deleted)")
    await c.cmd("a2 EXPUNGE")
    lines = await c.cmd(f"a3 SELECT INBOX (QRESYNC ({uidvalidity + 1} {highest} 1:12))")
    assert lines[-1] == b"a3 OK [READ-WRITE] SELECT completed.\r\n"
    assert not [line for line in lines if b"VANISHED" in line or b" FETCH " in line], lines


@pytest.mark.maildir(SPEC)
async def test_select_qresync_with_seq_match_data(imap_server: RunningServer) -> None:
    """§3.2.5.2: ``(QRESYNC (67890007 90060115194045000 1:29997 (5000,7500,9000 15000,22500,27000)))``;
    the sequence-match data helps the server shorten VANISHED, the result must still be right."""
    c, uidvalidity, highest = await qresync_session(imap_server)
    await c.cmd("a1 UID STORE 2,10 +FLAGS.SILENT (\\Deleted)")
    await c.cmd("a2 EXPUNGE")
    await c.cmd("a3 UID STORE 6 +FLAGS.SILENT (\\Flagged)")
    lines = await c.cmd(f"a4 SELECT INBOX (QRESYNC ({uidvalidity} {highest} 1:12 (3,6,9 3,6,9)))")
    vanished = [line for line in lines if line.startswith(b"* VANISHED")]
    assert vanished and all(line.startswith(b"* VANISHED (EARLIER) ") for line in vanished), lines
    reported: set[int] = set()
    for line in vanished:
        for part in line[len(b"* VANISHED (EARLIER) ") :].strip().split(b","):
            low, _, high = part.partition(b":")
            reported.update(range(int(low), int(high or low) + 1))
    assert {2, 10} <= reported and not reported & {1, 3, 4, 5, 6, 7, 8, 9, 11, 12}, lines
    fetches = [line for line in lines if b" FETCH (" in line]
    assert len(fetches) == 1 and b"UID 6 " in fetches[0] and b"\\Flagged" in fetches[0], lines
    assert lines[-1] == b"a4 OK [READ-WRITE] SELECT completed.\r\n"
