"""RFC 9051 behaviour after ``ENABLE IMAP4rev2`` (RFC 9051 §6.3.1; until then the session is IMAP4rev1):
no \\Recent anywhere -- no ``* n RECENT`` on SELECT or on new mail, no \\Recent in FLAGS (Appendix E item
"\\Recent ... removed"); no ``[UNSEEN n]`` on SELECT (Appendix E); SELECT returns a LIST response for the
mailbox (§6.3.2); SEARCH and UID SEARCH answer with ESEARCH even without RETURN, an empty result being
``* ESEARCH (TAG "x")`` (§6.4.4, §7.3.4, the §6.4.4.4 examples); STATUS knows DELETED and SIZE (§6.3.11).
"""

from __future__ import annotations

import os
import re

import pytest
import trio

from tests.conftest import RunningServer
from tests.support.maildirs import sample_message
from tests.support.rawclient import RawClient

SPEC = {
    "INBOX": [
        {"id": "<r1@example.org>", "flags": "S"},
        {"id": "<r2@example.org>", "flags": "FT"},
        {"id": "<r3@example.org>", "flags": "F"},
        {"id": "<r4@example.org>", "new": True},
    ],
    "blurdybloop": [{"id": "<b1@example.org>", "flags": "T"}, {"id": "<b2@example.org>"}],
}
NUMBER = rb"[1-9]\d*"
POLL_INTERVAL = 0.05  # NOOP polling for an outside delivery; bounded by the loop count


async def rev2_session(server: RunningServer) -> RawClient:
    c = await server.login()
    assert await c.cmd("v0 ENABLE IMAP4rev2") == [b"* ENABLED IMAP4rev2\r\n", b"v0 OK ENABLE completed.\r\n"]
    return c


@pytest.mark.maildir(SPEC)
async def test_select_after_enable(imap_server: RunningServer) -> None:
    c = await rev2_session(imap_server)
    lines = await c.cmd("A142 SELECT INBOX")
    expected = [
        rb"\* FLAGS \(\\Answered \\Flagged \\Deleted \\Seen \\Draft\)\r\n",
        rb"\* OK \[PERMANENTFLAGS \(\\Answered \\Flagged \\Deleted \\Seen \\Draft \\\*\)\] .*\r\n",
        rb"\* 4 EXISTS\r\n",
        rb"\* OK \[UIDVALIDITY " + NUMBER + rb"\] .*\r\n",
        rb"\* OK \[UIDNEXT 5\] .*\r\n",
        rb"\* OK \[HIGHESTMODSEQ " + NUMBER + rb"\] .*\r\n",
        rb'\* LIST \(\\HasNoChildren\) "\." INBOX\r\n',
        rb"A142 OK \[READ-WRITE\] SELECT completed\.\r\n",
    ]
    assert len(lines) == len(expected), lines
    for line, pattern in zip(lines, expected, strict=True):
        assert re.fullmatch(pattern, line), (line, pattern)


@pytest.mark.maildir(SPEC)
async def test_rev1_until_enabled(imap_server: RunningServer) -> None:
    """The same mailbox in a session that did not enable IMAP4rev2 still gets RFC 3501 answers."""
    c = await imap_server.login()
    lines = await c.cmd("a1 SELECT INBOX")
    assert b"* 1 RECENT\r\n" in lines and b"* OK [UNSEEN 2] First unseen is 2.\r\n" in lines
    assert not [line for line in lines if line.startswith(b"* LIST")]
    assert await c.cmd("a2 SEARCH FLAGGED") == [b"* SEARCH 2 3\r\n", b"a2 OK SEARCH completed.\r\n"]
    assert (await c.cmd("a3 FETCH 4 (FLAGS)"))[0] == b"* 4 FETCH (FLAGS (\\Recent))\r\n"


