"""Differential conformance: a SELECT/EXAMINE that fails while a mailbox is selected.

Dovecot 2.3 closes the selected mailbox first and says so with ``* OK [CLOSED]`` before the tagged NO or
BAD, whatever the client enabled; RFC 9051 §6.3.2 and §7.1 ask for exactly that. maildird must answer
the same (tests/rfc/test_rfc9051_6_3_2_failed_select_closed.py has the transcript test). A SELECT the
grammar refuses is left out: there Dovecot closes too and maildird's core does not (xfail in that file).
"""

from __future__ import annotations

from tests.conformance.conftest import Differential
from tests.conformance.scenario import check


async def test_failed_select_closes_like_dovecot(differential: Differential) -> None:
    await check(
        differential,
        (
            "a1 SELECT INBOX",
            "a2 SELECT Nonexistent",
            "a3 FETCH 1 FLAGS",
            "a4 SELECT Nonexistent",
            "a5 EXAMINE Work",
            "a6 EXAMINE Nonexistent",
            "a7 CLOSE",
            "a8 SELECT Sent",
            "a9 SELECT INBOX (QRESYNC (1 2))",
            "a10 UNSELECT",
            "a11 ENABLE QRESYNC",
            "a12 SELECT INBOX",
            "a13 SELECT Nonexistent",
            "a14 SELECT Work",
        ),
        hide=(),
    )
