"""RFC 2177 §3 IDLE: the RFC's example (new mail while idling, DONE), IDLE in the authenticated state, the
keep-alive ``* OK Still here`` (§3: servers may send untagged responses at any time while idling; Dovecot's
wording), and DONE only ends the IDLE it belongs to. Pushes from other sessions and outside writers are in
test_rfc2177_idle.py and test_rfc2177_idle_outside_writers.py.
"""

from __future__ import annotations

import os

import pytest

from tests.conftest import RunningServer
from tests.support.maildirs import sample_message


async def test_rfc_example_new_mail_while_idling(imap_server: RunningServer) -> None:
    """RFC 2177 §3: ``A002 IDLE`` / ``+ idling`` / ``* 4 EXISTS`` / ``DONE`` / ``A002 OK IDLE terminated``."""
    c = await imap_server.login()
    await c.cmd("A001 SELECT INBOX")
    await c.send_raw(b"A002 IDLE\r\n")
    assert await c.read_line() == b"+ idling\r\n"
    # New mail arrives: an MDA delivers into new/ (tmp/ then rename, maildir-format.md §1.2).
    tmp = imap_server.maildir / "tmp" / "1700009999.M1P1Q1.mda"
    tmp.write_bytes(sample_message(message_id="<idle4@example.org>", subject="arrived"))
    os.rename(tmp, imap_server.maildir / "new" / tmp.name)
    assert await c.read_line() == b"* 4 EXISTS\r\n"
    assert await c.read_line() == b"* 1 RECENT\r\n"
    await c.send_raw(b"DONE\r\n")
    assert await c.read_until_tagged("A002") == [b"A002 OK IDLE terminated.\r\n"]
    lines = await c.cmd("A003 FETCH 4 (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert (
        lines[0]
        == b"* 4 FETCH (FLAGS (\\Recent) BODY[HEADER.FIELDS (SUBJECT)] {20}\r\nSubject: arrived\r\n\r\n)\r\n"
    )


async def test_idle_in_authenticated_state(imap_server: RunningServer) -> None:
    """RFC 2177 §3 / RFC 9051 §6.3.13: IDLE is valid in the authenticated state too."""
    c = await imap_server.login()
    await c.send_raw(b"a1 IDLE\r\n")
    assert await c.read_line() == b"+ idling\r\n"
    await c.send_raw(b"done\r\n")  # DONE is case-insensitive like every IMAP keyword (RFC 9051 §9)
    assert await c.read_until_tagged("a1") == [b"a1 OK IDLE terminated.\r\n"]
    assert await c.cmd("a2 NOOP") == [b"a2 OK NOOP completed.\r\n"]


async def test_idle_before_login_is_refused(imap_server: RunningServer) -> None:
    c = await imap_server.connect()
    lines = await c.cmd("a1 IDLE")
    assert len(lines) == 1 and lines[0].startswith(b"a1 BAD "), lines


@pytest.mark.server_config(idle_keepalive=0.05)
async def test_keepalive_while_idling(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    await c.cmd("a1 SELECT INBOX")
    await c.send_raw(b"a2 IDLE\r\n")
    assert await c.read_line() == b"+ idling\r\n"
    assert await c.read_line() == b"* OK Still here\r\n"
    assert await c.read_line() == b"* OK Still here\r\n"
    await c.send_raw(b"DONE\r\n")
    lines = await c.read_until_tagged("a2")
    assert lines[-1] == b"a2 OK IDLE terminated.\r\n"
    assert set(lines[:-1]) <= {b"* OK Still here\r\n"}
