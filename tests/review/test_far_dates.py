"""Hostile review: dates outside what the sidecar's SQLite INTEGER (signed 64-bit) can hold.

The sidecar keeps INTERNALDATE as ``mtime_ns``; 2**63 ns is 2262-04-11. An APPEND with a later
date-time (legal: ``date-year = 4DIGIT``, RFC 9051 §9), or a file another program gave such an
mtime, raised ``OverflowError`` in ``state.commit`` on every sync: ``* BYE [SERVERBUG]`` for the
APPEND, then for every later SELECT of that folder (the folder stays unusable until the file is
removed by hand).
"""

from __future__ import annotations

import os

FAR_FUTURE_NS = 253_402_300_799 * 1_000_000_000  # 9999-12-31 23:59:59 UTC, in ns (> 2**63)


async def test_append_with_a_year_9999_date_time(imap_server) -> None:  # type: ignore[no-untyped-def]
    client = await imap_server.login()
    lines = await client.cmd(b'a1 APPEND INBOX "31-Dec-9999 23:59:59 +0000" {3}\r\nabc')
    # Stored as given (RFC 9051 §6.3.12), or refused with a tagged NO: never a BYE.
    assert lines[-1].startswith((b"a1 OK [APPENDUID ", b"a1 NO ")), lines
    stored = lines[-1].startswith(b"a1 OK")
    lines = await client.cmd("a2 SELECT INBOX")
    assert (b"* 4 EXISTS\r\n" if stored else b"* 3 EXISTS\r\n") in lines
    assert lines[-1].startswith(b"a2 OK"), lines
    if stored:
        lines = await client.cmd("a3 FETCH 4 (INTERNALDATE)")
        assert lines[0] == b'* 4 FETCH (INTERNALDATE "31-Dec-9999 23:59:59 +0000")\r\n'
    await client.aclose()


async def test_a_file_with_a_far_future_mtime_does_not_break_the_folder(imap_server) -> None:  # type: ignore[no-untyped-def]
    """Another program (``touch -d``, a restore tool) set a message file's mtime past 2262."""
    victim = sorted((imap_server.maildir / "cur").iterdir())[0]
    os.utime(victim, ns=(FAR_FUTURE_NS, FAR_FUTURE_NS))
    client = await imap_server.login()
    lines = await client.cmd("s1 SELECT INBOX")
    assert b"* 3 EXISTS\r\n" in lines
    assert lines[-1].startswith(b"s1 OK"), lines
    lines = await client.cmd("s2 STATUS Sent (MESSAGES)")
    assert lines[-1].startswith(b"s2 OK"), lines
    await client.aclose()
