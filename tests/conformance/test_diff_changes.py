"""Differential conformance: STORE, COPY, MOVE, EXPUNGE, APPEND (untagged responses, UIDPLUS codes).

Each test plays one script on Dovecot 2.3 and on maildird over copies of corpus.SPEC and requires the same
answers after normalisation (tests/conformance/harness.py, normalize.py). A difference triaged as a
maildird bug has a transcript test under tests/rfc/ (the scenario is xfail(strict) until it is fixed);
one triaged as legitimate is marked on its step (``Step(..., legit="why")`` or ``ignore=``).
"""

from __future__ import annotations

from tests.conformance.conftest import Differential
from tests.conformance.harness import Step, steps
from tests.conformance.scenario import check, lit


async def test_store_forms(differential: Differential) -> None:
    await check(
        differential,
        steps(
            "a1 SELECT INBOX",
            "a2 STORE 1 +FLAGS (\\Flagged)",
            "a3 STORE 1 -FLAGS (\\Seen)",
            "a4 STORE 2 FLAGS (\\Answered NewKeyword)",
            "a5 STORE 2:3 +FLAGS.SILENT ($Work)",
            "a6 UID STORE 3 -FLAGS.SILENT (Later)",
            "a7 UID STORE 1:4 FLAGS.SILENT (\\Seen)",
            "a8 FETCH 1:4 FLAGS",
            "a9 STORE 1 +FLAGS (\\Recent)",
            "a10 STORE 1 +FLAGS (\\Bogus)",
            "a11 STORE 99 +FLAGS (\\Seen)",
            Step(
                "a12 STORE 1 +FLAGS ()", legit="maildird reports the unchanged flags (RFC 9051 §6.4.6 allows)"
            ),
            "a13 STORE 1 FLAGS ()",
            "a14 FETCH 1 FLAGS",
            Step(
                "a15 STORE 1 +FLAGS (\\Seen) ",
                legit="trailing space is a syntax error: maildird's BAD is right",
            ),
        ),
    )


async def test_store_examine_is_refused(differential: Differential) -> None:
    why = "read-only: maildird says NO, Dovecot OK 'ignored'; the RFC does not say which"
    await check(
        differential,
        [
            Step("a1 EXAMINE INBOX"),
            Step("a2 STORE 1 +FLAGS (\\Seen)", legit=why),
            Step("a3 EXPUNGE", legit=why),
        ],
    )


async def test_copy_move_expunge(differential: Differential) -> None:
    await check(
        differential,
        steps(
            "a1 SELECT INBOX",
            "a2 COPY 1:2 Work",
            "a3 UID COPY 3 Work",
            "a4 COPY 1 Nonexistent",
            "a5 MOVE 4 Trash",
            "a6 UID MOVE 6:7 Trash",
            "a7 FETCH 1:* (UID FLAGS)",
            "a8 STORE 1 +FLAGS.SILENT (\\Deleted)",
            "a9 UID EXPUNGE 1",
            "a10 EXPUNGE",
            "a11 FETCH 1:* (UID FLAGS)",
            "a12 STATUS Work (MESSAGES UIDNEXT UNSEEN)",
            "a13 STATUS Trash (MESSAGES UIDNEXT)",
            "a14 SELECT Work",
            "a15 FETCH 1:* (UID FLAGS ENVELOPE)",
            "a16 SELECT Trash",
            "a17 FETCH 1:* (UID FLAGS)",
            "a18 MOVE 1:* INBOX",
            "a19 CLOSE",
            "a20 COPY 1 INBOX",
        ),
        drop_recent=True,  # B2, see test_recent_after_append_copy_move
    )


async def test_recent_after_append_copy_move(differential: Differential) -> None:
    message = "From: x@example.org\r\nSubject: appended\r\n\r\nbody\r\n"
    await check(
        differential,
        steps(
            f"a1 APPEND Work (\\Seen) {{{len(message)}}}\r\n{message}",
            "a2 SELECT INBOX",
            "a3 COPY 1 Work",
            "a4 MOVE 2 Work",
            "a5 STATUS Work (RECENT MESSAGES)",
            "a5b EXAMINE Work",  # B5: EXAMINE shows \\Recent without claiming it
            "a6 SELECT Work",
            "a7 FETCH 1:* (UID FLAGS)",
        ),
    )


