"""RFC 7162 §3.1 CONDSTORE, the RFC's examples adapted (modseq values in regex slots or taken from the
server): §3.1.2.1 HIGHESTMODSEQ on SELECT (never 0), §3.1.3 STORE UNCHANGEDSINCE (examples 3 and 4: all
pass / some fail with ``[MODIFIED set]``; UNCHANGEDSINCE 0 always fails), §3.1.4.1 FETCH CHANGEDSINCE,
§3.1.5-6 SEARCH MODSEQ (``* SEARCH ... (MODSEQ n)``, none without matches), §3.1.7 STATUS HIGHESTMODSEQ,
§3.1.8 CONDSTORE-enabling commands, and §3.1 "the server MUST include MODSEQ in all subsequent unsolicited
FETCH responses" for another session's change. Also: with ``[mail] condstore = false`` CONDSTORE is not
advertised and its parameters are refused."""

from __future__ import annotations

import re

import pytest

from tests.conftest import RunningServer
from tests.support.rawclient import RawClient

SPEC = {
    "INBOX": [
        {"id": "<c1@example.org>", "flags": "S"},
        {"id": "<c2@example.org>", "flags": "D"},
        {"id": "<c3@example.org>", "flags": ""},
        {"id": "<c4@example.org>", "flags": "F"},
        {"id": "<c5@example.org>", "flags": "D"},
    ],
    "blurdybloop": [{"id": "<b1@example.org>"}, {"id": "<b2@example.org>"}],
}
MODSEQ = rb"[1-9]\d*"  # mod-sequence-value: 1..2^63-1, never 0 (§3.1.1, §7)


def number(lines: list[bytes], pattern: bytes) -> int:
    match = re.search(pattern, b"".join(lines))
    assert match is not None, (pattern, lines)
    return int(match.group(1))


async def select_condstore(c: RawClient) -> int:
    lines = await c.cmd("a0 SELECT INBOX (CONDSTORE)")
    assert re.fullmatch(rb"\* OK \[HIGHESTMODSEQ (" + MODSEQ + rb")\] .*\r\n", lines[-2]), lines
    return number(lines, rb"\[HIGHESTMODSEQ (\d+)\]")


@pytest.mark.maildir(SPEC)
async def test_store_unchangedsince_all_pass(imap_server: RunningServer) -> None:
    """§3.1.3 example 3: ``a103 UID STORE 6,4,8 (UNCHANGEDSINCE 12121230045) +FLAGS.SILENT (\\Deleted)``
    -> one ``* n FETCH (UID u MODSEQ (m))`` per message, even with .SILENT, and OK."""
    c = await imap_server.login()
    highest = await select_condstore(c)
    lines = await c.cmd(f"a103 UID STORE 5,2,4 (UNCHANGEDSINCE {highest}) +FLAGS.SILENT (\\Deleted)")
    assert lines[-1] == b"a103 OK STORE completed.\r\n" or lines[-1] == b"a103 OK UID STORE completed.\r\n"
    fetches = sorted(lines[:-1])
    assert len(fetches) == 3, lines
    for line, (seq, uid) in zip(fetches, [(2, 2), (4, 4), (5, 5)], strict=True):
        match = re.fullmatch(rb"\* %d FETCH \(UID %d MODSEQ \((" % (seq, uid) + MODSEQ + rb")\)\)\r\n", line)
        assert match is not None and int(match.group(1)) > highest, line


@pytest.mark.maildir(SPEC)
async def test_store_unchangedsince_some_fail(imap_server: RunningServer) -> None:
    """§3.1.3 example 4: messages changed after UNCHANGEDSINCE are listed in ``[MODIFIED ...]`` and left
    alone; the others are stored."""
    c = await imap_server.login()
    highest = await select_condstore(c)
    other = await imap_server.login()
    await other.cmd("b1 SELECT INBOX")
    await other.cmd("b2 STORE 2,4 +FLAGS.SILENT (\\Answered)")
    lines = await c.cmd(f"d105 STORE 1:5 (UNCHANGEDSINCE {highest}) +FLAGS (\\Seen)")
    assert lines[-1] == b"d105 OK [MODIFIED 2,4] Conditional STORE failed.\r\n", lines
    flags = await c.cmd("d106 FETCH 1:5 (FLAGS)")
    assert [re.search(rb"FLAGS \(([^)]*)\)", line).group(1) for line in flags[:-1]] == [  # type: ignore[union-attr]
        b"\\Seen",
        b"\\Answered \\Draft",
        b"\\Seen",
        b"\\Answered \\Flagged",
        b"\\Seen \\Draft",
    ]


