"""RFC 7889 APPENDLIMIT: §2 ``APPENDLIMIT=<n>`` in CAPABILITY is the server-wide limit, §3 an APPEND larger
than it fails with ``NO [TOOBIG]`` (RFC 4469/5530 response code) and nothing is stored -- also when the
too-large literal is non-synchronizing (LITERAL+, the client has already sent the data) -- and §4 the
``APPENDLIMIT`` STATUS item (also in LIST-STATUS)."""

from __future__ import annotations

import pytest

from tests.conftest import RunningServer
from tests.support.maildirs import read_maildir_state

LIMIT = 2048


@pytest.mark.server_config(max_append=LIMIT)
async def test_capability_and_status_show_the_limit(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    caps = (await c.cmd("a1 CAPABILITY"))[0].split()
    assert b"APPENDLIMIT=%d" % LIMIT in caps
    assert await c.cmd("a2 STATUS INBOX (APPENDLIMIT)") == [
        b"* STATUS INBOX (APPENDLIMIT %d)\r\n" % LIMIT,
        b"a2 OK STATUS completed.\r\n",
    ]
    assert await c.cmd('a3 LIST "" Sent RETURN (STATUS (APPENDLIMIT))') == [
        b'* LIST (\\HasNoChildren \\Sent) "." Sent\r\n',
        b"* STATUS Sent (APPENDLIMIT %d)\r\n" % LIMIT,
        b"a3 OK LIST completed.\r\n",
    ]


@pytest.mark.server_config(max_append=LIMIT)
async def test_append_at_the_limit_and_above(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    head = b"Message-ID: <lim@example.org>\r\n\r\n"
    exact = head + b"x" * (LIMIT - len(head))
    lines = await c.cmd(b"a1 APPEND Sent {%d}\r\n%s" % (len(exact), exact))
    assert lines[-1].startswith(b"a1 OK [APPENDUID "), lines
    too_big = b"Message-ID: <big@example.org>\r\n\r\n" + b"x" * LIMIT
    # Synchronizing: refused before the data is sent (no "+").
    assert await c.cmd(b"a2 APPEND Sent {%d}\r\n%s" % (len(too_big), too_big)) == [
        b"a2 NO [TOOBIG] Message too large\r\n"
    ]
    # Non-synchronizing: the data is read and dropped, the connection stays in step.
    await c.send_raw(b"a3 APPEND Sent {%d+}\r\n%s\r\n" % (len(too_big), too_big))
    assert await c.read_until_tagged("a3") == [b"a3 NO [TOOBIG] Message too large\r\n"]
    assert await c.cmd("a4 NOOP") == [b"a4 OK NOOP completed.\r\n"]
    sent = read_maildir_state(imap_server.maildir)["Sent"]
    assert "<lim@example.org>" in sent and "<big@example.org>" not in sent