@pytest.mark.maildir(SPEC)
async def test_no_recent_flag_or_response(imap_server: RunningServer) -> None:
    c = await rev2_session(imap_server)
    await c.cmd("a1 SELECT INBOX")
    assert await c.cmd("a2 FETCH 4 (FLAGS)") == [b"* 4 FETCH (FLAGS ())\r\n", b"a2 OK FETCH completed.\r\n"]
    # New mail while selected: EXISTS only.
    tmp = imap_server.maildir / "tmp" / "1700009999.M9P9Q9.mda"
    tmp.write_bytes(sample_message(message_id="<r5@example.org>"))
    os.rename(tmp, imap_server.maildir / "new" / tmp.name)
    for n in range(200):
        lines = await c.cmd(f"n{n} NOOP")
        if len(lines) > 1:
            break
        await trio.sleep(POLL_INTERVAL)
    assert lines == [b"* 5 EXISTS\r\n", f"n{n} OK NOOP completed.\r\n".encode()]
    assert (await c.cmd("a3 FETCH 5 (FLAGS)"))[0] == b"* 5 FETCH (FLAGS ())\r\n"


@pytest.mark.maildir(SPEC)
async def test_search_answers_esearch(imap_server: RunningServer) -> None:
    """§6.4.4.4: ``A282 SEARCH RETURN (MIN COUNT) FLAGGED ...`` -> ``* ESEARCH (TAG "A282") MIN 2 COUNT 3``;
    ``A283 SEARCH TEXT "string not in mailbox"`` -> ``* ESEARCH (TAG "A283")``;
    SEARCH alone is RETURN (ALL)."""
    c = await rev2_session(imap_server)
    await c.cmd("a1 SELECT INBOX")
    assert await c.cmd("A282 SEARCH RETURN (MIN COUNT) FLAGGED") == [
        b'* ESEARCH (TAG "A282") MIN 2 COUNT 2\r\n',
        b"A282 OK SEARCH completed.\r\n",
    ]
    assert await c.cmd('A283 SEARCH TEXT "string not in mailbox"') == [
        b'* ESEARCH (TAG "A283")\r\n',
        b"A283 OK SEARCH completed.\r\n",
    ]
    assert await c.cmd("A284 SEARCH FLAGGED") == [
        b'* ESEARCH (TAG "A284") ALL 2:3\r\n',
        b"A284 OK SEARCH completed.\r\n",
    ]
    assert await c.cmd("A285 UID SEARCH UNDELETED") == [
        b'* ESEARCH (TAG "A285") UID ALL 1,3:4\r\n',
        b"A285 OK UID SEARCH completed.\r\n",
    ]


@pytest.mark.maildir(SPEC)
async def test_status_deleted_and_size(imap_server: RunningServer) -> None:
    """§6.3.11: ``A042 STATUS blurdybloop (UIDNEXT MESSAGES)`` and the rev2 items DELETED and SIZE."""
    c = await rev2_session(imap_server)
    assert await c.cmd("A042 STATUS blurdybloop (UIDNEXT MESSAGES)") == [
        b"* STATUS blurdybloop (UIDNEXT 3 MESSAGES 2)\r\n",
        b"A042 OK STATUS completed.\r\n",
    ]
    lines = await c.cmd("A043 STATUS blurdybloop (DELETED SIZE)")
    assert re.fullmatch(rb"\* STATUS blurdybloop \(DELETED 1 SIZE " + NUMBER + rb"\)\r\n", lines[0]), lines


@pytest.mark.maildir(SPEC)
async def test_expunge_still_sends_expunge(imap_server: RunningServer) -> None:
    """§7.5.1: EXPUNGE responses are unchanged in rev2 (VANISHED needs QRESYNC)."""
    c = await rev2_session(imap_server)
    await c.cmd("a1 SELECT INBOX")
    assert await c.cmd("a2 EXPUNGE") == [b"* 2 EXPUNGE\r\n", b"a2 OK EXPUNGE completed.\r\n"]
