"""RFC 2177 transcripts of IDLE as Thunderbird 153 drives it (seen on the wire through wiretap.py).

Thunderbird treats *any* untagged response that arrives after ``IDLE`` as "new mail while idling": it
sends ``DONE`` at once and then reads up to the next ``+`` or tagged line. If the server sends pending
updates *before* its ``+ idling`` continuation, Thunderbird's ``DONE`` crosses the continuation, it
takes ``+ idling`` as the end of the IDLE exchange, and the tagged ``OK`` of IDLE is later read as the
answer to the next command. Recorded with Thunderbird 153.8 (C = Thunderbird, S = maildird)::

    C: 98 IDLE
    S: * 4 EXISTS          <- pending update sent before the continuation
    S: * 1 RECENT
    S: + idling
    C: DONE                <- Thunderbird reacted to "* 4 EXISTS"
    C: 99 noop
    S: 98 OK IDLE terminated.
    C: 100 logout          <- Thunderbird read "98 OK" as the answer to 99: tag mismatch, it drops the link
    S: 99 OK NOOP completed.

The connection that was to idle on INBOX is gone, so new mail is not seen until the next poll. RFC 2177
§3's example (and Dovecot) send ``+ idling`` first and the updates after it; maildird does so since
commit 80a3f1b. The same Thunderbird runs showed a second fault: its quick ``DONE`` cancelled maildird's
IDLE push half-way through a write, which lost updates and, under COMPRESS=DEFLATE, desynchronised
the deflate stream (Thunderbird read ``43"0.1.0`` where ``43 OK IDLE terminated.`` was sent); over TLS a
cancelled ``SSLStream.send_all`` breaks the stream. ``test_done_during_a_long_idle_push_loses_nothing``
reproduces that one deterministically with a client that stops reading.
"""

from __future__ import annotations

import os
import re
import socket
import time
from pathlib import Path

import pytest
import trio

from tests.conftest import RunningServer
from tests.support.rawclient import RawClient


def _deliver(maildir: Path, tag: str) -> None:
    name = f"{int(time.time())}.M3P{os.getpid()}Q{tag}.maildird-test"
    raw = f"Subject: pushed\nMessage-ID: <{tag}@example.org>\n\nbody\n".encode()
    (maildir / "tmp" / name).write_bytes(raw)
    (maildir / "tmp" / name).rename(maildir / "new" / name)


async def test_idle_continuation_comes_before_pending_updates(imap_server: RunningServer) -> None:
    """RFC 2177 §3: ``+ idling`` first, then the EXISTS for mail that arrived before IDLE."""
    client = await imap_server.login()
    lines = await client.cmd("s1 SELECT INBOX")
    assert lines[-1].startswith(b"s1 OK"), lines
    _deliver(imap_server.maildir, "pending")
    await client.send_raw(b"98 IDLE\r\n")
    seen = [await client.read_line()]
    while b"+ idling\r\n" not in seen or b"* 4 EXISTS\r\n" not in seen:
        seen.append(await client.read_line())
    await client.send_raw(b"DONE\r\n")
    while not seen[-1].startswith(b"98 "):
        seen.append(await client.read_line())
    assert seen[0] == b"+ idling\r\n", seen
    assert seen[-1] == b"98 OK IDLE terminated.\r\n", seen


async def test_done_and_next_command_in_flight_together(imap_server: RunningServer) -> None:
    """Thunderbird sends DONE and its next command back to back: both get their own tagged answer."""
    client = await imap_server.login()
    lines = await client.cmd("s1 SELECT INBOX")
    assert lines[-1].startswith(b"s1 OK"), lines
    await client.send_raw(b"98 IDLE\r\n")
    assert await client.read_line() == b"+ idling\r\n"
    await client.send_raw(b"DONE\r\n99 noop\r\n")
    assert await client.read_line() == b"98 OK IDLE terminated.\r\n"
    assert (await client.read_line()).startswith(b"99 OK")


# Enough flag updates that maildird's IDLE push fills the socket buffers of a client that doesn't read.
MANY = 3000
SMALL_RECEIVE_BUFFER = 4096
# Seconds to let maildird's IDLE push run into the full socket buffer before DONE is sent.
SETTLE = 1.0
_FETCH_FLAGS = re.compile(rb"^\* (\d+) FETCH \((?:UID \d+ )?FLAGS \(([^)]*)\)\)\r\n$")


async def _small_window_login(server: RunningServer) -> RawClient:
    sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_RECEIVE_BUFFER)
    await sock.connect((server.host, server.port))
    client = RawClient(trio.SocketStream(sock))
    client.greeting = await client.read_line()
    lines = await client.cmd(f'L1 LOGIN {server.user} "{server.password}"')
    assert lines[-1].startswith(b"L1 OK"), lines
    return client


@pytest.mark.maildir({"INBOX": [{"id": f"<m{i}@example.org>", "flags": ""} for i in range(MANY)]})
async def test_done_during_a_long_idle_push_loses_nothing(imap_server: RunningServer) -> None:
    """RFC 2177 §3 / RFC 9051 §7.5.1: flag changes made by another process during IDLE all reach the client,
    either before IDLE's tagged OK or at the next command, and every response line arrives whole."""
    client = await _small_window_login(imap_server)
    lines = await client.cmd("s1 SELECT INBOX")
    assert lines[-1].startswith(b"s1 OK"), lines
    await client.send_raw(b"98 IDLE\r\n")
    assert await client.read_line() == b"+ idling\r\n"
    cur = imap_server.maildir / "cur"
    for path in list(cur.iterdir()):  # another process flags every message
        path.rename(path.with_name(path.name.replace(":2,", ":2,F")))
    await trio.sleep(SETTLE)  # the push is now blocked on the full socket buffer
    await client.send_raw(b"DONE\r\n")
    seen = [await client.read_line()]
    while not seen[-1].startswith(b"98 "):
        seen.append(await client.read_line())
    seen += await client.cmd("99 NOOP")
    malformed = [
        line for line in seen if not (_FETCH_FLAGS.match(line) or line.startswith((b"98 OK", b"99 OK")))
    ]
    assert malformed == [], malformed[:5]
    flagged = {
        int(m.group(1)) for line in seen if (m := _FETCH_FLAGS.match(line)) and b"\\Flagged" in m.group(2)
    }
    assert sorted(set(range(1, MANY + 1)) - flagged)[:10] == []
