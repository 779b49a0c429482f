"""RFC 5182 SEARCHRES: §2.1 ``SEARCH RETURN (SAVE)`` stores the result in ``$`` and sends no ESEARCH of its
own (§2.1 when SAVE is the only option), §2.4 ``$`` in FETCH, STORE, COPY and SEARCH (the RFC's examples
A282-A286, adapted), with MIN/MAX only the min/max is saved (§2.1), ``$`` is empty after SELECT (§2.1), and
a UID-based result survives expunges of other messages (§2.3: it holds UIDs)."""

from __future__ import annotations

import re

import pytest

from tests.conftest import RunningServer

SPEC = {
    "INBOX": [{"id": f"<sr{n}@example.org>", "flags": "F" if n in (2, 4, 5) else ""} for n in range(1, 7)],
    "foo": [],
}


@pytest.mark.maildir(SPEC)
async def test_rfc_examples(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    await c.cmd("A281 SELECT INBOX")
    assert await c.cmd("A282 SEARCH RETURN (SAVE) FLAGGED") == [b"A282 OK SEARCH completed.\r\n"]
    assert await c.cmd("A283 FETCH $ (UID FLAGS)") == [
        b"* 2 FETCH (UID 2 FLAGS (\\Flagged))\r\n",
        b"* 4 FETCH (UID 4 FLAGS (\\Flagged))\r\n",
        b"* 5 FETCH (UID 5 FLAGS (\\Flagged))\r\n",
        b"A283 OK FETCH completed.\r\n",
    ]
    assert await c.cmd("A284 STORE $ +FLAGS.SILENT (\\Answered)") == [b"A284 OK STORE completed.\r\n"]
    lines = await c.cmd("A285 COPY $ foo")
    assert re.fullmatch(rb"A285 OK \[COPYUID \d+ 2,4:5 1:3\] COPY completed\.\r\n", lines[-1]), lines
    assert await c.cmd("A286 SEARCH $ ANSWERED") == [b"* SEARCH 2 4 5\r\n", b"A286 OK SEARCH completed.\r\n"]
    assert await c.cmd("A287 SEARCH NOT $") == [b"* SEARCH 1 3 6\r\n", b"A287 OK SEARCH completed.\r\n"]


@pytest.mark.maildir(SPEC)
async def test_save_with_min_saves_only_the_min(imap_server: RunningServer) -> None:
    """§2.1: ``SEARCH RETURN (SAVE MIN)`` returns MIN and saves just that message."""
    c = await imap_server.login()
    await c.cmd("a1 SELECT INBOX")
    assert await c.cmd("a2 SEARCH RETURN (SAVE MIN) FLAGGED") == [
        b'* ESEARCH (TAG "a2") MIN 2\r\n',
        b"a2 OK SEARCH completed.\r\n",
    ]
    assert await c.cmd("a3 UID SEARCH UID $") == [b"* SEARCH 2\r\n", b"a3 OK UID SEARCH completed.\r\n"]


@pytest.mark.maildir(SPEC)
async def test_result_is_empty_after_select(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    await c.cmd("a1 SELECT INBOX")
    await c.cmd("a2 SEARCH RETURN (SAVE) ALL")
    await c.cmd("a3 SELECT INBOX")
    assert await c.cmd("a4 FETCH $ (UID)") == [b"a4 OK FETCH completed.\r\n"]
    assert await c.cmd("a5 SEARCH $") == [b"* SEARCH\r\n", b"a5 OK SEARCH completed.\r\n"]


@pytest.mark.maildir(SPEC)
async def test_saved_result_follows_expunges(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    await c.cmd("a1 SELECT INBOX")
    await c.cmd("a2 UID SEARCH RETURN (SAVE) FLAGGED")
    await c.cmd("a3 UID STORE 1,4 +FLAGS.SILENT (\\Deleted)")
    await c.cmd("a4 EXPUNGE")
    assert await c.cmd("a5 FETCH $ (UID)") == [
        b"* 1 FETCH (UID 2)\r\n",
        b"* 3 FETCH (UID 5)\r\n",
        b"a5 OK FETCH completed.\r\n",
    ]


@pytest.mark.maildir(SPEC)
async def test_save_with_min_max_and_with_count(imap_server: RunningServer) -> None:
    """§2.1: SAVE with MIN and MAX saves both; with COUNT (or ALL) it saves every match."""
    c = await imap_server.login()
    await c.cmd("a1 SELECT INBOX")
    assert await c.cmd("a2 SEARCH RETURN (SAVE MIN MAX) FLAGGED") == [
        b'* ESEARCH (TAG "a2") MIN 2 MAX 5\r\n',
        b"a2 OK SEARCH completed.\r\n",
    ]
    assert await c.cmd("a3 SEARCH $") == [b"* SEARCH 2 5\r\n", b"a3 OK SEARCH completed.\r\n"]
    assert await c.cmd("a4 SEARCH RETURN (SAVE COUNT) FLAGGED") == [
        b'* ESEARCH (TAG "a4") COUNT 3\r\n',
        b"a4 OK SEARCH completed.\r\n",
    ]
    assert await c.cmd("a5 SEARCH $") == [b"* SEARCH 2 4 5\r\n", b"a5 OK SEARCH completed.\r\n"]
    assert await c.cmd("a6 SEARCH RETURN (SAVE) KEYWORD nothing") == [b"a6 OK SEARCH completed.\r\n"]
    assert await c.cmd("a7 FETCH $ (UID)") == [b"a7 OK FETCH completed.\r\n"]


@pytest.mark.maildir(SPEC)
async def test_failed_searches_without_save_or_with_bad_keep_the_result(imap_server: RunningServer) -> None:
    """§2.1: "a SEARCH command that caused the server to return the BAD tagged response" and "a SEARCH
    command with no SAVE result option that caused the server to return NO" MUST NOT change ``$``."""
    c = await imap_server.login()
    await c.cmd("a1 SELECT INBOX")
    await c.cmd("a2 SEARCH RETURN (SAVE) FLAGGED")
    lines = await c.cmd(b"a3 SEARCH CHARSET KOI8-R TEXT {4}\r\nXXXX")
    assert lines[-1].startswith(b"a3 NO [BADCHARSET "), lines
    lines = await c.cmd("a4 SEARCH RETURN (SAVE) NO-SUCH-KEY")
    assert len(lines) == 1 and lines[0].startswith(b"a4 BAD "), lines
    assert await c.cmd("a5 SEARCH $") == [b"* SEARCH 2 4 5\r\n", b"a5 OK SEARCH completed.\r\n"]


@pytest.mark.maildir(SPEC)
async def test_save_search_answered_no_empties_the_result(imap_server: RunningServer) -> None:
    """§2.1: "A SEARCH command with the SAVE result option that caused the server to return the NO tagged
    response sets the value of the search result variable to the empty sequence" (cf. §2.2 example 5)."""
    c = await imap_server.login()
    await c.cmd("a1 SELECT INBOX")
    await c.cmd("B282 SEARCH RETURN (SAVE) FLAGGED")
    lines = await c.cmd(b"B283 SEARCH RETURN (SAVE) CHARSET KOI8-R (OR $ 1) TEXT {4}\r\nXXXX")
    assert lines[-1].startswith(b"B283 NO [BADCHARSET "), lines
    assert await c.cmd("B284 SEARCH $") == [b"* SEARCH\r\n", b"B284 OK SEARCH completed.\r\n"]


@pytest.mark.maildir(SPEC)
async def test_empty_result_is_a_valid_set(imap_server: RunningServer) -> None:
    """§2.2 example 6: ``E283 COPY $ "Other Messages"`` with an empty ``$`` is OK and copies nothing."""
    c = await imap_server.login()
    await c.cmd("a1 SELECT INBOX")
    assert await c.cmd("E282 SEARCH RETURN (SAVE) KEYWORD nothing") == [b"E282 OK SEARCH completed.\r\n"]
    lines = await c.cmd("E283 COPY $ foo")
    assert len(lines) == 1 and lines[0].startswith(b"E283 OK "), lines
    assert b"COPYUID" not in lines[0]
    assert await c.cmd("E284 STATUS foo (MESSAGES)") == [
        b"* STATUS foo (MESSAGES 0)\r\n",
        b"E284 OK STATUS completed.\r\n",
    ]
