"""fetchmail downloads every message of a folder from the server under test."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.interop.corpus import CORPUS, EXPECTED_SYSTEM_FLAGS, INBOX_MESSAGE_IDS
from tests.support import ServeMaildir
from tests.support.maildirs import make_maildir, read_maildir_state
from tests.support.peers import fetched_message_ids, run_fetchmail

pytestmark = pytest.mark.interop


@pytest.mark.parametrize("folder", ["INBOX", "Archive.2024"])
def test_fetchmail_downloads_every_message(serve_maildir: ServeMaildir, tmp_path: Path, folder: str) -> None:
    remote = make_maildir(tmp_path / "remote", CORPUS)
    outdir = tmp_path / "fetched"
    with serve_maildir(remote) as server:
        run_fetchmail(server, outdir, tmp_path / "work", folder=folder)
    assert fetched_message_ids(outdir) == sorted(EXPECTED_SYSTEM_FLAGS[folder])
    # "keep": nothing was deleted on the server.
    assert sorted(read_maildir_state(remote)[folder]) == sorted(EXPECTED_SYSTEM_FLAGS[folder])


def test_fetchmail_bodies_are_intact(serve_maildir: ServeMaildir, tmp_path: Path) -> None:
    remote = make_maildir(tmp_path / "remote", CORPUS)
    outdir = tmp_path / "fetched"
    with serve_maildir(remote) as server:
        run_fetchmail(server, outdir, tmp_path / "work")
    assert fetched_message_ids(outdir) == INBOX_MESSAGE_IDS
    bodies = b"".join(path.read_bytes() for path in outdir.glob("msg.*"))
    assert b"this is 'Answered'." in bodies
