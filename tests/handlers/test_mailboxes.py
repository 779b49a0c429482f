"""CREATE DELETE RENAME SUBSCRIBE NAMESPACE STATUS APPEND (RFC 9051 §6.3; seed bug 9)."""

from __future__ import annotations

import pytest

from maildird.config import Config, Limits
from maildird.imap.errors import Bye

from .harness import WHEN, Session, message
from .memstore import MemStore


async def test_create_and_duplicates(store: MemStore) -> None:
    s = Session(store)
    assert await s.cmd("a1 CREATE Lists.") == b"a1 OK CREATE completed.\r\n"
    assert "Lists" in store.folders
    assert await s.cmd("a2 CREATE Lists") == b"a2 NO [ALREADYEXISTS] Lists exists\r\n"
    assert await s.cmd("a3 CREATE inbox") == b"a3 NO [ALREADYEXISTS] INBOX always exists.\r\n"


async def test_create_special_use(store: MemStore) -> None:
    s = Session(store)
    assert await s.cmd("a1 CREATE Stuff (USE (\\Archive))") == b"a1 OK CREATE completed.\r\n"
    assert store.folders["Stuff"].special_use == frozenset({"\\Archive"})
    out = await s.lines('a2 LIST "" Stuff')
    assert out[0] == b'* LIST (\\HasNoChildren \\Archive) "." Stuff'


async def test_delete_inbox_is_refused_and_missing_is_nonexistent(store: MemStore) -> None:
    s = Session(store)
    assert await s.cmd("a1 DELETE INBOX") == b"a1 NO [CANNOT] INBOX cannot be deleted.\r\n"
    assert await s.cmd("a2 DELETE Nope") == b"a2 NO [NONEXISTENT] Nope does not exist\r\n"


async def test_delete_with_children_is_allowed(store: MemStore) -> None:
    """Seed bug 9 (first half): a mailbox with inferiors can be deleted (RFC 9051 §6.3.5)."""
    store.create_sync("Work")
    s = Session(store)
    assert await s.cmd("a1 DELETE Work") == b"a1 OK DELETE completed.\r\n"
    assert "Work.Projects" in store.folders
    out = await s.lines('a2 LIST "" Work')
    assert out[0] == b'* LIST (\\Noselect \\HasChildren) "." Work'


async def test_rename_inbox_moves_messages_and_keeps_inbox(store: MemStore) -> None:
    """Seed bug 9 (second half): RENAME INBOX moves the messages; INBOX stays, empty (RFC 9051 §6.3.6)."""
    s = Session(store)
    assert await s.cmd("a1 RENAME INBOX Old") == b"a1 OK RENAME completed.\r\n"
    assert store.folders["INBOX"].messages == {}
    assert len(store.folders["Old"].messages) == 3
    out = await s.lines("a2 STATUS INBOX (MESSAGES)")
    assert out[0] == b"* STATUS INBOX (MESSAGES 0)"


async def test_rename_errors(store: MemStore) -> None:
    s = Session(store)
    assert await s.cmd("a1 RENAME Nope Other") == b"a1 NO [NONEXISTENT] Nope does not exist\r\n"
    assert await s.cmd("a2 RENAME Sent Work.Projects") == b"a2 NO [ALREADYEXISTS] Work.Projects exists\r\n"


async def test_delete_selected_mailbox_drops_selection(store: MemStore) -> None:
    s = Session(store)
    await s.cmd("a0 SELECT Sent")
    assert await s.cmd("a1 DELETE Sent") == (
        b"* OK [CLOSED] Previous mailbox closed.\r\na1 OK DELETE completed.\r\n"
    )
    assert await s.cmd("a2 FETCH 1 (FLAGS)") == b"a2 NO [CLOSED] No mailbox is selected.\r\n"
    assert await s.cmd("a3 CLOSE") == b"a3 OK CLOSE completed.\r\n"


async def test_subscribe_and_lsub(store: MemStore) -> None:
    s = Session(store)
    assert await s.cmd("a1 SUBSCRIBE Work.Projects") == b"a1 OK SUBSCRIBE completed.\r\n"
    assert await s.cmd("a2 UNSUBSCRIBE Sent") == b"a2 OK UNSUBSCRIBE completed.\r\n"
    assert await s.lines('a3 LSUB "" *') == [
        b'* LSUB () "." INBOX',
        b'* LSUB () "." Work.Projects',
        b"a3 OK LSUB completed.",
    ]
    assert await s.lines('a4 LSUB "" %') == [
        b'* LSUB () "." INBOX',
        b'* LSUB (\\Noselect) "." Work',
        b"a4 OK LSUB completed.",
    ]


