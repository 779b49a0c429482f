"""Differential conformance: SELECT/STATUS, LIST/LSUB, CREATE/RENAME/DELETE, login states, bad input.

Each test plays one script on Dovecot 2.3 and on maildird over copies of corpus.SPEC and requires the same
answers after normalisation (tests/conformance/harness.py, normalize.py). A difference triaged as a
maildird bug has a transcript test under tests/rfc/ (the scenario is xfail(strict) until it is fixed);
one triaged as legitimate is marked on its step (``Step(..., legit="why")`` or ``ignore=``).
"""

from __future__ import annotations

from tests.conformance.conftest import Differential
from tests.conformance.harness import Step, steps
from tests.conformance.scenario import check


async def test_select_examine_status(differential: Differential) -> None:
    await check(
        differential,
        steps(
            "a1 SELECT INBOX",
            "a2 EXAMINE Work",
            "a3 SELECT Sent",
            "a4 STATUS INBOX (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)",
            "a5 STATUS Work.Projects (MESSAGES UNSEEN SIZE)",
            "a6 STATUS Trash (MESSAGES UIDNEXT)",
            "a7 STATUS Nonexistent (MESSAGES)",
            # A failed SELECT: CLOSED first, then the NO (RFC 9051 §6.3.2; both servers).
            "a8 SELECT Nonexistent",
            "a9 FETCH 1 FLAGS",
            "a10 EXAMINE inbox",
            "a11 UNSELECT",
            "a12 UNSELECT",
            'a13 SELECT "Caf&AOk-"',
        ),
    )


async def test_select_closed_code_when_switching(differential: Differential) -> None:
    await check(differential, steps("a1 SELECT INBOX", "a2 EXAMINE Work", "a3 SELECT Sent"), hide=())


async def test_list_lsub_variants(differential: Differential) -> None:
    await check(
        differential,
        steps(
            'a1 LIST "" ""',
            'a2 LIST "" *',
            'a3 LIST "" %',
            'a4 LIST "" Work.%',
            'a5 LIST "" work',
            "a6 LIST Work. *",
            'a7 LIST "" inbox',
            'a8 LSUB "" *',
            'a9 LSUB "" %',
            'a10 LIST (SUBSCRIBED) "" *',
            'a11 LIST "" * RETURN (SUBSCRIBED CHILDREN)',
            'a12 LIST (SPECIAL-USE) "" *',
            'a13 LIST "" * RETURN (SPECIAL-USE)',
            'a14 LIST "" % RETURN (STATUS (MESSAGES UNSEEN))',
            'a15 LIST (SUBSCRIBED RECURSIVEMATCH) "" %',  # B3
            'a16 LIST "" ("INBOX" "Sent")',
            'a17 LIST "" Nonexistent',
            'a18 LIST "" "Caf*"',
            'a19 LIST (REMOTE) "" %',
            'a20 LSUB "" Gone',
        ),
    )


async def test_namespace_and_misc(differential: Differential) -> None:
    await check(
        differential,
        steps(
            "a1 NAMESPACE",
            "a2 NOOP",
            "a3 CHECK",
            "a4 ENABLE CONDSTORE",
            "a5 ENABLE QRESYNC",
            # RFC 5161 §4: enable-data = "ENABLED" *(SP capability): an empty ENABLED is fine.
            Step("a6 ENABLE X-NONE", ignore=(r"\* ENABLED",)),
        ),
    )


RENAME_INBOX = (
    "RFC 9051 §6.3.6: renaming INBOX moves its messages (maildird); Dovecot refuses with NO [CANNOT]"
)


async def test_create_rename_delete(differential: Differential) -> None:
    await check(
        differential,
        steps(
            "a1 CREATE New",
            "a2 CREATE New",
            "a3 CREATE Deep.Er.Est",
            'a4 LIST "" Deep*',
            "a5 CREATE Trailing.",
            'a6 LIST "" Trailing*',
            "a7 CREATE INBOX",
            "a8 CREATE inbox",
            "a9 RENAME New Renamed",
            "a10 RENAME Nonexistent Other",
            "a11 RENAME Renamed Work",
            "a12 RENAME Work Moved.Work",
            'a13 LIST "" *',
            "a14 DELETE Moved",
            "a15 DELETE Moved.Work.Projects",
            "a16 DELETE Moved.Work.Projects",
            'a17 LIST "" *',
            "a18 DELETE INBOX",
            "a19 DELETE Nonexistent",
            Step("a20 RENAME INBOX Saved", legit=RENAME_INBOX),
            Step("a21 STATUS INBOX (MESSAGES)", legit=RENAME_INBOX),
            Step("a22 STATUS Saved (MESSAGES)", legit=RENAME_INBOX),
            "a23 CREATE Sent.Sub",
            "a24 DELETE Sent",
            Step(
                'a25 LIST "" Sent*',
                legit="RFC 9051 §6.3.5: a deleted name with inferiors gets \\Noselect (maildird); Dovecot's "
                "Maildir++ keeps it selectable",
            ),
            "a26 CREATE Caf&AOk-.Sub",
            Step(
                'a27 CREATE "Bad&Name"',
                legit="not valid modified UTF-7: maildird BAD (argument invalid), Dovecot NO; both allowed",
            ),
            Step(
                "a28 SUBSCRIBE Nonexistent2",
                legit="RFC 9051 §6.3.7: a server MAY validate the name (Dovecot)",
            ),
            "a29 UNSUBSCRIBE Gone",
            Step(
                'a30 LSUB "" *',
                ignore=(r'\* LSUB .* "Nonexistent2"',),
                legit="after DELETE Sent (\\Noselect at maildird), RENAME Work (both keep the subscription)",
            ),
            "a31 CREATE ",
            'a32 CREATE "Nul%"',
            'a33 CREATE "Star*"',
        ),
    )


