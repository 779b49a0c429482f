"""STORE, EXPUNGE, CLOSE, UNSELECT, COPY, MOVE (RFC 9051 §6.4; RFC 4315, 6851, 7162; seed bugs 7, 8)."""

from __future__ import annotations

import re

from maildird.imap.commands import SequenceSet, Store

from .harness import WHEN, Session, message
from .memstore import MemStore


async def selected(store: MemStore) -> Session:
    s = Session(store)
    await s.cmd("a0 SELECT INBOX")
    return s


async def test_store_replace_keeps_recent(store: MemStore) -> None:
    """Seed bug 7: STORE FLAGS must not clear the session's \\Recent."""
    s = await selected(store)
    out = await s.cmd("a1 STORE 2 FLAGS (\\Seen)")
    assert out == b"* 2 FETCH (FLAGS (\\Seen \\Recent))\r\na1 OK STORE completed.\r\n"
    # The grammar refuses \\Recent; the handler drops it too, should another front end send it.
    out = await s.run(Store("a2", SequenceSet(((2, 2),)), "replace", flags=("\\Recent", "\\Answered")))
    assert out == b"* 2 FETCH (FLAGS (\\Answered \\Recent))\r\na2 OK STORE completed.\r\n"
    assert store.folders["INBOX"].messages[2].flags == frozenset({"\\Answered"})


async def test_keywords_are_accepted(store: MemStore) -> None:
    """Seed bug 8: keywords ($Forwarded, $Junk, $label1) are stored, and announced with * FLAGS."""
    s = await selected(store)
    out = await s.lines("a1 UID STORE 1 +FLAGS ($Forwarded $label1)")
    assert out[0] == b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded $label1)"
    assert out[1].startswith(b"* OK [PERMANENTFLAGS (")
    assert out[2] == b"* 1 FETCH (UID 1 FLAGS (\\Seen \\Recent $Forwarded $label1))"
    assert out[-1] == b"a1 OK UID STORE completed."
    assert store.folders["INBOX"].messages[1].flags == frozenset({"\\Seen", "$Forwarded", "$label1"})


async def test_27th_keyword_is_no_limit(store: MemStore) -> None:
    s = await selected(store)
    kws = " ".join(f"$k{i}" for i in range(26))
    assert (await s.lines(f"a1 STORE 1 +FLAGS.SILENT ({kws})"))[-1] == b"a1 OK STORE completed."
    assert await s.cmd("a2 STORE 1 +FLAGS.SILENT ($one_too_many)") == (
        b"a2 NO [LIMIT] Too many keywords in this mailbox.\r\n"
    )


async def test_unknown_system_flag_is_bad(store: MemStore) -> None:
    s = await selected(store)
    out = await s.run(Store("a1", SequenceSet(((1, 1),)), "add", flags=("\\Bogus",)))
    assert out == b"a1 BAD [CLIENTBUG] Invalid system flag \\Bogus.\r\n"


async def test_silent_store_sends_nothing(store: MemStore) -> None:
    s = await selected(store)
    assert await s.cmd("a1 STORE 1:3 -FLAGS.SILENT (\\Flagged)") == b"a1 OK STORE completed.\r\n"


async def test_store_read_only_is_no(store: MemStore) -> None:
    s = Session(store)
    await s.cmd("a0 EXAMINE INBOX")
    assert await s.cmd("a1 STORE 1 +FLAGS (\\Seen)") == b"a1 NO Mailbox is read-only.\r\n"


async def test_unchangedsince_reports_modified(store: MemStore) -> None:
    s = await selected(store)
    await s.cmd("a1 STORE 2 +FLAGS.SILENT (\\Answered)")  # message 2 now at modseq 5
    out = await s.lines("a2 STORE 1:3 (UNCHANGEDSINCE 4) +FLAGS.SILENT (\\Draft)")
    # RFC 7162 §3.1.3: .SILENT still reports the new MODSEQ; the refused message is left out.
    assert out == [
        b"* OK [HIGHESTMODSEQ 5] Highest.",
        b"* 1 FETCH (UID 1 MODSEQ (6))",
        b"* 3 FETCH (UID 3 MODSEQ (7))",
        b"a2 OK [MODIFIED 2] Conditional STORE failed.",
    ]
    assert "\\Draft" not in store.folders["INBOX"].messages[2].flags


async def test_condstore_store_includes_modseq(store: MemStore) -> None:
    s = await selected(store)
    await s.cmd("e ENABLE CONDSTORE")
    out = await s.cmd("a1 UID STORE 2 +FLAGS (\\Seen)")
    assert out == b"* 2 FETCH (UID 2 FLAGS (\\Seen \\Recent) MODSEQ (5))\r\na1 OK UID STORE completed.\r\n"


async def test_expunge_and_uid_expunge(store: MemStore) -> None:
    s = await selected(store)
    await s.cmd("a1 STORE 1:3 +FLAGS.SILENT (\\Deleted)")
    assert await s.cmd("a2 UID EXPUNGE 2") == b"* 2 EXPUNGE\r\na2 OK UID EXPUNGE completed.\r\n"
    assert await s.cmd("a3 EXPUNGE") == b"* 2 EXPUNGE\r\n* 1 EXPUNGE\r\na3 OK EXPUNGE completed.\r\n"
    assert store.folders["INBOX"].messages == {}


async def test_expunge_under_qresync_is_vanished(store: MemStore) -> None:
    s = Session(store)
    await s.cmd("e ENABLE QRESYNC")
    await s.cmd("a0 SELECT INBOX")
    await s.cmd("a1 STORE 1,3 +FLAGS.SILENT (\\Deleted)")
    out = await s.cmd("a2 EXPUNGE")
    assert out == b"* VANISHED 1,3\r\na2 OK [HIGHESTMODSEQ 8] EXPUNGE completed.\r\n"