async def test_namespace(store: MemStore) -> None:
    assert (
        await Session(store).cmd("a1 NAMESPACE")
        == b'* NAMESPACE (("" ".")) NIL NIL\r\na1 OK NAMESPACE completed.\r\n'
    )


async def test_status_all_items_without_claiming_recent(store: MemStore) -> None:
    s = Session(store)
    out = await s.cmd(
        "a1 STATUS INBOX (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE HIGHESTMODSEQ)"
    )
    size = sum(len(m.data) + m.data.count(b"\n") for m in store.folders["INBOX"].messages.values())
    assert out == (
        b"* STATUS INBOX (MESSAGES 3 RECENT 0 UIDNEXT 4 UIDVALIDITY 1001 UNSEEN 2 DELETED 0 SIZE %d "
        b"HIGHESTMODSEQ 4)\r\na1 OK STATUS completed.\r\n" % size
    )
    assert store.folders["INBOX"].unclaimed == {1, 2, 3}
    assert await s.cmd("a2 STATUS Nope (MESSAGES)") == b"a2 NO [NONEXISTENT] Nope does not exist\r\n"


async def test_status_of_selected_mailbox_counts_own_recent(store: MemStore) -> None:
    s = Session(store)
    await s.cmd("a0 SELECT INBOX")
    assert (await s.lines("a1 STATUS INBOX (RECENT)"))[0] == b"* STATUS INBOX (RECENT 3)"


async def test_append_with_flags_and_date(store: MemStore) -> None:
    s = Session(store)
    data = message("appended").replace(b"\n", b"\r\n")
    wire = b'a1 APPEND Sent (\\Seen $Forwarded) "05-Mar-2024 14:07:09 +0000" {%d}\r\n' % len(data) + data
    assert await s.cmd(wire) == b"a1 OK [APPENDUID 1002 1] APPEND completed.\r\n"
    m = store.folders["Sent"].messages[1]
    assert m.flags == frozenset({"\\Seen", "$Forwarded"})
    assert m.internaldate == WHEN
    assert m.data == data


async def test_append_trycreate_and_toobig(store: MemStore) -> None:
    s = Session(store, config=Config(limits=Limits(max_append=10)))
    assert await s.cmd(b"a1 APPEND Nope {5}\r\nhello") == b"a1 NO [TRYCREATE] Mailbox does not exist.\r\n"
    out = await s.cmd(b"a2 APPEND INBOX {11}\r\nhello world")
    assert out == b"a2 NO [TOOBIG] Message is larger than APPENDLIMIT=10.\r\n"


async def test_append_to_selected_mailbox_sends_exists_first(store: MemStore) -> None:
    s = Session(store)
    await s.cmd("a0 SELECT INBOX")
    out = await s.cmd(b"a1 APPEND INBOX {9}\r\nSubject: ")
    assert out == b"* 4 EXISTS\r\n* 4 RECENT\r\na1 OK [APPENDUID 1001 4] APPEND completed.\r\n"


async def test_multiappend_is_all_or_nothing() -> None:
    store = MemStore()
    store.add("INBOX", message(), frozenset(f"$k{i}" for i in range(25)), WHEN)
    s = Session(store)
    out = await s.cmd(b"a1 APPEND INBOX ($a) {1}\r\nx ($b) {1}\r\ny")
    assert out == b"a1 NO [LIMIT] Too many keywords in this mailbox.\r\n"
    assert len(store.folders["INBOX"].messages) == 1
    out = await s.cmd(b"a2 APPEND INBOX {1}\r\nx {1}\r\ny")
    assert out == b"a2 OK [APPENDUID 1001 2:3] APPEND completed.\r\n"


async def test_append_zero_length_is_refused(store: MemStore) -> None:
    assert await Session(store).cmd(b"a1 APPEND INBOX {0}\r\n") == (
        b"a1 NO [CANNOT] Cannot save a zero-length message.\r\n"
    )


async def test_mailbox_deleted_by_another_session_ends_with_bye(store: MemStore) -> None:
    """Dovecot's behaviour: the session whose selected mailbox vanished gets BYE at its next command."""
    a, b = Session(store), Session(store)
    await a.cmd("a0 SELECT Sent")
    assert await b.cmd("b1 DELETE Sent") == b"b1 OK DELETE completed.\r\n"
    with pytest.raises(Bye) as caught:
        await a.cmd("a1 NOOP")
    assert caught.value.to_response("a1").text == "Selected mailbox was deleted, have to disconnect."
    assert a.ctx.selected is None
