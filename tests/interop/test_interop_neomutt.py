"""neomutt (driven in a pseudo-terminal) changes flags on the server under test."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.interop.corpus import ANSWERED, CORPUS, EXPECTED_SYSTEM_FLAGS, FLAGGED, SEEN
from tests.support import ServeMaildir
from tests.support.maildirs import make_maildir, read_maildir_state
from tests.support.peers import neomutt_set_flag
from tests.support.rawclient import SyncRawClient

pytestmark = pytest.mark.interop


def _server_flags(host: str, port: int, user: str, password: str, message_id: str) -> bytes:
    with SyncRawClient.connect(host, port) as client:
        client.cmd(f"a1 LOGIN {user} {password}")
        client.cmd("a2 EXAMINE INBOX")
        search = client.cmd(f"a3 UID SEARCH HEADER Message-ID {message_id}")
        uid = search[0].split()[-1].decode()
        fetch = client.cmd(f"a4 UID FETCH {uid} (FLAGS)")
        client.cmd("a5 LOGOUT")
        return fetch[0]


def test_neomutt_flags_a_message(serve_maildir: ServeMaildir, tmp_path: Path) -> None:
    remote = make_maildir(tmp_path / "remote", CORPUS)
    with serve_maildir(remote) as server:
        neomutt_set_flag(server, "<inbox-1@example.org>", "flagged", tmp_path / "work")
        line = _server_flags(server.host, server.port, server.user, server.password, "<inbox-1@example.org>")
        assert b"\\Flagged" in line, line
    expected = dict(EXPECTED_SYSTEM_FLAGS["INBOX"])
    expected["<inbox-1@example.org>"] = frozenset({FLAGGED, SEEN})
    assert read_maildir_state(remote, keywords=False)["INBOX"] == expected


def test_neomutt_marks_a_message_read(serve_maildir: ServeMaildir, tmp_path: Path) -> None:
    remote = make_maildir(tmp_path / "remote", CORPUS)
    with serve_maildir(remote) as server:
        neomutt_set_flag(server, "<inbox-3@example.org>", "seen", tmp_path / "work")
    state = read_maildir_state(remote, keywords=False)["INBOX"]
    assert state["<inbox-3@example.org>"] == frozenset({SEEN})
    # Nothing else changed.
    assert state["<inbox-4@example.org>"] == frozenset({ANSWERED, SEEN})
    assert state["<inbox-1@example.org>"] == frozenset({SEEN})
