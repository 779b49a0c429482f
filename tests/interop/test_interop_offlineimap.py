"""offlineimap (offlineimap3) one-shot sync against the server under test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.interop.corpus import CORPUS, EXPECTED_SYSTEM_FLAGS, FLAGGED, SEEN
from tests.support import ServeMaildir
from tests.support.maildirs import make_maildir, read_maildir_messages, read_maildir_state
from tests.support.peers import run_offlineimap

pytestmark = pytest.mark.interop


def test_offlineimap_syncs_every_folder_both_ways(serve_maildir: ServeMaildir, tmp_path: Path) -> None:
    remote = make_maildir(tmp_path / "remote", CORPUS)
    local = tmp_path / "local"
    with serve_maildir(remote) as server:
        run_offlineimap(server, local, tmp_path / "work")
        # sep = . : folder Archive.2024 is the flat directory local/Archive.2024.
        assert (local / "Archive.2024" / "cur").is_dir()
        assert read_maildir_state(local, layout="verbatim", keywords=False) == EXPECTED_SYSTEM_FLAGS

        # A local flag change travels back to the server on the next run.
        inbox = {m.message_id: m for m in read_maildir_messages(local, layout="verbatim")["INBOX"]}
        path = inbox["<inbox-1@example.org>"].path
        os.rename(path, path.with_name(path.name.replace(":2,S", ":2,FS")))
        run_offlineimap(server, local, tmp_path / "work")
    expected = {folder: dict(messages) for folder, messages in EXPECTED_SYSTEM_FLAGS.items()}
    expected["INBOX"]["<inbox-1@example.org>"] = frozenset({FLAGGED, SEEN})
    assert read_maildir_state(remote, keywords=False) == expected
    assert read_maildir_state(local, layout="verbatim", keywords=False) == expected