@pytest.mark.maildir(SPEC)
async def test_unchangedsince_zero_always_fails(imap_server: RunningServer) -> None:
    """§3.1.3: "Use of UNCHANGEDSINCE with a modification sequence of 0 always fails"."""
    c = await imap_server.login()
    await select_condstore(c)
    assert await c.cmd("a1 UID STORE 1:3 (UNCHANGEDSINCE 0) +FLAGS (\\Answered)") == [
        b"a1 OK [MODIFIED 1:3] Conditional STORE failed.\r\n"
    ]


@pytest.mark.maildir(SPEC)
async def test_fetch_changedsince(imap_server: RunningServer) -> None:
    """§3.1.4.1: ``s100 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)`` -> only the changed messages, with
    MODSEQ added to each response."""
    c = await imap_server.login()
    highest = await select_condstore(c)
    await c.cmd("a1 STORE 3 +FLAGS.SILENT (\\Flagged)")
    lines = await c.cmd(f"s100 UID FETCH 1:* (FLAGS) (CHANGEDSINCE {highest})")
    assert len(lines) == 2, lines
    match = re.fullmatch(rb"\* 3 FETCH \(UID 3 FLAGS \(\\Flagged\) MODSEQ \((\d+)\)\)\r\n", lines[0])
    assert match is not None and int(match.group(1)) > highest, lines
    assert lines[1] == b"s100 OK UID FETCH completed.\r\n"
    assert await c.cmd(f"s101 FETCH 1:* (FLAGS) (CHANGEDSINCE {match.group(1).decode()})") == [
        b"s101 OK FETCH completed.\r\n"
    ]


@pytest.mark.maildir(SPEC)
async def test_search_modseq(imap_server: RunningServer) -> None:
    """§3.1.5: ``a SEARCH MODSEQ "/flags/\\\\draft" all 620162338`` -> ``* SEARCH 2 5 ... (MODSEQ n)`` with
    n the highest mod-sequence of the matches; no MODSEQ when nothing matches."""
    c = await imap_server.login()
    highest = await select_condstore(c)
    await c.cmd("a1 STORE 2 -FLAGS.SILENT (\\Draft)")
    await c.cmd("a2 STORE 5 +FLAGS.SILENT (\\Seen)")
    modseqs = await c.cmd("a3 FETCH 2,5 (MODSEQ)")
    top = max(number([line], rb"MODSEQ \((\d+)\)") for line in modseqs[:-1])
    assert await c.cmd(f'a SEARCH MODSEQ "/flags/\\\\draft" all {highest + 1}') == [
        b"* SEARCH 2 5 (MODSEQ %d)\r\n" % top,
        b"a OK SEARCH completed.\r\n",
    ]
    assert await c.cmd(f"b SEARCH MODSEQ {top + 1}") == [b"* SEARCH\r\n", b"b OK SEARCH completed.\r\n"]


@pytest.mark.maildir(SPEC)
async def test_status_highestmodseq(imap_server: RunningServer) -> None:
    """§3.1.7: ``A042 STATUS blurdybloop (UIDNEXT MESSAGES HIGHESTMODSEQ)``; it equals SELECT's value and
    grows with every change."""
    c = await imap_server.login()
    lines = await c.cmd("A042 STATUS blurdybloop (UIDNEXT MESSAGES HIGHESTMODSEQ)")
    match = re.fullmatch(
        rb"\* STATUS blurdybloop \(UIDNEXT 3 MESSAGES 2 HIGHESTMODSEQ (" + MODSEQ + rb")\)\r\n", lines[0]
    )
    assert match is not None, lines
    selected = await c.cmd("A043 SELECT blurdybloop (CONDSTORE)")
    assert number(selected, rb"\[HIGHESTMODSEQ (\d+)\]") == int(match.group(1))
    await c.cmd("A044 STORE 1 +FLAGS (\\Seen)")
    await c.cmd("A045 UNSELECT")
    after = await c.cmd("A046 STATUS blurdybloop (HIGHESTMODSEQ)")
    assert number(after, rb"HIGHESTMODSEQ (\d+)") > int(match.group(1))