async def test_list_reference_and_patterns(differential: Differential) -> None:
    await check(
        differential,
        steps(
            "a1 LIST Work %",
            "a2 LIST Work. %",
            'a3 LIST "" W%',
            'a4 LIST "" *.Projects',
            'a5 LIST "" %.%',
            'a6 LIST "" "INBOX.*"',
            'a7 LIST "" {4}\r\nWork',
            'a8 LIST "" ""',
            'a9 LIST Work ""',
            'a10 LSUB "" W*',
            'a11 LIST "" % RETURN (STATUS (MESSAGES UIDNEXT UIDVALIDITY RECENT UNSEEN SIZE))',
            'a12 LIST "" Work* RETURN (CHILDREN)',
        ),
    )


async def test_status_of_selected_mailbox(differential: Differential) -> None:
    await check(
        differential,
        steps(
            "a1 SELECT INBOX",
            "a2 STORE 2 +FLAGS (\\Seen)",
            "a3 STATUS INBOX (MESSAGES UNSEEN UIDNEXT SIZE)",
            "a4 STORE 1 +FLAGS.SILENT (\\Deleted)",
            "a5 EXPUNGE",
            "a6 STATUS INBOX (MESSAGES UNSEEN UIDNEXT SIZE)",
            'a7 STATUS "Caf&AOk-" (MESSAGES)',
            "a8 STATUS {4}\r\nWork (MESSAGES)",
        ),
    )


async def test_mailbox_management_edges(differential: Differential) -> None:
    await check(
        differential,
        steps(
            "a1 RENAME Work Work.Sub",
            "a2 RENAME Work Sent",
            "a3 RENAME Work work2",
            "a4 CREATE Fresh",
            "a6 DELETE Fresh",
            "a11 UNSUBSCRIBE Work",
            'a12 LSUB "" %',
            'a13 LSUB "" *',
            "a14 SUBSCRIBE INBOX",
            'a15 LIST (SUBSCRIBED) "" %',
            "a16 CREATE Junk (USE (\\Junk))",
            "a17 STATUS Work.Projects (MESSAGES HIGHESTMODSEQ)",
            'a18 LIST "" % RETURN (STATUS (HIGHESTMODSEQ))',
            "a19 SELECT Trash",
            Step(
                "a20 DELETE Trash",
                legit="DELETE of the selected mailbox: Dovecot ends the connection with BYE, maildird "
                "answers OK after * OK [CLOSED] and goes on unselected (RFC 2180 §3.3 allows either)",
            ),
        ),
    )


async def test_odd_mailbox_names(differential: Differential) -> None:
    await check(
        differential,
        steps(
            'a1 CREATE "With Space"',
            'a2 CREATE "Quote\\"d"',
            'a3 CREATE "Back\\\\slash"',
            "a4 CREATE {5}\r\nLit.X",
            'a5 LIST "" *',
            'a6 SELECT "With Space"',
            'a7 STATUS "Quote\\"d" (MESSAGES)',
            Step(
                'a8 RENAME "With Space" "No Space"',
                legit="RENAME of the selected mailbox: maildird deselects it with * OK [CLOSED] "
                "(handlers.mailboxes, deliberate), Dovecot keeps it selected; RFC 2180 §3.4 allows either",
            ),
            'a9 LIST "" "*Space"',
            'a10 CREATE "&AOk-t&AOk-"',
            'a11 LIST "" "&AOk-*"',
            'a12 CREATE "Trailing."',
            'a13 LIST "" "Trailing*"',
        ),
    )


async def test_not_authenticated_state(differential: Differential) -> None:
    await check(
        differential,
        [
            Step("u1 CAPABILITY", "_u"),
            Step("u2 SELECT INBOX", "_u"),
            Step("u3 LOGIN {user} wrong-password", "_u"),
            # Dovecot sends * CAPABILITY before the OK, maildird OK [CAPABILITY ..]: both allowed.
            Step("u4 AUTHENTICATE PLAIN {plain}", "_u", ignore=(r"\* CAPABILITY \.\.\.",)),
            Step("u5 AUTHENTICATE PLAIN {plain}", "_u"),
            Step("u6 LOGIN {user} {password}", "_u"),
            Step("u7 NOOP", "_u"),
            Step("v2 ID NIL", "_v"),
            Step("v3 LOGOUT", "_v"),
            Step("w1 LOGIN", "_w"),
            Step(
                "w2 AUTHENTICATE NOSUCH", "_w", legit="NO [ALERT] (Dovecot) or NO [CANNOT] (maildird): a code"
            ),
        ],
    )


async def test_bad_input(differential: Differential) -> None:
    await check(
        differential,
        steps(
            "a1 NOSUCHCOMMAND",
            "a2 SELECT",
            "a3 FETCH 1 FLAGS",
            "a4 EXPUNGE",
            'a5 LOGIN x "y"',
            "a6 LIST",
            "a7 STATUS INBOX",
            "a8 STATUS INBOX (NOSUCH)",
            "a9 CREATE",
            "a10 APPEND",
            "a11 UID",
            "a12 SEARCH ALL",
            "a13 CLOSE",
            "a14 UNSELECT",
            Step("a15 ENABLE", legit="RFC 5161 §4: ENABLE needs a capability: maildird's BAD is right"),
            'a16 SELECT "unterminated',
        ),
    )