async def test_append(differential: Differential) -> None:
    message = "From: x@example.org\r\nSubject: appended\r\n\r\nbody\r\n"
    await check(
        differential,
        steps(
            f"a1 APPEND Work {{{len(message)}}}\r\n{message}",
            f'a2 APPEND Work (\\Seen Custom) "01-Jan-2024 10:00:00 +0100" {{{len(message)}}}\r\n{message}',
            Step(
                f"a3 APPEND Nonexistent {{{len(message)}}}\r\n{message}",
                ignore=(r"\+",),  # Dovecot refuses before the literal; maildird after it (both allowed)
            ),
            "a4 SELECT Work",
            "a5 FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE)",
            f"a6 APPEND Work {{{len(message)}+}}\r\n{message}",
            "a7 NOOP",
            f'a8 APPEND Work "01-Jan-2024 10:00:00 +0100" {{{len(message)}}}\r\n{message}',
            Step(f"a9 APPEND Work (\\Recent) {{{len(message)}}}\r\n{message}", ignore=(r"\+",)),
        ),
        drop_recent=True,  # B2, see test_recent_after_append_copy_move
    )


async def test_copy_move_edge_cases(differential: Differential) -> None:
    await check(
        differential,
        steps(
            "a1 SELECT INBOX",
            "a2 COPY 1 INBOX",
            "a3 UID COPY 50:60 Work",
            "a4 UID MOVE 50:60 Work",
            "a5 UID COPY 1,3,99 Work",
            Step(
                "a6 MOVE 8 INBOX",
                legit="MOVE into the selected mailbox: maildird refuses with NO [CANNOT] (handlers.selected, "
                "deliberate); Dovecot moves it to a new UID; RFC 6851 lets MOVE fail",
            ),
            "a9 UID EXPUNGE 1:*",
            "a10 STORE 1,3 +FLAGS.SILENT (\\Deleted)",
            "a11 UID EXPUNGE 1:3",
            "a12 EXPUNGE",
            "a13 FETCH 1:* (FLAGS)",
            "a14 STATUS INBOX (MESSAGES UNSEEN)",
        ),
        drop_recent=True,
    )


async def test_append_variants(differential: Differential) -> None:
    message = "From: x@example.org\r\nSubject: multi\r\n\r\nbody\r\n"
    binary = "From: x@example.org\r\nSubject: bin\r\n\r\nA\x01B\r\n"
    n = len(message)
    await check(
        differential,
        steps(
            f"a1 APPEND Work (\\Seen) {{{n}}}\r\n{message} (\\Flagged) {{{n}}}\r\n{message}",
            f"a2 APPEND Work ~{{{len(binary)}}}\r\n{binary}",
            f'a3 APPEND Work () "1-Jan-2024 00:00:00 +0000" {{{n}}}\r\n{message}',
            # Refused before the literal by Dovecot, after it by maildird (both allowed): "+" not compared.
            Step(f"a5 APPEND Work (\\Bogus) {{{n}}}\r\n{message}", ignore=(r"\+",)),
            Step("a6 APPEND Work {0}\r\n", ignore=(r"\+",)),
            "a7 SELECT Work",
            "a8 FETCH 3:* (UID FLAGS INTERNALDATE RFC822.SIZE BINARY.SIZE[1])",
            Step(
                f'a9 APPEND Work () "31-Feb-2024 00:00:00 +0000" {{{n}}}\r\n{message}',
                legit="no 31 February: maildird's BAD is right; Dovecot takes it",
            ),
        ),
        drop_recent=True,
    )


async def test_selected_mailbox_grows(differential: Differential) -> None:
    message = "From: x@example.org\r\nSubject: self\r\n\r\nbody\r\n"
    await check(
        differential,
        [
            Step("a1 SELECT Work"),
            Step(f"a2 APPEND Work (\\Seen) {lit(message)}"),
            Step("a3 COPY 1 Work"),
            Step("a4 NOOP"),
            Step("a5 FETCH 1:* (UID FLAGS)"),
            Step("a6 EXAMINE Work"),
            Step(
                "a7 STORE 1 +FLAGS.SILENT (\\Deleted)",
                legit="read-only: NO (maildird) or OK ignored (Dovecot)",
            ),
            Step("a8 CLOSE"),
            Step("a9 STATUS Work (MESSAGES)"),
            Step("a10 SELECT Work"),
            Step("a11 STORE 1 +FLAGS.SILENT (\\Deleted)"),
            Step("a12 UNSELECT"),
            Step("a13 STATUS Work (MESSAGES)"),
            Step("a14 SELECT Work"),
            Step("a15 CLOSE"),
            Step("a16 STATUS Work (MESSAGES)"),
        ],
        drop_recent=True,
    )


