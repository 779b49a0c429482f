"""RFC 3501 §6.4.6 STORE over a real server and Maildir (seed bugs 7 and 8)."""

from __future__ import annotations

import pytest

from tests.conftest import RunningServer
from tests.support.maildirs import read_maildir_state

NEW_SPEC = {
    "INBOX": [
        {"id": "<n1@example.org>", "flags": "", "new": True, "subject": "Fresh"},
        {"id": "<n2@example.org>", "flags": "S", "subject": "Old"},
    ]
}


def strip(lines: list[bytes]) -> list[bytes]:
    return [line.removesuffix(b"\r\n") for line in lines]


@pytest.mark.maildir(NEW_SPEC)
async def test_store_flags_keeps_recent(imap_server: RunningServer) -> None:
    """Seed bug 7: STORE FLAGS replaces stored flags but never clears the session's \\Recent."""
    c = await imap_server.login()
    lines = strip(await c.cmd("a1 SELECT INBOX"))
    assert b"* 1 RECENT" in lines
    assert strip(await c.cmd("a2 STORE 1 FLAGS (\\Flagged)")) == [
        b"* 1 FETCH (FLAGS (\\Flagged \\Recent))",
        b"a2 OK STORE completed.",
    ]
    assert strip(await c.cmd("a3 SEARCH RECENT")) == [b"* SEARCH 1", b"a3 OK SEARCH completed."]
    lines = strip(await c.cmd("a4 STORE 1 FLAGS (\\Recent)"))
    assert lines[-1].startswith(b"a4 BAD"), lines  # \Recent cannot be stored (RFC 3501 §2.3.2)


async def test_keywords_are_stored_and_permanent(imap_server: RunningServer) -> None:
    """Seed bug 8: Thunderbird's keywords are accepted and kept on disk; PERMANENTFLAGS has \\*."""
    c = await imap_server.login()
    lines = strip(await c.cmd("a1 SELECT INBOX"))
    assert next(line for line in lines if b"PERMANENTFLAGS" in line).endswith(b" \\*)] Flags permitted.")
    lines = strip(await c.cmd("a2 UID STORE 2 +FLAGS ($Forwarded $label1 NonJunk)"))
    assert lines[0] == b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded $label1 NonJunk)"
    assert lines[-2] == b"* 2 FETCH (UID 2 FLAGS ($Forwarded $label1 NonJunk))"
    assert lines[-1] == b"a2 OK UID STORE completed."
    state = read_maildir_state(imap_server.maildir)["INBOX"]["<m2@example.org>"]
    assert state == frozenset({"$Forwarded", "$label1", "NonJunk"})
    lines = strip(await c.cmd("a3 FETCH 2 (FLAGS)"))
    assert lines[0] == b"* 2 FETCH (FLAGS ($Forwarded $label1 NonJunk))"


async def test_27th_keyword_is_refused_with_limit(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    await c.cmd("a1 SELECT INBOX")
    kws = " ".join(f"$k{i}" for i in range(26))
    assert strip(await c.cmd(f"a2 STORE 1 +FLAGS.SILENT ({kws})"))[-1] == b"a2 OK STORE completed."
    lines = strip(await c.cmd("a3 STORE 1 +FLAGS.SILENT ($one_too_many)"))
    assert lines[-1].startswith(b"a3 NO [LIMIT]"), lines
