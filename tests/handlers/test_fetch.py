"""FETCH / UID FETCH (RFC 9051 §6.4.5; seed bugs 4 and 6; Thunderbird's needs, peers.md §5)."""

from __future__ import annotations

from .harness import WHEN, Session, message
from .memstore import MemStore

TWO = message("two").replace(b"\n", b"\r\n")


async def selected(store: MemStore) -> Session:
    s = Session(store)
    await s.cmd("a0 SELECT INBOX")
    return s


async def test_uid_fetch_puts_uid_first(store: MemStore) -> None:
    s = await selected(store)
    out = await s.cmd("a1 UID FETCH 2 (RFC822.SIZE BODY.PEEK[] UID)")
    assert out == (
        b"* 2 FETCH (UID 2 RFC822.SIZE %d BODY[] {%d}\r\n" % (len(TWO), len(TWO))
        + TWO
        + b")\r\na1 OK UID FETCH completed.\r\n"
    )


async def test_uid_first_when_asked_in_plain_fetch(store: MemStore) -> None:
    s = await selected(store)
    out = await s.lines("a1 FETCH 1:2 (FLAGS UID)")
    assert out == [
        b"* 1 FETCH (UID 1 FLAGS (\\Seen \\Recent))",
        b"* 2 FETCH (UID 2 FLAGS (\\Recent))",
        b"a1 OK FETCH completed.",
    ]


async def test_size_and_body_are_crlf_counts(store: MemStore) -> None:
    """The file is LF-only; RFC822.SIZE and BODY[] are of the CRLF form (capabilities.md)."""
    s = await selected(store)
    out = await s.cmd("a1 FETCH 2 (RFC822.SIZE BODY.PEEK[])")
    assert out.startswith(b"* 2 FETCH (RFC822.SIZE %d BODY[] {%d}\r\n" % (len(TWO), len(TWO)))


async def test_partial_label_names_only_the_origin(store: MemStore) -> None:
    """Seed bug 4: ``BODY[]<0>``, never ``BODY[]<0.10>`` (RFC 3501 §7.4.2)."""
    s = await selected(store)
    out = await s.cmd("a1 FETCH 2 (BODY.PEEK[]<6.10>)")
    assert out == b"* 2 FETCH (BODY[]<6> {10}\r\n" + TWO[6:16] + b")\r\na1 OK FETCH completed.\r\n"
    out = await s.cmd("a2 FETCH 2 (BODY.PEEK[]<100000.10>)")
    assert out == b"* 2 FETCH (BODY[]<100000> {0}\r\n)\r\na2 OK FETCH completed.\r\n"


async def test_body_sets_seen_and_reports_flags(store: MemStore) -> None:
    s = await selected(store)
    out = await s.cmd("a1 FETCH 2 (BODY[TEXT])")
    expected = b"* 2 FETCH (BODY[TEXT] {11}\r\nHi there.\r\n FLAGS (\\Seen \\Recent))\r\n"
    assert out == expected + b"a1 OK FETCH completed.\r\n"
    assert "\\Seen" in store.folders["INBOX"].messages[2].flags
    # Reported once: the flush before the tagged reply does not repeat it.
    assert await s.cmd("a2 NOOP") == b"a2 OK NOOP completed.\r\n"


async def test_rfc822_and_rfc822_text_set_seen(store: MemStore) -> None:
    """Seed bug 6, second half: RFC822 and RFC822.TEXT set \\Seen; RFC822.HEADER does not."""
    s = await selected(store)
    out = await s.lines("a1 FETCH 2 (RFC822.HEADER)")
    assert b"FLAGS" not in b"".join(out)
    assert store.folders["INBOX"].messages[2].flags == frozenset()
    out = await s.cmd("a2 FETCH 2 (RFC822.TEXT)")
    assert out.endswith(b"Hi there.\r\n FLAGS (\\Seen \\Recent))\r\na2 OK FETCH completed.\r\n")
    store.folders["INBOX"].messages[3].flags = frozenset()
    s2 = Session(store)
    await s2.cmd("b0 SELECT INBOX")
    out = await s2.cmd("b1 FETCH 3 (RFC822)")
    assert out.startswith(b"* 3 FETCH (RFC822 {")
    assert out.endswith(b" FLAGS (\\Seen))\r\nb1 OK FETCH completed.\r\n")


async def test_header_fields_label_and_content(store: MemStore) -> None:
    s = await selected(store)
    out = await s.cmd("a1 FETCH 2 (BODY.PEEK[HEADER.FIELDS (Subject From)])")
    data = b"From: Bob <bob@example.com>\r\nSubject: two\r\n\r\n"
    assert out == (
        b"* 2 FETCH (BODY[HEADER.FIELDS (SUBJECT FROM)] {%d}\r\n" % len(data)
        + data
        + b")\r\na1 OK FETCH completed.\r\n"
    )


async def test_envelope_internaldate_and_structure(store: MemStore) -> None:
    s = await selected(store)
    out = await s.lines("a1 FETCH 2 (INTERNALDATE ENVELOPE BODYSTRUCTURE)")
    assert out[0].startswith(
        b'* 2 FETCH (INTERNALDATE "05-Mar-2024 14:07:09 +0000" '
        b'ENVELOPE ("Tue, 05 Mar 2024 14:07:09 +0000" "two" '
        b'(("Bob" NIL "bob" "example.com"))'
    )
    assert b'BODYSTRUCTURE ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 11 1' in out[0]


