"""Differential conformance: CONDSTORE and QRESYNC (ENABLE, SELECT parameters, CHANGEDSINCE, VANISHED).

Each test plays one script on Dovecot 2.3 and on maildird over copies of corpus.SPEC and requires the same
answers after normalisation (tests/conformance/harness.py, normalize.py). A difference triaged as a
maildird bug has a transcript test under tests/rfc/ (the scenario is xfail(strict) until it is fixed);
one triaged as legitimate is marked on its step (``Step(..., legit="why")`` or ``ignore=``).
"""

from __future__ import annotations

from tests.conformance.conftest import Differential
from tests.conformance.harness import Step, steps
from tests.conformance.scenario import check


async def test_condstore(differential: Differential) -> None:
    await check(
        differential,
        [
            Step("a1 ENABLE CONDSTORE"),
            Step("a2 SELECT INBOX", capture={"hms": rb"HIGHESTMODSEQ (\d+)"}),
            Step("a3 FETCH 1:* (MODSEQ FLAGS)"),
            Step("a4 STORE 1 +FLAGS (\\Flagged)"),
            Step("a5 FETCH 1:* (FLAGS) (CHANGEDSINCE {hms})"),
            Step("a6 UID FETCH 1:* (FLAGS) (CHANGEDSINCE {hms})"),
            Step("a7 STORE 2 (UNCHANGEDSINCE {hms}) +FLAGS (\\Seen)"),
            Step("a8 STORE 1:3 (UNCHANGEDSINCE {hms}) +FLAGS (\\Answered)"),
            Step("a9 UID STORE 1:3 (UNCHANGEDSINCE 1) FLAGS (\\Draft)"),
            Step("a10 SEARCH MODSEQ {hms}"),
            Step("a11 SEARCH RETURN (ALL MAX) MODSEQ {hms}"),
            Step("a12 STATUS Work (HIGHESTMODSEQ MESSAGES)"),
            Step(
                "a13 FETCH 1 (FLAGS) (CHANGEDSINCE 0)",
                legit="RFC 7162 §7: CHANGEDSINCE takes mod-sequence-value (>= 1): maildird's BAD is right",
            ),
            Step("a14 STORE 2 (UNCHANGEDSINCE 0) +FLAGS (\\Seen)"),
        ],
    )


async def test_condstore_by_select_parameter(differential: Differential) -> None:
    await check(
        differential,
        steps("a1 SELECT INBOX (CONDSTORE)", "a2 FETCH 1 (UID MODSEQ)", "a3 EXAMINE Work (CONDSTORE)"),
    )


async def test_qresync(differential: Differential) -> None:
    await check(
        differential,
        [
            Step("a1 ENABLE QRESYNC"),
            Step("a2 SELECT INBOX", capture={"v": rb"UIDVALIDITY (\d+)", "hms": rb"HIGHESTMODSEQ (\d+)"}),
            Step("a3 STORE 1 +FLAGS (\\Deleted)"),
            Step("a4 STORE 2 +FLAGS (\\Flagged)"),
            Step("a5 EXPUNGE"),
            Step("a6 UID EXPUNGE 5"),
            Step("a7 UNSELECT"),
            Step("a8 SELECT INBOX (QRESYNC ({v} {hms}))"),
            Step("a9 SELECT INBOX (QRESYNC ({v} {hms} 1:4))"),
            Step("a10 SELECT INBOX (QRESYNC ({v} {hms} 1:7 (1,3 1,3)))"),
            Step("a11 SELECT INBOX (QRESYNC (1 1))"),
            Step("a12 FETCH 1:* (FLAGS) (CHANGEDSINCE {hms} VANISHED)"),
            Step("a13 UID FETCH 1:* (FLAGS) (CHANGEDSINCE {hms} VANISHED)"),
            Step("a14 EXAMINE Work (QRESYNC ({v} 1))"),
        ],
    )


async def test_qresync_without_enable(differential: Differential) -> None:
    await check(differential, steps("a1 SELECT INBOX (QRESYNC (1 1))", "a2 UID FETCH 1:* FLAGS (VANISHED)"))


async def test_condstore_conflicts_and_unsolicited(differential: Differential) -> None:
    await check(
        differential,
        [
            Step("b0 ENABLE CONDSTORE", "b"),
            Step("b1 SELECT INBOX", "b", capture={"hms": rb"HIGHESTMODSEQ (\d+)"}),
            Step("a1 SELECT INBOX", "a"),
            Step("a2 STORE 1 +FLAGS (\\Flagged)", "a"),
            Step("b2 STORE 1,2 (UNCHANGEDSINCE {hms}) +FLAGS (\\Answered)", "b"),
            Step("b3 NOOP", "b"),
            Step("b4 UID STORE 1:3 (UNCHANGEDSINCE {hms}) -FLAGS (\\Seen)", "b"),
            Step("b5 FETCH 1:3 (FLAGS MODSEQ)", "b"),
            Step("a3 NOOP", "a"),
            Step("b6 SEARCH MODSEQ {hms}", "b"),
            Step("b7 UID SEARCH RETURN (MIN MAX ALL) MODSEQ {hms}", "b"),
        ],
    )


async def test_select_qresync_with_sequence_match_data(differential: Differential) -> None:
    await check(
        differential,
        [
            Step("a1 ENABLE QRESYNC"),
            Step("a2 SELECT INBOX", capture={"v": rb"UIDVALIDITY (\d+)", "hms": rb"HIGHESTMODSEQ (\d+)"}),
            Step("a3 STORE 2 +FLAGS.SILENT (\\Deleted)"),
            Step("a4 EXPUNGE"),
            Step("a5 STORE 4 +FLAGS (\\Flagged)"),
            Step("a6 CLOSE"),
            Step("a7 SELECT INBOX (QRESYNC ({v} {hms} 1:7 (1:4 1:4)))"),
            Step("a8 SELECT INBOX (QRESYNC ({v} {hms} 1:7 (2,4 3,5)))"),
            Step("a9 EXAMINE INBOX (QRESYNC ({v} {hms} 3:7))"),
            Step("a10 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)"),
            Step("a11 FETCH 1:* (MODSEQ) (CHANGEDSINCE {hms})"),
        ],
    )


async def test_qresync_expunges_are_vanished(differential: Differential) -> None:
    await check(
        differential,
        steps(
            "a1 ENABLE QRESYNC",
            "a2 SELECT INBOX",
            "a3 MOVE 1 Work",
            "a4 UID MOVE 3:4 Trash",
            "a5 STORE 1 +FLAGS.SILENT (\\Deleted)",
            "a6 EXPUNGE",
            "a7 STORE 1 +FLAGS (\\Flagged)",
            "a8 UID EXPUNGE 1:*",
            "a9 CLOSE",
            "a10 SELECT Work",
            "a11 FETCH 1:* (UID FLAGS MODSEQ)",
        ),
        drop_recent=True,
    )
