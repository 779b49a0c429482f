"""Differential conformance: two or three sessions on one mailbox (flags, expunges, new mail, renames).

Each test plays one script on Dovecot 2.3 and on maildird over copies of corpus.SPEC and requires the same
answers after normalisation (tests/conformance/harness.py, normalize.py). A difference triaged as a
maildird bug has a transcript test under tests/rfc/ (the scenario is xfail(strict) until it is fixed);
one triaged as legitimate is marked on its step (``Step(..., legit="why")`` or ``ignore=``).
"""

from __future__ import annotations

from tests.conformance.conftest import Differential
from tests.conformance.harness import Step
from tests.conformance.scenario import check


async def test_two_sessions_flag_changes(differential: Differential) -> None:
    await check(
        differential,
        [
            Step("a1 SELECT INBOX", "a"),
            Step("b1 SELECT INBOX", "b"),
            Step("a2 STORE 2 +FLAGS (\\Flagged)", "a"),
            Step("a3 STORE 1 FLAGS.SILENT (\\Answered)", "a"),
            Step("b2 NOOP", "b"),
            Step("a4 STORE 3 +FLAGS (NewKeyword)", "a"),
            Step("b3 NOOP", "b"),
            Step("b4 FETCH 1:3 FLAGS", "b"),
        ],
    )


STALE_FLAGS = (
    "messages expunged elsewhere but not yet announced: Dovecot shows the \\Deleted set before the expunge, "
    "maildird the flags it last reported; the RFC requires neither"
)


async def test_two_sessions_expunge_while_fetching(differential: Differential) -> None:
    await check(
        differential,
        [
            Step("a1 SELECT INBOX", "a"),
            Step("b1 SELECT INBOX", "b"),
            Step("a2 STORE 2,4 +FLAGS.SILENT (\\Deleted)", "a"),
            Step("a3 EXPUNGE", "a"),
            Step("b2 FETCH 1:* (UID FLAGS)", "b", legit=STALE_FLAGS),
            Step("b3 STORE 3 +FLAGS (\\Seen)", "b", legit="maildird reports unchanged flags (allowed)"),
            Step("b4 SEARCH ALL", "b"),
            Step("b5 UID FETCH 1:* (FLAGS)", "b", legit=STALE_FLAGS),
            Step("b6 NOOP", "b"),
            Step("b7 FETCH 1:* (UID)", "b"),
        ],
    )


async def test_two_sessions_new_mail_and_qresync_vanished(differential: Differential) -> None:
    message = "From: x@example.org\r\nSubject: later\r\n\r\nbody\r\n"
    await check(
        differential,
        [
            Step("b0 ENABLE QRESYNC", "b"),
            Step("b1 SELECT INBOX", "b"),
            Step("a1 SELECT INBOX", "a"),
            Step("a2 STORE 3 +FLAGS.SILENT (\\Deleted)", "a"),
            Step("a3 EXPUNGE", "a"),
            Step(f"a4 APPEND INBOX {{{len(message)}}}\r\n{message}", "a"),
            # RFC 3501 §7.3.2: RECENT comes with a size change (maildird sends it); Dovecot omits an
            # unchanged count.
            Step("b2 NOOP", "b", ignore=(r"\* 0 RECENT",)),
            Step("b3 FETCH 1:* (UID)", "b"),
        ],
    )


async def test_two_sessions_examine_sees_changes(differential: Differential) -> None:
    message = "From: x@example.org\r\nSubject: later\r\n\r\nbody\r\n"
    await check(
        differential,
        [
            Step("b1 EXAMINE INBOX", "b"),
            Step("a1 SELECT INBOX", "a"),
            Step("a2 STORE 1:2 +FLAGS (\\Answered)", "a"),
            Step("b2 NOOP", "b"),
            Step(f"a3 APPEND INBOX (\\Seen) {{{len(message)}}}\r\n{message}", "a"),
            Step("b3 NOOP", "b"),
            Step("a4 STORE 3 +FLAGS.SILENT (\\Deleted)", "a"),
            Step("a5 EXPUNGE", "a"),
            Step("b4 FETCH 3 (UID FLAGS)", "b", legit=STALE_FLAGS),
            Step("b5 UID FETCH 3 (FLAGS)", "b", legit=STALE_FLAGS),
            Step("b6 NOOP", "b"),
            Step("b7 FETCH 1:* (UID FLAGS)", "b"),
        ],
        drop_recent=True,
    )


FETCH_EXPUNGED = (
    "FETCH of a message expunged elsewhere: Dovecot sends NIL data and OK [EXPUNGEISSUED] (RFC 2180 §4.1.2), "
    "maildird NO [EXPUNGEISSUED] (§4.1.3); both allowed"
)


async def test_two_sessions_touch_expunged_messages(differential: Differential) -> None:
    await check(
        differential,
        [
            Step("b1 SELECT INBOX", "b"),
            Step("a1 SELECT INBOX", "a"),
            Step("a2 STORE 2 +FLAGS.SILENT (\\Deleted)", "a"),
            Step("a3 EXPUNGE", "a"),
            Step("b2 FETCH 2 (BODY.PEEK[])", "b", legit=FETCH_EXPUNGED),
            Step("b3 FETCH 2 (BODY.PEEK[HEADER.FIELDS (Subject)] FLAGS)", "b", legit=FETCH_EXPUNGED),
            Step(
                "b4 STORE 2 +FLAGS (\\Flagged)", "b", legit="RFC 2180 §4.2: Dovecot echoes the ghost's flags"
            ),
            Step("b5 COPY 2 Work", "b"),  # B4: RFC 2180 §4.4.1, tests/rfc/test_rfc2180_4_4_copy_expunged.py
            Step("b6 UID STORE 2 +FLAGS (\\Flagged)", "b"),
            Step("b7 SEARCH FLAGGED", "b"),
            Step("b8 EXPUNGE", "b"),
            Step("b9 FETCH 2 (UID)", "b"),
        ],
        drop_recent=True,
    )


async def test_two_sessions_qresync_vanished_timing(differential: Differential) -> None:
    await check(
        differential,
        [
            Step("b0 ENABLE QRESYNC", "b"),
            Step("b1 SELECT INBOX", "b"),
            Step("a1 SELECT INBOX", "a"),
            Step("a2 STORE 1,4 +FLAGS.SILENT (\\Deleted)", "a"),
            Step("a3 STORE 3 +FLAGS (\\Answered)", "a"),
            Step("a4 EXPUNGE", "a"),
            Step("b2 FETCH 1:* (FLAGS)", "b", legit=STALE_FLAGS),
            Step("b3 SEARCH ALL", "b"),
            Step("b4 UID FETCH 1:* (FLAGS)", "b", legit=STALE_FLAGS),
            Step("b5 NOOP", "b"),
            Step("a5 MOVE 1 Trash", "a"),
            Step("b6 UID SEARCH ALL", "b"),
            Step("b7 NOOP", "b"),
        ],
        drop_recent=True,
    )


async def test_two_sessions_mailbox_renamed_or_deleted_under_selection(differential: Differential) -> None:
    await check(
        differential,
        [
            Step("b1 SELECT Work", "b"),
            Step("a1 RENAME Work Job", "a"),
            Step("b2 NOOP", "b"),
            Step("b3 FETCH 1 (UID)", "b"),
            Step("c1 SELECT Sent", "c"),
            Step("a2 DELETE Sent", "a"),
            Step("c2 NOOP", "c"),
            Step("c3 FETCH 1 (UID)", "c"),
            Step('a3 LIST "" *', "a"),
        ],
    )
