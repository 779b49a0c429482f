"""RFC 4731 ESEARCH: §3.1 the RETURN options MIN, MAX, ALL, COUNT and §3.2 the ESEARCH response, the RFC's
examples adapted to a ten-message INBOX (sequence sets in the shortest form, §3.1 "ALL ... sequence-set"),
an empty result carries no data (the ``A284`` example), ``RETURN ()`` is ``RETURN (ALL)``, and the UID
form says UID (``A285``)."""

from __future__ import annotations

import pytest

from tests.conftest import RunningServer

# Flagged: 2, 10, 11 as in the RFC's A283 example ("ALL 2,10:11").
SPEC = {
    "INBOX": [{"id": f"<e{n}@example.org>", "flags": "F" if n in (2, 10, 11) else ""} for n in range(1, 13)]
}


@pytest.mark.maildir(SPEC)
async def test_rfc_examples(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    await c.cmd("A281 SELECT INBOX")
    assert await c.cmd("A282 SEARCH RETURN (MIN COUNT) FLAGGED") == [
        b'* ESEARCH (TAG "A282") MIN 2 COUNT 3\r\n',
        b"A282 OK SEARCH completed.\r\n",
    ]
    assert await c.cmd("A283 SEARCH RETURN () FLAGGED") == [
        b'* ESEARCH (TAG "A283") ALL 2,10:11\r\n',
        b"A283 OK SEARCH completed.\r\n",
    ]
    assert await c.cmd("A284 SEARCH RETURN (MIN) KEYWORD nosuchkeyword") == [
        b'* ESEARCH (TAG "A284")\r\n',
        b"A284 OK SEARCH completed.\r\n",
    ]
    assert await c.cmd("A285 UID SEARCH RETURN (MIN MAX) 1:5000") == [
        b'* ESEARCH (TAG "A285") UID MIN 1 MAX 12\r\n',
        b"A285 OK UID SEARCH completed.\r\n",
    ]
    assert await c.cmd("A286 SEARCH RETURN (ALL) 1:500") == [
        b'* ESEARCH (TAG "A286") ALL 1:12\r\n',
        b"A286 OK SEARCH completed.\r\n",
    ]


@pytest.mark.maildir(SPEC)
async def test_uid_results_after_expunge(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    await c.cmd("a1 SELECT INBOX")
    await c.cmd("a2 UID STORE 3:4 +FLAGS.SILENT (\\Deleted)")
    await c.cmd("a3 EXPUNGE")
    assert await c.cmd("a4 UID SEARCH RETURN (ALL COUNT MAX) NOT FLAGGED") == [
        b'* ESEARCH (TAG "a4") UID MAX 12 COUNT 7 ALL 1,5:9,12\r\n',
        b"a4 OK UID SEARCH completed.\r\n",
    ]


@pytest.mark.maildir(SPEC)
async def test_plain_search_stays_rev1(imap_server: RunningServer) -> None:
    """§1: without RETURN the answer is the RFC 3501 ``* SEARCH`` response (IMAP4rev1 sessions)."""
    c = await imap_server.login()
    await c.cmd("a1 SELECT INBOX")
    assert await c.cmd("a2 SEARCH FLAGGED") == [b"* SEARCH 2 10 11\r\n", b"a2 OK SEARCH completed.\r\n"]


@pytest.mark.maildir(SPEC)
async def test_unknown_return_option_is_bad(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    await c.cmd("a1 SELECT INBOX")
    lines = await c.cmd("a2 SEARCH RETURN (X-UNKNOWN) ALL")
    assert len(lines) == 1 and lines[0].startswith(b"a2 BAD "), lines


@pytest.mark.maildir(SPEC)
async def test_count_is_returned_for_no_matches(imap_server: RunningServer) -> None:
    """§3.1: with no matches MIN, MAX and ALL are omitted but COUNT is still returned, as 0."""
    c = await imap_server.login()
    await c.cmd("a1 SELECT INBOX")
    assert await c.cmd("a2 UID SEARCH RETURN (MIN COUNT ALL) KEYWORD nothing") == [
        b'* ESEARCH (TAG "a2") UID COUNT 0\r\n',
        b"a2 OK UID SEARCH completed.\r\n",
    ]