async def test_close_expunges_silently_unselect_does_not(store: MemStore) -> None:
    s = await selected(store)
    await s.cmd("a1 STORE 1 +FLAGS.SILENT (\\Deleted)")
    assert await s.cmd("a2 UNSELECT") == b"a2 OK UNSELECT completed.\r\n"
    assert 1 in store.folders["INBOX"].messages
    await s.cmd("a3 SELECT INBOX")
    assert await s.cmd("a4 CLOSE") == b"a4 OK CLOSE completed.\r\n"
    assert sorted(store.folders["INBOX"].messages) == [2, 3]
    assert s.ctx.selected is None


async def test_close_after_examine_expunges_nothing(store: MemStore) -> None:
    store.folders["INBOX"].messages[1].flags = frozenset({"\\Deleted"})
    s = Session(store)
    await s.cmd("a0 EXAMINE INBOX")
    assert await s.cmd("a1 CLOSE") == b"a1 OK CLOSE completed.\r\n"
    assert 1 in store.folders["INBOX"].messages


async def test_copy_trycreate_and_copyuid(store: MemStore) -> None:
    s = await selected(store)
    assert await s.cmd("a1 COPY 1 Nowhere") == b"a1 NO [TRYCREATE] Mailbox does not exist.\r\n"
    out = await s.cmd("a2 COPY 2:3 Sent")
    assert out == b"a2 OK [COPYUID 1002 2:3 1:2] COPY completed.\r\n"
    copied = store.folders["Sent"].messages
    assert [m.flags for m in copied.values()] == [frozenset(), frozenset({"\\Flagged"})]
    assert copied[1].internaldate == WHEN


async def test_move_sends_copyuid_then_expunges(store: MemStore) -> None:
    s = await selected(store)
    out = await s.cmd("a1 UID MOVE 1,3 Sent")
    assert out == (
        b"* OK [COPYUID 1002 1,3 1:2] Moved UIDs.\r\n"
        b"* 3 EXPUNGE\r\n* 1 EXPUNGE\r\n"
        b"a1 OK UID MOVE completed.\r\n"
    )
    assert sorted(store.folders["INBOX"].messages) == [2]


async def test_move_under_qresync_is_vanished(store: MemStore) -> None:
    s = Session(store)
    await s.cmd("e ENABLE QRESYNC")
    await s.cmd("a0 SELECT INBOX")
    out = await s.cmd("a1 MOVE 2 Sent")
    # RFC 6851 §4.4: the new HIGHESTMODSEQ rides on the tagged OK.
    assert re.fullmatch(
        rb"\* OK \[COPYUID 1002 2 1\] Moved UIDs\.\r\n\* VANISHED 2\r\n"
        rb"a1 OK \[HIGHESTMODSEQ \d+\] MOVE completed\.\r\n",
        out,
    ), out


async def test_other_session_sees_flags_new_mail_and_expunges() -> None:
    store = MemStore()
    for i in range(3):
        store.add("INBOX", message(f"m{i}"), frozenset(), WHEN)
    a, b = Session(store), Session(store)
    await a.cmd("a0 SELECT INBOX")
    await b.cmd("b0 SELECT INBOX")
    await a.cmd("a1 STORE 2 +FLAGS.SILENT (\\Deleted)")
    assert await b.cmd("b1 NOOP") == b"* 2 FETCH (FLAGS (\\Deleted))\r\nb1 OK NOOP completed.\r\n"
    await a.cmd("a2 EXPUNGE")
    store.add("INBOX", message("new"), frozenset(), WHEN)
    assert await b.cmd("b2 NOOP") == b"* 2 EXPUNGE\r\n* 3 EXISTS\r\n* 1 RECENT\r\nb2 OK NOOP completed.\r\n"


async def test_no_expunge_during_fetch_store_search_of_other_session() -> None:
    """RFC 9051 §7.5.1: while one session FETCHes by number, another's expunge waits for NOOP."""
    store = MemStore()
    for i in range(3):
        store.add("INBOX", message(f"m{i}"), frozenset({"\\Deleted"} if i == 0 else set()), WHEN)
    a, b = Session(store), Session(store)
    await a.cmd("a0 SELECT INBOX")
    await b.cmd("b0 SELECT INBOX")
    await a.cmd("a1 EXPUNGE")
    out = await b.cmd("b1 FETCH 1:3 (FLAGS)")
    assert b"EXPUNGE" not in out
    assert out.startswith(b"* 1 FETCH (FLAGS (\\Deleted))\r\n* 2 FETCH")
    assert b"EXPUNGE" not in await b.cmd("b2 STORE 3 +FLAGS.SILENT (\\Seen)")
    assert b"EXPUNGE" not in await b.cmd("b3 SEARCH ALL")
    assert await b.cmd("b4 NOOP") == b"* 1 EXPUNGE\r\nb4 OK NOOP completed.\r\n"


async def test_uid_fetch_may_report_expunge(store: MemStore) -> None:
    a, b = Session(store), Session(store)
    await a.cmd("a0 SELECT INBOX")
    await b.cmd("b0 SELECT INBOX")
    await a.cmd("a1 STORE 1 +FLAGS.SILENT (\\Deleted)")
    await a.cmd("a2 EXPUNGE")
    out = await b.cmd("b1 UID FETCH 1:* (FLAGS)")
    assert out.endswith(b"* 1 EXPUNGE\r\nb1 OK UID FETCH completed.\r\n")
