"""SELECT / EXAMINE (RFC 9051 §6.3.2-§6.3.3; seed bug 3)."""

from __future__ import annotations

from .harness import WHEN, Session, message
from .memstore import MemStore

SELECT_INBOX = (
    b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
    b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted.\r\n"
    b"* 3 EXISTS\r\n"
    b"* 3 RECENT\r\n"
    b"* OK [UNSEEN 2] First unseen is 2.\r\n"
    b"* OK [UIDVALIDITY 1001] UIDs valid.\r\n"
    b"* OK [UIDNEXT 4] Predicted next UID.\r\n"
    b"* OK [HIGHESTMODSEQ 4] Highest.\r\n"
    b"a1 OK [READ-WRITE] SELECT completed.\r\n"
)


async def test_select_responses_in_dovecot_order(store: MemStore) -> None:
    s = Session(store)
    assert await s.cmd("a1 SELECT INBOX") == SELECT_INBOX


async def test_recent_is_claimed_once(store: MemStore) -> None:
    first, second = Session(store), Session(store)
    await first.cmd("a1 SELECT INBOX")
    lines = await second.lines("b1 SELECT INBOX")
    assert b"* 0 RECENT" in lines


async def test_examine_is_read_only_and_claims_nothing(store: MemStore) -> None:
    s = Session(store)
    out = await s.lines("a1 EXAMINE INBOX")
    assert out[1] == b"* OK [PERMANENTFLAGS ()] Read-only mailbox."
    assert out[3] == b"* 0 RECENT"
    assert out[-1] == b"a1 OK [READ-ONLY] EXAMINE completed."
    assert store.folders["INBOX"].unclaimed == {1, 2, 3}


async def test_examine_never_sets_seen(store: MemStore) -> None:
    """Seed bug 6, first half: FETCH BODY[] in EXAMINE must not set \\Seen."""
    s = Session(store)
    await s.cmd("a1 EXAMINE INBOX")
    out = await s.lines("a2 FETCH 2 (BODY[TEXT])")
    assert out[0] == b"* 2 FETCH (BODY[TEXT] {11}"
    assert store.folders["INBOX"].messages[2].flags == frozenset()


async def test_select_does_not_expunge_previous_mailbox(store: MemStore) -> None:
    """Seed bug 3: SELECT/EXAMINE close the old mailbox without an expunge (RFC 3501 §6.4.2)."""
    s = Session(store)
    await s.cmd("a1 SELECT INBOX")
    await s.cmd("a2 STORE 1 +FLAGS.SILENT (\\Deleted)")
    out = await s.cmd("a3 SELECT Sent")
    assert b"EXPUNGE" not in out
    await s.cmd("a4 EXAMINE INBOX")
    assert sorted(store.folders["INBOX"].messages) == [1, 2, 3]
    assert "\\Deleted" in store.folders["INBOX"].messages[1].flags


async def test_failed_select_deselects(store: MemStore) -> None:
    """RFC 9051 §6.3.2/§7.1: the implicit close is announced with CLOSED even when the SELECT fails
    (Dovecot 2.3 does the same), and nothing is selected afterwards."""
    s = Session(store)
    await s.cmd("a1 SELECT INBOX")
    assert await s.cmd("a2 SELECT Nope") == (
        b"* OK [CLOSED] Previous mailbox closed.\r\na2 NO [NONEXISTENT] Nope does not exist\r\n"
    )
    assert s.ctx.selected is None
    assert await s.cmd("a3 EXAMINE Nope") == b"a3 NO [NONEXISTENT] Nope does not exist\r\n"