async def test_bad_message_number_is_bad(store: MemStore) -> None:
    s = await selected(store)
    out = await s.cmd("a1 FETCH 9 (FLAGS)")
    assert out.startswith(b"a1 BAD [CLIENTBUG] Invalid message number")
    assert await s.cmd("a2 UID FETCH 9 (FLAGS)") == b"a2 OK UID FETCH completed.\r\n"


async def test_binary_and_binary_size() -> None:
    store = MemStore()
    raw = (
        b"Subject: b\nMIME-Version: 1.0\nContent-Type: application/octet-stream\n"
        b"Content-Transfer-Encoding: base64\n\nAAEC\n"
    )
    store.add("INBOX", raw, frozenset(), WHEN)
    s = Session(store)
    await s.cmd("a0 SELECT INBOX")
    out = await s.cmd("a1 FETCH 1 (BINARY.SIZE[1] BINARY.PEEK[1])")
    assert out == b"* 1 FETCH (BINARY.SIZE[1] 3 BINARY[1] ~{3}\r\n\x00\x01\x02)\r\na1 OK FETCH completed.\r\n"


async def test_changedsince_sends_modseq_and_only_changed(store: MemStore) -> None:
    s = await selected(store)
    await s.cmd("a1 STORE 3 +FLAGS.SILENT (\\Answered)")
    out = await s.lines("a2 FETCH 1:* (FLAGS) (CHANGEDSINCE 4)")
    assert out == [
        b"* OK [HIGHESTMODSEQ 5] Highest.",  # the first CONDSTORE enabling command while selected
        b"* 3 FETCH (FLAGS (\\Answered \\Flagged \\Recent) MODSEQ (5))",
        b"a2 OK FETCH completed.",
    ]
    assert "CONDSTORE" in s.ctx.enabled


async def test_expunged_file_gives_expungeissued(store: MemStore) -> None:
    s = await selected(store)
    del store.folders["INBOX"].messages[2]  # gone under us, not yet noticed by the view
    out = await s.lines("a1 FETCH 1:3 (BODY.PEEK[TEXT])")
    assert [line[:13] for line in out[:-1] if line.startswith(b"* ")] == [b"* 1 FETCH (BO", b"* 3 FETCH (BO"]
    assert out[-1] == b"a1 NO [EXPUNGEISSUED] Some of the requested messages no longer exist."
    assert not [line for line in out if line.endswith(b"EXPUNGE")]


def test_batches_bound_count_and_bytes() -> None:
    from maildird.handlers.fetch import BATCH_BYTES, batches
    from maildird.store.base import MessageInfo

    def info(uid: int, size: int) -> tuple[int, MessageInfo]:
        return (uid, MessageInfo(uid, frozenset(), size, WHEN, 1))

    big = [info(i, BATCH_BYTES // 2 + 1) for i in range(1, 5)]
    assert [[s for s, _ in b] for b in batches(big, text=True)] == [[1], [2], [3], [4]]
    assert [len(b) for b in batches(big, text=False, count=3)] == [3, 1]
    huge = [info(1, BATCH_BYTES * 3), info(2, 10)]
    assert [[s for s, _ in b] for b in batches(huge, text=True)] == [[1], [2]]


async def test_condstore_fetch_and_unsolicited_carry_uid_and_modseq(store: MemStore) -> None:
    """RFC 7162 §3.1: after a CONDSTORE enabling command, FETCH responses caused by \\Seen being set
    or by another session's change carry UID and MODSEQ."""
    s = await selected(store)
    assert await s.cmd("e ENABLE CONDSTORE") == (
        b"* OK [HIGHESTMODSEQ 4] Highest.\r\n* ENABLED CONDSTORE\r\ne OK ENABLE completed.\r\n"
    )
    out = await s.cmd("a1 FETCH 2 (BODY[TEXT])")
    assert out == (
        b"* 2 FETCH (UID 2 BODY[TEXT] {11}\r\nHi there.\r\n FLAGS (\\Seen \\Recent) MODSEQ (5))\r\n"
        b"a1 OK FETCH completed.\r\n"
    )
    other = Session(store)
    await other.cmd("b0 SELECT INBOX")
    await other.cmd("b1 STORE 3 +FLAGS.SILENT (\\Answered)")
    assert (
        await s.cmd("a2 NOOP")
        == b"* 3 FETCH (UID 3 FLAGS (\\Answered \\Flagged \\Recent) MODSEQ (6))\r\na2 OK NOOP completed.\r\n"
    )


async def test_store_error_while_reading_is_a_tagged_no(store: MemStore) -> None:
    from maildird.store.base import Corrupt

    from .memstore import MemMailbox

    s = await selected(store)
    original = MemMailbox.read_message

    async def broken(self: MemMailbox, uid: int) -> bytes:
        raise Corrupt("cannot read the file")

    MemMailbox.read_message = broken  # type: ignore[method-assign]
    try:
        out = await s.cmd("a1 FETCH 1:3 (BODY.PEEK[])")
    finally:
        MemMailbox.read_message = original  # type: ignore[method-assign]
    assert out == b"a1 NO [CORRUPTION] cannot read the file\r\n"