# A Maildir file name holds 26 keyword letters per folder (design/maildir-format.md §4.1). Dovecot keeps
# further keywords in its index only (lost with the index); maildird refuses the STORE with NO [LIMIT].
KEYWORD_LIMIT = "more than 26 keywords in one folder: NO [LIMIT] (maildird, no index) vs index-only (Dovecot)"


async def test_implicit_seen_and_keywords(differential: Differential) -> None:
    many = " ".join(f"k{i}" for i in range(1, 30))
    await check(
        differential,
        [
            *steps(
                "a1 SELECT INBOX",
                "a2 FETCH 2 (BODY[HEADER.FIELDS (Subject)])",
                "a3 STORE 2 -FLAGS.SILENT (\\Seen)",
                "a4 FETCH 2 (FLAGS BODY[TEXT])",
                "a5 STORE 2 -FLAGS.SILENT (\\Seen)",
                "a6 FETCH 2 (RFC822.HEADER RFC822.SIZE BODY)",
                "a7 FETCH 2 (BODY[TEXT]<0.5> FLAGS)",
                "a8 STORE 4 +FLAGS ($Label1 Junk NonJunk $MDNSent $Forwarded)",
                "a9 STORE 4 +FLAGS (Ünï)",
            ),
            Step(
                "a10 STORE 4 +FLAGS (bad]atom)", legit="']' is a resp-special, not an atom char: BAD is right"
            ),
            Step(f"a11 STORE 6 +FLAGS ({many})", legit=KEYWORD_LIMIT),
            Step("a12 FETCH 6 FLAGS", legit=KEYWORD_LIMIT),
            Step("a13 SEARCH KEYWORD k29", legit=KEYWORD_LIMIT),
            "a14 STORE 4 -FLAGS ($Forwarded Junk)",
        ],
    )


async def test_client_sequences_thunderbird_mbsync(differential: Differential) -> None:
    fields = "From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To"
    message = "From: x@example.org\r\nSubject: synced\r\n\r\nbody\r\n"
    await check(
        differential,
        [
            Step('t1 ID ("name" "Thunderbird" "version" "128.0")'),
            Step("t2 NAMESPACE"),
            Step('t3 LIST (SPECIAL-USE) "" "*"'),
            Step('t4 LSUB "" "*"'),
            Step("t5 SELECT INBOX (CONDSTORE)", capture={"hms": rb"HIGHESTMODSEQ (\d+)"}),
            Step("t6 UID FETCH 1:* (FLAGS)"),
            Step(
                f"t7 UID FETCH 1:7 (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS ({fields} Content-Type)])"
            ),
            Step("t8 UID STORE 2 +FLAGS (\\Seen)"),
            Step("t9 UID FETCH 1:* (FLAGS) (CHANGEDSINCE {hms})"),
            Step("t10 UID COPY 2 Trash"),
            Step("t11 UID STORE 2 +FLAGS.SILENT (\\Deleted)"),
            Step("t12 UID EXPUNGE 2"),
            Step('t13 GETQUOTAROOT "INBOX"'),
            Step("m1 UID FETCH 1:* (UID FLAGS RFC822.SIZE)"),
            Step("m2 UID FETCH 3 (BODY.PEEK[])"),
            Step(f'm3 APPEND Work (\\Seen \\Flagged) "14-Nov-2023 22:13:20 +0000" {lit(message)}'),
            Step("m4 UID STORE 1:4 +FLAGS.SILENT (\\Answered)"),
            Step("m5 UID STORE 1 -FLAGS.SILENT (\\Answered)"),
            Step("m6 UID FETCH 1:* (FLAGS)"),
            Step("m7 CLOSE"),
        ],
        drop_recent=True,
    )
