"""RFC 3501 §2.3.2 keywords (RFC 9051 §2.3.2): PERMANENTFLAGS carries ``\\*`` ("it is possible to create
new keywords by attempting to store those flags", §7.1); storing a new keyword first announces it in FLAGS
and PERMANENTFLAGS (§7.2.6: the client must record the update), to this session and to others; keywords
present in the Maildir (dovecot-keywords letters, maildir-format.md §4.1) show on SELECT; they are stored
on disk, searchable with KEYWORD/UNKEYWORD, and removable; malformed keywords and \\Recent are BAD."""

from __future__ import annotations

import re

import pytest

from tests.conftest import RunningServer
from tests.support.maildirs import read_maildir_state

SPEC = {
    "INBOX": [
        {"id": "<k1@example.org>", "flags": "S", "keywords": ["Work"]},
        {"id": "<k2@example.org>", "flags": ""},
        {"id": "<k3@example.org>", "flags": "F", "keywords": ["Work", "$Label1"]},
    ]
}
SYSTEM = {"\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"}
FLAGS_LINE = re.compile(rb"\* FLAGS \(([^)]*)\)\r\n")
PERMANENT_LINE = re.compile(rb"\* OK \[PERMANENTFLAGS \(([^)]*)\)\] Flags permitted\.\r\n")
FETCH_LINE = re.compile(rb"\* (\d+) FETCH \(FLAGS \(([^)]*)\)\)\r\n")


def flags(pattern: re.Pattern[bytes], line: bytes, group: int = 1) -> set[str]:
    """The flag list of a FLAGS / PERMANENTFLAGS / FETCH FLAGS line as a set (the order is free)."""
    match = pattern.fullmatch(line)
    assert match is not None, (pattern.pattern, line)
    return set(match.group(group).decode().split())