@pytest.mark.maildir(SPEC)
async def test_fetch_modseq_enables_condstore(imap_server: RunningServer) -> None:
    """§3.1: FETCH MODSEQ is a CONDSTORE-enabling command; with a mailbox selected the server first reports
    its HIGHESTMODSEQ, and afterwards FETCH responses for flag changes carry MODSEQ."""
    c = await imap_server.login()
    await c.cmd("a1 SELECT INBOX")
    assert await c.cmd("a2 STORE 1 +FLAGS (\\Answered)") == [
        b"* 1 FETCH (FLAGS (\\Answered \\Seen))\r\n",
        b"a2 OK STORE completed.\r\n",
    ]
    lines = await c.cmd("a3 FETCH 1 (MODSEQ)")
    assert len(lines) == 3, lines
    assert re.fullmatch(rb"\* OK \[HIGHESTMODSEQ " + MODSEQ + rb"\] .*\r\n", lines[0]), lines
    assert re.fullmatch(rb"\* 1 FETCH \(MODSEQ \(" + MODSEQ + rb"\)\)\r\n", lines[1]), lines
    lines = await c.cmd("a4 STORE 1 -FLAGS (\\Answered)")
    assert re.fullmatch(
        rb"\* 1 FETCH \((?:UID 1 )?FLAGS \(\\Seen\) MODSEQ \(" + MODSEQ + rb"\)\)\r\n", lines[0]
    ), lines


@pytest.mark.maildir(SPEC)
async def test_other_sessions_changes_carry_modseq(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    highest = await select_condstore(c)
    other = await imap_server.login()
    await other.cmd("b1 SELECT INBOX")
    await other.cmd("b2 STORE 3 +FLAGS.SILENT (\\Flagged)")
    lines = await c.cmd("a1 NOOP")
    # §3.2.4 (a QRESYNC server): UID and MODSEQ in every FETCH an external agent causes.
    match = re.fullmatch(rb"\* 3 FETCH \(UID 3 FLAGS \(\\Flagged\) MODSEQ \((\d+)\)\)\r\n", lines[0])
    assert match is not None and int(match.group(1)) > highest, lines
    assert lines[-1] == b"a1 OK NOOP completed.\r\n"


@pytest.mark.maildir(SPEC)
async def test_implicit_seen_reports_uid_flags_and_modseq(imap_server: RunningServer) -> None:
    """§3.2.4: once CONDSTORE is enabled, a FETCH that implicitly sets \\Seen carries UID and MODSEQ (and
    the new FLAGS, RFC 3501 §6.4.5); a FETCH that changes nothing needs neither."""
    c = await imap_server.login()
    highest = await select_condstore(c)
    lines = await c.cmd("a1 FETCH 3 (BODY[HEADER.FIELDS (MESSAGE-ID)])")
    match = re.fullmatch(
        rb"\* 3 FETCH \(UID 3 BODY\[HEADER\.FIELDS \(MESSAGE-ID\)\] \{32\}\r\n"
        rb"Message-ID: <c3@example\.org>\r\n\r\n"
        rb" FLAGS \(\\Seen\) MODSEQ \((\d+)\)\)\r\n",
        lines[0],
    )
    assert match is not None and int(match.group(1)) > highest, lines
    assert await c.cmd("a2 FETCH 3 (BODY[HEADER.FIELDS (MESSAGE-ID)])") == [
        b"* 3 FETCH (BODY[HEADER.FIELDS (MESSAGE-ID)] {32}\r\nMessage-ID: <c3@example.org>\r\n\r\n)\r\n",
        b"a2 OK FETCH completed.\r\n",
    ]


@pytest.mark.maildir(SPEC)
async def test_enable_condstore_while_selected_reports_highestmodseq(imap_server: RunningServer) -> None:
    """§3.1: enabling CONDSTORE with a mailbox selected makes the server send HIGHESTMODSEQ for it."""
    c = await imap_server.login()
    await c.cmd("a1 SELECT INBOX")
    lines = await c.cmd("a2 ENABLE CONDSTORE")
    assert re.fullmatch(rb"\* OK \[HIGHESTMODSEQ " + MODSEQ + rb"\] .*\r\n", lines[0]), lines
    assert lines[1:] == [b"* ENABLED CONDSTORE\r\n", b"a2 OK ENABLE completed.\r\n"]


@pytest.mark.server_config(mail={"condstore": False})
async def test_condstore_switched_off(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    caps = (await c.cmd("a0 CAPABILITY"))[0].split()
    assert b"CONDSTORE" not in caps and b"QRESYNC" not in caps
    assert await c.cmd("a1 ENABLE CONDSTORE QRESYNC") == [b"* ENABLED\r\n", b"a1 OK ENABLE completed.\r\n"]
    lines = await c.cmd("a2 SELECT INBOX (CONDSTORE)")
    assert len(lines) == 1 and lines[0].startswith(b"a2 BAD "), lines
    lines = await c.cmd("a3 SELECT INBOX")
    assert b"HIGHESTMODSEQ" not in b"".join(lines)
