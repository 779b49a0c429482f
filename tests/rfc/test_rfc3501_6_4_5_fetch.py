"""RFC 3501 §6.4.5 / RFC 9051 §6.4.5 FETCH over a real server and Maildir (seed bugs 4 and 6).

Also RFC 9051 §7.5.1: while one session expunges, another's FETCH by message number gets no EXPUNGE;
it arrives at the next NOOP.
"""

from __future__ import annotations

import re

from tests.conftest import RunningServer
from tests.support.maildirs import read_maildir_state

LITERAL = re.compile(rb"\{(\d+)\}\r\n")


def strip(lines: list[bytes]) -> list[bytes]:
    return [line.removesuffix(b"\r\n") for line in lines]


async def test_uid_fetch_uid_first_and_size_is_literal_length(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    await c.cmd("a1 SELECT INBOX")
    lines = await c.cmd("a2 UID FETCH 1:* (RFC822.SIZE BODY.PEEK[])")
    fetches = lines[:-1]
    assert len(fetches) == 3
    for uid, line in enumerate(fetches, 1):
        m = re.match(rb"\* (\d+) FETCH \(UID (\d+) RFC822\.SIZE (\d+) BODY\[\] \{(\d+)\}\r\n", line)
        assert m is not None, line
        assert int(m.group(2)) == uid
        size = int(m.group(3))
        assert size == int(m.group(4)) > 0  # never a zero-length body; CRLF size
        body = line[m.end() : m.end() + size]
        assert b"\n" not in body.replace(b"\r\n", b"")
    assert lines[-1] == b"a2 OK UID FETCH completed.\r\n"


async def test_partial_fetch_label_has_origin_only(imap_server: RunningServer) -> None:
    """Seed bug 4: ``BODY[]<0>``, not ``BODY[]<0.20>`` (RFC 3501 §7.4.2)."""
    c = await imap_server.login()
    await c.cmd("a1 SELECT INBOX")
    lines = await c.cmd("a2 FETCH 2 (BODY.PEEK[]<0.20>)")
    assert lines[0].startswith(b"* 2 FETCH (BODY[]<0> {20}\r\n")
    lines = await c.cmd("a3 UID FETCH 2 (BODY.PEEK[]<10.5>)")
    assert lines[0].startswith(b"* 2 FETCH (UID 2 BODY[]<10> {5}\r\n")


async def test_rfc822_sets_seen_and_reports_flags(imap_server: RunningServer) -> None:
    """Seed bug 6: RFC822 sets \\Seen (the FETCH response carries the new FLAGS); BODY.PEEK does not."""
    c = await imap_server.login()
    await c.cmd("a1 SELECT INBOX")
    lines = await c.cmd("a2 FETCH 2 (BODY.PEEK[TEXT])")
    assert b"FLAGS" not in lines[0]
    assert read_maildir_state(imap_server.maildir)["INBOX"]["<m2@example.org>"] == frozenset()
    lines = await c.cmd("a3 FETCH 2 (RFC822)")
    assert lines[0].startswith(b"* 2 FETCH (RFC822 {")
    assert lines[0].endswith(b" FLAGS (\\Seen))\r\n")
    assert read_maildir_state(imap_server.maildir)["INBOX"]["<m2@example.org>"] == frozenset({"\\Seen"})
    assert strip(await c.cmd("a4 NOOP")) == [b"a4 OK NOOP completed."]


async def test_examine_fetch_body_does_not_set_seen(imap_server: RunningServer) -> None:
    """Seed bug 6: no \\Seen from BODY[] in a read-only (EXAMINE) mailbox."""
    c = await imap_server.login()
    lines = await c.cmd("a1 EXAMINE INBOX")
    assert lines[-1].startswith(b"a1 OK [READ-ONLY]")
    lines = await c.cmd("a2 FETCH 2 (BODY[] RFC822.TEXT)")
    assert b"FLAGS" not in lines[0]
    assert read_maildir_state(imap_server.maildir)["INBOX"]["<m2@example.org>"] == frozenset()


async def test_expunge_in_other_session_waits_for_noop(imap_server: RunningServer) -> None:
    a = await imap_server.login()
    b = await imap_server.login()
    await a.cmd("a1 SELECT INBOX")
    await b.cmd("b1 SELECT INBOX")
    assert strip(await a.cmd("a2 STORE 1 +FLAGS.SILENT (\\Deleted)"))[-1] == b"a2 OK STORE completed."
    assert strip(await a.cmd("a3 EXPUNGE")) == [b"* 1 EXPUNGE", b"a3 OK EXPUNGE completed."]
    lines = strip(await b.cmd("b2 FETCH 1:3 (FLAGS)"))
    assert not [line for line in lines if line.endswith(b"EXPUNGE")], lines
    assert lines[-1] == b"b2 OK FETCH completed."
    assert [line.split(b" FETCH")[0] for line in lines[:-1] if b"FETCH" in line] == [b"* 1", b"* 2", b"* 3"]
    lines = strip(await b.cmd("b3 SEARCH ALL"))
    assert lines == [b"* SEARCH 1 2 3", b"b3 OK SEARCH completed."]
    assert strip(await b.cmd("b4 NOOP")) == [b"* 1 EXPUNGE", b"b4 OK NOOP completed."]
    assert strip(await b.cmd("b5 SEARCH ALL")) == [b"* SEARCH 1 2", b"b5 OK SEARCH completed."]