@pytest.mark.maildir(SPEC)
async def test_select_lists_existing_keywords_and_star(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    lines = await c.cmd("a1 SELECT INBOX")
    assert flags(FLAGS_LINE, lines[0]) == SYSTEM | {"Work", "$Label1"}
    assert flags(PERMANENT_LINE, lines[1]) == SYSTEM | {"Work", "$Label1", "\\*"}
    fetched = await c.cmd("a2 FETCH 1:3 (FLAGS)")
    assert [flags(FETCH_LINE, line, 2) for line in fetched[:-1]] == [
        {"\\Seen", "Work"},
        set(),
        {"\\Flagged", "Work", "$Label1"},
    ]
    assert fetched[-1] == b"a2 OK FETCH completed.\r\n"


@pytest.mark.maildir(SPEC)
async def test_new_keyword_is_announced_stored_and_pushed(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    other = await imap_server.login()
    await c.cmd("a1 SELECT INBOX")
    await other.cmd("b1 SELECT INBOX")
    lines = await c.cmd("a2 STORE 2 +FLAGS (Project-X)")
    assert len(lines) == 4, lines
    assert flags(FLAGS_LINE, lines[0]) == SYSTEM | {"Work", "$Label1", "Project-X"}
    assert flags(PERMANENT_LINE, lines[1]) == SYSTEM | {"Work", "$Label1", "Project-X", "\\*"}
    assert lines[2:] == [b"* 2 FETCH (FLAGS (Project-X))\r\n", b"a2 OK STORE completed.\r\n"]
    assert read_maildir_state(imap_server.maildir)["INBOX"]["<k2@example.org>"] == {"Project-X"}
    lines = await other.cmd("b2 NOOP")
    assert flags(FLAGS_LINE, lines[0]) == SYSTEM | {"Work", "$Label1", "Project-X"}, lines
    assert b"* 2 FETCH (FLAGS (Project-X))\r\n" in lines
    assert lines[-1] == b"b2 OK NOOP completed.\r\n"


@pytest.mark.maildir(SPEC)
async def test_search_and_remove_keywords(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    await c.cmd("a1 SELECT INBOX")
    assert await c.cmd("a2 SEARCH KEYWORD Work") == [b"* SEARCH 1 3\r\n", b"a2 OK SEARCH completed.\r\n"]
    assert await c.cmd("a3 SEARCH UNKEYWORD Work") == [b"* SEARCH 2\r\n", b"a3 OK SEARCH completed.\r\n"]
    assert await c.cmd("a4 SEARCH KEYWORD $Label1 FLAGGED") == [
        b"* SEARCH 3\r\n",
        b"a4 OK SEARCH completed.\r\n",
    ]
    lines = await c.cmd("a5 STORE 3 -FLAGS (Work)")
    assert flags(FETCH_LINE, lines[0], 2) == {"\\Flagged", "$Label1"}
    assert lines[1:] == [b"a5 OK STORE completed.\r\n"]
    assert read_maildir_state(imap_server.maildir)["INBOX"]["<k3@example.org>"] == {"\\Flagged", "$Label1"}
    assert await c.cmd("a6 SEARCH KEYWORD Work") == [b"* SEARCH 1\r\n", b"a6 OK SEARCH completed.\r\n"]


@pytest.mark.maildir(SPEC)
async def test_keyword_appended_with_message(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    message = b"Message-ID: <k4@example.org>\r\n\r\nbody\r\n"
    lines = await c.cmd(b"a1 APPEND INBOX (\\Seen $Forwarded NewOne) {%d}\r\n%s" % (len(message), message))
    assert lines[-1].startswith(b"a1 OK [APPENDUID "), lines
    assert read_maildir_state(imap_server.maildir)["INBOX"]["<k4@example.org>"] == {
        "\\Seen",
        "$Forwarded",
        "NewOne",
    }
    lines = await c.cmd("a2 SELECT INBOX")
    assert b"$Forwarded" in lines[0] and b"NewOne" in lines[0], lines


@pytest.mark.maildir(SPEC)
async def test_malformed_keywords_are_bad(imap_server: RunningServer) -> None:
    """A keyword is an atom (RFC 3501 §9 flag-keyword): no ``]``, ``(``, ``%``, ``*``, quotes or spaces;
    \\Recent cannot be stored (§2.3.2: "this flag can not be altered by the client")."""
    c = await imap_server.login()
    await c.cmd("a1 SELECT INBOX")
    for n, flag in enumerate(["bad]kw", "bad(kw", "bad%kw", "bad*kw", "\\Recent"]):
        lines = await c.cmd(f"b{n} STORE 2 +FLAGS ({flag})")
        assert len(lines) == 1 and lines[0].startswith(f"b{n} BAD ".encode()), (flag, lines)
    assert read_maildir_state(imap_server.maildir)["INBOX"]["<k2@example.org>"] == frozenset()


async def test_keyword_limit_drops_star_and_refuses_more(imap_server: RunningServer) -> None:
    """A Maildir folder has 26 keyword letters (maildir-format.md §4.1). Once all are used, PERMANENTFLAGS
    no longer offers ``\\*`` (RFC 3501 §7.1: ``\\*`` means new keywords can be created) and storing a new
    keyword fails with NO [LIMIT] (RFC 5530 §3) instead of being dropped silently."""
    c = await imap_server.login()
    await c.cmd("a1 SELECT INBOX")
    keywords = [f"kw{i:02d}" for i in range(26)]
    lines = await c.cmd(f"a2 STORE 1 +FLAGS.SILENT ({' '.join(keywords)})")
    assert flags(PERMANENT_LINE, lines[1]) == SYSTEM | set(keywords), lines
    assert lines[-1] == b"a2 OK STORE completed.\r\n"
    lines = await c.cmd("a3 STORE 2 +FLAGS (one-too-many)")
    assert len(lines) == 1 and lines[0].startswith(b"a3 NO [LIMIT] "), lines
    assert await c.cmd("a4 FETCH 2 (FLAGS)") == [b"* 2 FETCH (FLAGS ())\r\n", b"a4 OK FETCH completed.\r\n"]
    state = read_maildir_state(imap_server.maildir)["INBOX"]
    assert state["<m1@example.org>"] == {"\\Seen", *keywords} and state["<m2@example.org>"] == frozenset()
    # Existing keywords can still be set on other messages.
    assert (await c.cmd("a5 STORE 2 +FLAGS (kw07)"))[-1] == b"a5 OK STORE completed.\r\n"
