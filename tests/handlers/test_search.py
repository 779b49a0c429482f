"""SEARCH / UID SEARCH, ESEARCH, SEARCHRES, MODSEQ (RFC 9051 §6.4.4, RFC 4731, RFC 5182, RFC 7162)."""

from __future__ import annotations

from .harness import Session
from .memstore import MemMailbox, MemStore


async def selected(store: MemStore) -> Session:
    s = Session(store)
    await s.cmd("a0 SELECT INBOX")
    return s


async def test_plain_search_flags_and_text(store: MemStore) -> None:
    s = await selected(store)
    assert await s.cmd("a1 SEARCH UNSEEN") == b"* SEARCH 2 3\r\na1 OK SEARCH completed.\r\n"
    assert await s.cmd("a2 UID SEARCH BODY third") == b"* SEARCH 3\r\na2 OK UID SEARCH completed.\r\n"
    assert await s.cmd('a3 SEARCH FROM "bob@" SUBJECT two') == b"* SEARCH 2\r\na3 OK SEARCH completed.\r\n"
    assert await s.cmd("a4 SEARCH NOT ALL") == b"* SEARCH\r\na4 OK SEARCH completed.\r\n"


async def test_flag_only_search_never_reads_files(store: MemStore) -> None:
    reads: list[int] = []
    original = MemMailbox.read_message

    async def counting(self: MemMailbox, uid: int) -> bytes:
        reads.append(uid)
        return await original(self, uid)

    MemMailbox.read_message = counting  # type: ignore[method-assign]
    try:
        s = await selected(store)
        await s.cmd("a1 SEARCH SEEN FLAGGED LARGER 10 UID 1:* SINCE 1-Jan-2020")
        assert reads == []
        await s.cmd("a2 SEARCH UNSEEN BODY Hi")
        assert sorted(reads) == [2, 3]  # the seen message was decided without its file
    finally:
        MemMailbox.read_message = original  # type: ignore[method-assign]


async def test_charset(store: MemStore) -> None:
    s = await selected(store)
    assert await s.cmd("a1 SEARCH CHARSET UTF-8 TEXT there") == b"* SEARCH 1 2\r\na1 OK SEARCH completed.\r\n"
    assert await s.cmd("a2 SEARCH CHARSET KOI8-R TEXT there") == (
        b"a2 NO [BADCHARSET (UTF-8 US-ASCII)] Charset KOI8-R is not supported.\r\n"
    )


async def test_esearch_return_options(store: MemStore) -> None:
    s = await selected(store)
    out = await s.cmd("a1 UID SEARCH RETURN (MIN MAX COUNT ALL) UNSEEN")
    assert out == b'* ESEARCH (TAG "a1") UID MIN 2 MAX 3 COUNT 2 ALL 2:3\r\na1 OK UID SEARCH completed.\r\n'
    out = await s.cmd("a2 SEARCH RETURN () DELETED")
    assert out == b'* ESEARCH (TAG "a2")\r\na2 OK SEARCH completed.\r\n'
    out = await s.cmd("a3 SEARCH RETURN (COUNT) DELETED")
    assert out == b'* ESEARCH (TAG "a3") COUNT 0\r\na3 OK SEARCH completed.\r\n'


async def test_searchres_save_and_dollar(store: MemStore) -> None:
    s = await selected(store)
    assert await s.cmd("a1 SEARCH RETURN (SAVE) UNSEEN") == b"a1 OK SEARCH completed.\r\n"
    assert await s.cmd("a2 FETCH $ (UID)") == (
        b"* 2 FETCH (UID 2)\r\n* 3 FETCH (UID 3)\r\na2 OK FETCH completed.\r\n"
    )
    await s.cmd("a3 SEARCH RETURN (SAVE MIN) UNSEEN")
    assert await s.cmd("a4 SEARCH $") == b"* SEARCH 2\r\na4 OK SEARCH completed.\r\n"
    await s.cmd("a5 STORE $ +FLAGS.SILENT (\\Deleted)")
    assert await s.cmd("a6 EXPUNGE") == b"* 2 EXPUNGE\r\na6 OK EXPUNGE completed.\r\n"
    assert await s.cmd("a7 UID SEARCH $") == b"* SEARCH\r\na7 OK UID SEARCH completed.\r\n"


async def test_rev2_answers_esearch(store: MemStore) -> None:
    s = Session(store)
    await s.cmd("e ENABLE IMAP4rev2")
    await s.cmd("a0 SELECT INBOX")
    assert await s.cmd("a1 SEARCH UNSEEN") == b'* ESEARCH (TAG "a1") ALL 2:3\r\na1 OK SEARCH completed.\r\n'
    assert await s.cmd("a2 SEARCH DRAFT") == b'* ESEARCH (TAG "a2")\r\na2 OK SEARCH completed.\r\n'


async def test_modseq_search_reports_highest(store: MemStore) -> None:
    s = await selected(store)
    await s.cmd("a1 STORE 2 +FLAGS.SILENT (\\Answered)")
    assert await s.cmd("a2 SEARCH MODSEQ 4") == (
        b"* OK [HIGHESTMODSEQ 5] Highest.\r\n* SEARCH 2 3 (MODSEQ 5)\r\na2 OK SEARCH completed.\r\n"
    )
    assert "CONDSTORE" in s.ctx.enabled
    out = await s.cmd("a3 SEARCH RETURN (ALL) MODSEQ 5")
    assert out == b'* ESEARCH (TAG "a3") ALL 2 MODSEQ 5\r\na3 OK SEARCH completed.\r\n'


async def test_sequence_keys(store: MemStore) -> None:
    s = await selected(store)
    assert await s.cmd("a1 SEARCH 2:* NOT 3") == b"* SEARCH 2\r\na1 OK SEARCH completed.\r\n"
    assert await s.cmd("a2 SEARCH OR 1 UID 3") == b"* SEARCH 1 3\r\na2 OK SEARCH completed.\r\n"


async def test_big_message_is_searched_in_a_worker_thread() -> None:
    from maildird.handlers.fetch_read import PARSE_IN_THREAD

    from .harness import WHEN, message

    store = MemStore()
    store.add("INBOX", message("small"), frozenset(), WHEN)
    store.add("INBOX", message("big", "x" * PARSE_IN_THREAD + "\nthe needle\n"), frozenset(), WHEN)
    s = await selected(store)
    assert await s.cmd("a1 SEARCH BODY needle") == b"* SEARCH 2\r\na1 OK SEARCH completed.\r\n"


async def test_save_may_refine_the_previous_result(store: MemStore) -> None:
    """RFC 5182: ``$`` inside a SEARCH that also SAVEs is the previous result."""
    s = await selected(store)
    await s.cmd("a1 SEARCH RETURN (SAVE) UNSEEN")
    assert await s.cmd("a2 SEARCH RETURN (SAVE ALL) $ FLAGGED") == (
        b'* ESEARCH (TAG "a2") ALL 3\r\na2 OK SEARCH completed.\r\n'
    )
    assert await s.cmd("a3 SEARCH $") == b"* SEARCH 3\r\na3 OK SEARCH completed.\r\n"