async def test_select_refused_for_its_arguments_still_deselects(store: MemStore) -> None:
    """A SELECT the handler refuses (QRESYNC parameter without ENABLE QRESYNC) has already closed the
    previous mailbox: CLOSED, then the BAD, and the session holds no selection (Dovecot 2.3 alike)."""
    s = Session(store)
    await s.cmd("a1 SELECT INBOX")
    assert await s.cmd("a2 SELECT INBOX (QRESYNC (1001 4))") == (
        b"* OK [CLOSED] Previous mailbox closed.\r\n"
        b"a2 BAD [CLIENTBUG] QRESYNC parameter requires ENABLE QRESYNC first.\r\n"
    )
    assert s.ctx.selected is None


async def test_rev2_has_no_recent_or_unseen_and_closed_on_reselect(store: MemStore) -> None:
    s = Session(store)
    assert await s.cmd("e ENABLE IMAP4rev2") == b"* ENABLED IMAP4rev2\r\ne OK ENABLE completed.\r\n"
    await s.cmd("a1 SELECT INBOX")
    out = await s.lines("a2 SELECT Sent")
    assert out[0] == b"* OK [CLOSED] Previous mailbox closed."
    assert out[-2] == b'* LIST (\\HasNoChildren \\Sent) "." Sent'  # RFC 9051 §6.3.2
    assert not [line for line in out if b"RECENT" in line or b"UNSEEN" in line]


async def test_keywords_listed_and_star_only_while_letters_remain() -> None:
    store = MemStore()
    store.add("INBOX", message(), frozenset({"$Forwarded"}), WHEN)
    s = Session(store)
    out = await s.lines("a1 SELECT INBOX")
    assert out[0] == b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded)"
    assert out[1].startswith(
        b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded \\*)]"
    )
    full = MemStore()
    full.add("INBOX", message(), frozenset(f"$k{i}" for i in range(26)), WHEN)
    out = await Session(full).lines("a1 SELECT INBOX")
    assert not out[1].endswith(b"\\*)] Flags permitted.")
    assert b"\\*" not in out[1]


async def test_condstore_off_says_nomodseq(store: MemStore) -> None:
    from maildird.config import Config, MailConfig

    s = Session(store, config=Config(mail=MailConfig(condstore=False)))
    out = await s.lines("a1 SELECT INBOX")
    assert b"* OK [NOMODSEQ] No permanent modsequences." in out
    assert await s.cmd("a2 SELECT INBOX (CONDSTORE)") == (
        b"* OK [CLOSED] Previous mailbox closed.\r\na2 BAD CONDSTORE is not enabled on this server.\r\n"
    )
    assert s.ctx.selected is None


async def test_qresync_select_reports_vanished_and_changes(store: MemStore) -> None:
    s = Session(store)
    await s.cmd("e ENABLE QRESYNC")
    await s.cmd("a1 SELECT INBOX")
    await s.cmd("a2 STORE 2 +FLAGS.SILENT (\\Deleted)")
    await s.cmd("a3 EXPUNGE")
    await s.cmd("a4 UID STORE 3 +FLAGS.SILENT (\\Answered)")
    out = await s.lines("a5 SELECT INBOX (QRESYNC (1001 4))")
    assert out[0] == b"* OK [CLOSED] Previous mailbox closed."
    assert b"* VANISHED (EARLIER) 2" in out
    assert out[-2] == b"* 2 FETCH (UID 3 FLAGS (\\Answered \\Flagged) MODSEQ (7))"


async def test_qresync_parameter_needs_enable(store: MemStore) -> None:
    s = Session(store)
    out = await s.cmd("a1 SELECT INBOX (QRESYNC (1001 4))")
    assert out == b"a1 BAD [CLIENTBUG] QRESYNC parameter requires ENABLE QRESYNC first.\r\n"


async def test_rev2_fetch_flags_never_show_recent(store: MemStore) -> None:
    s = Session(store)
    await s.cmd("e ENABLE IMAP4rev2")
    await s.cmd("a1 SELECT INBOX")  # claims all three as recent for this session
    assert s.ctx.selected is not None and s.ctx.selected.view.recent_count == 3
    assert (await s.lines("a2 FETCH 2 (FLAGS)"))[0] == b"* 2 FETCH (FLAGS ())"
