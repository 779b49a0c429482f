"""The server fixture and the raw clients: LOGIN and SELECT through rawclient (trio and sync) and imaplib."""

from __future__ import annotations

import imaplib
from pathlib import Path

import pytest

from tests.interop.corpus import CORPUS
from tests.support import ServeMaildir
from tests.support.dovecot import DovecotError, DovecotServer, dovecot_preauth
from tests.support.maildirs import make_maildir, read_maildir_state
from tests.support.rawclient import RawClient, SyncRawClient

pytestmark = pytest.mark.interop


async def test_login_select_with_trio_rawclient(serve_maildir: ServeMaildir, tmp_path: Path) -> None:
    maildir = make_maildir(tmp_path / "Maildir", CORPUS)
    with serve_maildir(maildir) as server:
        async with await RawClient.connect(server.host, server.port) as client:
            assert client.greeting.startswith(b"* OK")
            login = await client.cmd(f"a1 LOGIN {server.user} {server.password}")
            assert login[-1].startswith(b"a1 OK")
            select = await client.cmd("a2 SELECT INBOX")
            assert b"* 4 EXISTS\r\n" in select
            assert select[-1].startswith(b"a2 OK")
            # A FETCH of a whole message comes back as one line with the literal inside it.
            fetch = await client.cmd("a3 UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
            untagged = [line for line in fetch if line.startswith(b"* ")]
            assert len(untagged) == 4
            assert all(b"}\r\nMessage-ID: <inbox-" in line for line in untagged)
            assert (await client.cmd("a4 LOGOUT"))[-1].startswith(b"a4 OK")


async def test_append_with_synchronizing_literal(serve_maildir: ServeMaildir, tmp_path: Path) -> None:
    maildir = make_maildir(tmp_path / "Maildir", {"INBOX": []})
    message = b"Message-ID: <appended@example.org>\r\nSubject: hi\r\n\r\nbody\r\n"
    with serve_maildir(maildir) as server:
        async with await RawClient.connect(server.host, server.port) as client:
            await client.cmd(f"a1 LOGIN {server.user} {server.password}")
            lines = await client.cmd(b"a2 APPEND INBOX (\\Flagged) {%d}\r\n" % len(message) + message)
            assert lines[0].startswith(b"+ "), lines
            assert lines[-1].startswith(b"a2 OK"), lines
            await client.cmd("a3 LOGOUT")
    state = read_maildir_state(maildir)
    assert state["INBOX"] == {"<appended@example.org>": frozenset({"\\Flagged"})}


def test_login_select_with_sync_rawclient(serve_maildir: ServeMaildir, tmp_path: Path) -> None:
    maildir = make_maildir(tmp_path / "Maildir", CORPUS)
    with serve_maildir(maildir) as server, SyncRawClient.connect(server.host, server.port) as client:
        assert client.greeting.startswith(b"* OK")
        assert client.cmd(f"a1 LOGIN {server.user} {server.password}")[-1].startswith(b"a1 OK")
        select = client.cmd("a2 EXAMINE Archive.2024")
        assert b"* 1 EXISTS\r\n" in select
        assert select[-1].startswith(b"a2 OK [READ-ONLY]")


def test_login_select_with_imaplib(serve_maildir: ServeMaildir, tmp_path: Path) -> None:
    maildir = make_maildir(tmp_path / "Maildir", CORPUS)
    with serve_maildir(maildir) as server:
        imap = imaplib.IMAP4(server.host, server.port)
        try:
            assert imap.login(server.user, server.password)[0] == "OK"
            status, data = imap.select("INBOX")
            assert (status, data) == ("OK", [b"4"])
            status, flags = imap.fetch("1:*", "(FLAGS)")
            assert status == "OK"
            joined = b" ".join(f for f in flags if isinstance(f, bytes))
            assert b"\\Flagged" in joined
            assert b"Work" in joined  # the keyword came from dovecot-keywords via the filename letter
            status, listing = imap.list()
            names = sorted(line.rsplit(b" ", 1)[1].strip(b'"') for line in listing if isinstance(line, bytes))
            assert names == [b"Archive", b"Archive.2024", b"INBOX"]
        finally:
            imap.logout()


def test_wrong_password_is_refused(serve_maildir: ServeMaildir, tmp_path: Path) -> None:
    maildir = make_maildir(tmp_path / "Maildir", {"INBOX": []})
    with serve_maildir(maildir) as server, SyncRawClient.connect(server.host, server.port) as client:
        reply = client.cmd(f"a1 LOGIN {server.user} not-the-password")
        assert reply[-1].startswith(b"a1 NO"), reply


def test_dovecot_preauth_reads_a_made_maildir(tmp_path: Path) -> None:
    maildir = make_maildir(tmp_path / "Maildir", CORPUS)
    output = dovecot_preauth(
        maildir,
        ["a1 SELECT INBOX", "a2 FETCH 2 (FLAGS)", 'a3 LIST "" "*"'],
    )
    assert output.startswith(b"* PREAUTH ")
    assert b"* 4 EXISTS\r\n" in output
    # First session on this Maildir: every message is \Recent; the keyword comes from dovecot-keywords.
    assert b"* 2 FETCH (FLAGS (\\Flagged \\Seen \\Recent Work))\r\n" in output
    assert b'* LIST (\\HasChildren) "." Archive\r\n' in output
    assert b'* LIST (\\HasNoChildren) "." Archive.2024\r\n' in output
    assert b"\r\na3 OK " in output


async def test_dovecot_fixture_from_a_trio_test(dovecot: DovecotServer) -> None:
    endpoint = dovecot.endpoint
    assert endpoint.maildir.name == "Maildir"
    async with await RawClient.connect(endpoint.host, endpoint.port) as client:
        await client.cmd(f"a1 LOGIN {endpoint.user} {endpoint.password}")
        created = await client.cmd("a2 CREATE Projects.2026")
        assert created[-1].startswith(b"a2 OK"), created
    # Dovecot wrote the folder as a Maildir++ sibling directory (maildir-format.md §2.1).
    assert (endpoint.maildir / ".Projects.2026" / "maildirfolder").exists()
    assert read_maildir_state(endpoint.maildir) == {"INBOX": {}, "Projects.2026": {}}


def test_dovecot_start_failure_reports_dovecots_error(tmp_path: Path) -> None:
    server = DovecotServer(tmp_path / "Maildir", extra_config="not a setting line\n")
    with pytest.raises(DovecotError, match="Error in configuration file"):
        server.start()
    assert server.process is None
