"""mbsync (isync 1.4) against the server under test: a full two-way sync with folders and flags."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.interop.corpus import CORPUS, EXPECTED_SYSTEM_FLAGS, FLAGGED, SEEN
from tests.support import ServeMaildir
from tests.support.maildirs import (
    Layout,
    make_maildir,
    read_maildir_messages,
    read_maildir_state,
    sample_message,
)
from tests.support.peers import MbsyncSubfolders, run_mbsync

pytestmark = pytest.mark.interop


@pytest.mark.parametrize("subfolders", ["Verbatim", "Maildir++"])
def test_mbsync_pulls_every_folder_with_flags(
    serve_maildir: ServeMaildir, tmp_path: Path, subfolders: MbsyncSubfolders
) -> None:
    remote = make_maildir(tmp_path / "remote", CORPUS)
    local = tmp_path / "local"
    layout: Layout = "verbatim" if subfolders == "Verbatim" else "maildir++"
    with serve_maildir(remote) as server:
        run_mbsync(server, local, tmp_path / "work", subfolders=subfolders)
        # Dovecot keeps the keyword (from dovecot-keywords) on its side.
        assert "Work" in read_maildir_state(remote)["INBOX"]["<inbox-2@example.org>"]
    assert read_maildir_state(local, layout=layout, keywords=False) == EXPECTED_SYSTEM_FLAGS
    assert read_maildir_state(remote, keywords=False) == EXPECTED_SYSTEM_FLAGS


def test_mbsync_pushes_local_changes_back(serve_maildir: ServeMaildir, tmp_path: Path) -> None:
    remote = make_maildir(tmp_path / "remote", CORPUS)
    local = tmp_path / "local"
    with serve_maildir(remote) as server:
        run_mbsync(server, local, tmp_path / "work")
        # Locally: flag a message (rename its info suffix) and deliver a new one into INBOX/new.
        inbox = {m.message_id: m for m in read_maildir_messages(local, layout="verbatim")["INBOX"]}
        seen = inbox["<inbox-1@example.org>"].path
        os.rename(seen, seen.with_name(seen.name.replace(":2,S", ":2,FS")))
        (local / "INBOX" / "new" / "1700009999.local.test").write_bytes(
            sample_message(message_id="<local-1@example.org>", subject="Written locally")
        )
        run_mbsync(server, local, tmp_path / "work")
    expected = {folder: dict(messages) for folder, messages in EXPECTED_SYSTEM_FLAGS.items()}
    expected["INBOX"]["<inbox-1@example.org>"] = frozenset({FLAGGED, SEEN})
    expected["INBOX"]["<local-1@example.org>"] = frozenset()
    assert read_maildir_state(remote, keywords=False) == expected
    assert read_maildir_state(local, layout="verbatim", keywords=False) == expected
