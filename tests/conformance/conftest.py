"""The ``differential`` fixture: Dovecot and maildird serving byte-identical copies of the corpus Maildir.

maildird runs in-process (``imap_server`` from tests/conftest.py, its Maildir built from ``corpus.SPEC``);
the Maildir is copied before any client logs in and served by a private Dovecot (tests/support/dovecot.py).
``await differential.run(script)`` plays the script on both and returns a ``Result`` whose ``diffs`` is
empty when the normalised answers agree; ``result.report()`` prints both transcripts' differing steps.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conformance.corpus import DOVECOT_EXTRA, SPEC
from tests.conformance.harness import (
    Difference,
    Endpoint,
    Step,
    Transcript,
    compare,
    copy_maildir,
    report,
    run_script,
)
from tests.conftest import RunningServer
from tests.support.dovecot import DovecotServer

DOVECOT_USER = "alice"
# Dovecot counts every message not yet in its dovecot-uidlist as \Recent to the first session; maildird
# counts only what it moves out of new/ (design/maildir-format.md §1.7, both allowed by RFC 3501 §2.3.2).
# One SELECT of every folder before the script leaves both servers with nothing recent.
WARMUP = [Step(f"w{i} SELECT {_name}", "warmup") for i, _name in enumerate(SPEC)]
DOVECOT_PASSWORD = "secret"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/conformance" in str(item.fspath) and item.get_closest_marker("maildir") is None:
            item.add_marker(pytest.mark.maildir(SPEC))


@dataclass(slots=True)
class Result:
    reference: Transcript
    subject: Transcript
    diffs: list[Difference]

    def report(self) -> str:
        return report(self.diffs, self.reference, self.subject)


@dataclass(slots=True)
class Differential:
    dovecot: Endpoint
    maildird: Endpoint
    maildird_root: Path
    dovecot_root: Path

    async def run(
        self,
        script: Sequence[Step],
        *,
        warm: bool = True,
        drop_recent: bool = False,
        hide: tuple[str, ...] = (),
    ) -> Result:
        """Play ``script`` on Dovecot, then on maildird. ``warm`` first SELECTs every folder once on
        each server (see ``WARMUP``), so neither starts with "recent" messages the other does not know."""
        if warm:
            for endpoint in (self.dovecot, self.maildird):
                await run_script(endpoint, WARMUP)
        reference = await run_script(self.dovecot, script, drop_recent=drop_recent)
        subject = await run_script(self.maildird, script, drop_recent=drop_recent)
        return Result(reference, subject, compare(reference, subject, hide=hide))


@pytest.fixture
async def differential(imap_server: RunningServer, tmp_path: Path) -> AsyncIterator[Differential]:
    dovecot_root = copy_maildir(imap_server.maildir, tmp_path / "dovecot-Maildir")
    async with DovecotServer(
        dovecot_root, user=DOVECOT_USER, password=DOVECOT_PASSWORD, extra_config=DOVECOT_EXTRA
    ) as dovecot:
        yield Differential(
            dovecot=Endpoint("dovecot", dovecot.host, dovecot.port, DOVECOT_USER, DOVECOT_PASSWORD),
            maildird=Endpoint(
                "maildird", imap_server.host, imap_server.port, imap_server.user, imap_server.password
            ),
            maildird_root=imap_server.maildir,
            dovecot_root=dovecot_root,
        )
