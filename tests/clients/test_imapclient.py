"""Real clients: Python's imaplib and IMAPClient drive every RFC 3501 command against a running maildird.

The clients are blocking, so each test runs them in a worker thread while the server runs in the
test's Trio loop. Assertions are on what the clients parsed and on the Maildir on disk.
"""

from __future__ import annotations

import imaplib
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import imapclient
import trio

from tests.conftest import RunningServer
from tests.support.maildirs import read_maildir_state, sample_message

T = TypeVar("T")


async def in_thread(fn: Callable[[], T]) -> T:
    return await trio.to_thread.run_sync(fn)


def _client(server: RunningServer) -> imapclient.IMAPClient:
    c = imapclient.IMAPClient(server.host, port=server.port, ssl=False, timeout=10)
    c.login(server.user, server.password)
    return c


async def test_imapclient_reads_folders_flags_and_bodies(imap_server: RunningServer) -> None:
    def run() -> None:
        c = _client(imap_server)
        folders = {name for _flags, _delim, name in c.list_folders()}
        assert {"INBOX", "Sent", "Archive", "Archive.2024"} <= folders, folders
        info = c.select_folder("INBOX")
        assert info[b"EXISTS"] == 3
        assert b"\\*" in info[b"PERMANENTFLAGS"]
        uids = c.search(["ALL"])
        assert uids == [1, 2, 3]
        data = c.fetch(uids, ["FLAGS", "RFC822.SIZE", "ENVELOPE", "BODY.PEEK[]"])
        assert data[1][b"FLAGS"] == (b"\\Seen",)
        assert data[2][b"FLAGS"] == ()
        assert data[3][b"ENVELOPE"].subject == b"Third message"
        for uid in uids:
            body = data[uid][b"BODY[]"]
            assert body and b"\r\n" in body and b"\n" not in body.replace(b"\r\n", b"")
            assert data[uid][b"RFC822.SIZE"] == len(body)
        assert c.search(["UNSEEN"]) == [2]
        assert c.search(["SUBJECT", "Third"]) == [3]
        assert c.search(["FROM", "nobody-at-all"]) == []
        c.logout()

    await in_thread(run)


async def test_imapclient_store_copy_move_expunge_append(imap_server: RunningServer) -> None:
    def run() -> None:
        c = _client(imap_server)
        c.select_folder("INBOX")
        c.add_flags([2], [b"\\Flagged", b"$Forwarded", b"Work"])
        assert set(c.get_flags([2])[2]) == {b"\\Flagged", b"$Forwarded", b"Work"}
        c.remove_flags([2], [b"Work"])
        copied = c.copy([1], "Sent")
        assert copied is None or copied  # COPYUID is parsed by newer versions
        c.move([3], "Archive.2024")
        assert c.search(["ALL"]) == [1, 2]
        c.set_flags([1], [b"\\Deleted", b"\\Seen"])
        c.expunge()
        assert c.search(["ALL"]) == [2]
        when = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
        c.append(
            "INBOX", sample_message(message_id="<new@example.org>", subject="Appended"), [b"\\Seen"], when
        )
        c.noop()
        assert c.search(["SUBJECT", "Appended"]) == [4]
        fetched = c.fetch([4], ["INTERNALDATE", "FLAGS"])[4]
        assert fetched[b"INTERNALDATE"].astimezone(UTC).replace(tzinfo=UTC) == when
        c.create_folder("Projects.Alpha")
        c.rename_folder("Projects.Alpha", "Projects.Beta")
        c.subscribe_folder("Projects.Beta")
        assert "Projects.Beta" in {n for _f, _d, n in c.list_sub_folders()}
        c.delete_folder("Projects.Beta")
        status = c.folder_status("Sent", [b"MESSAGES", b"UNSEEN", b"UIDNEXT", b"UIDVALIDITY"])
        assert status[b"MESSAGES"] == 2
        c.logout()

    await in_thread(run)
    state = read_maildir_state(imap_server.maildir)
    assert state["INBOX"] == {
        "<m2@example.org>": frozenset({"\\Flagged", "$Forwarded"}),
        "<new@example.org>": frozenset({"\\Seen"}),
    }
    assert "<m3@example.org>" in state["Archive.2024"]
    assert "<m1@example.org>" in state["Sent"]
    # APPEND sets the file's mtime to INTERNALDATE (maildir-format.md §1.8).
    appended = [p for p in (imap_server.maildir / "cur").iterdir() if "S" in p.name.rsplit(",", 1)[-1]]
    assert any(int(os.stat(p).st_mtime) == 1741064767 for p in appended)


async def test_imaplib_every_basic_command(imap_server: RunningServer) -> None:
    def run() -> list[tuple[str, object]]:
        m = imaplib.IMAP4(imap_server.host, imap_server.port, timeout=10)
        out: list[tuple[str, object]] = []

        def ok(name: str, result: tuple[str, object]) -> object:
            assert result[0] == "OK", (name, result)
            out.append((name, result[1]))
            return result[1]

        ok("capability", m.capability())
        ok("noop", m.noop())
        ok("login", m.login(imap_server.user, imap_server.password))
        ok("list", m.list())
        ok("lsub", m.lsub())
        ok("status", m.status("INBOX", "(MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)"))
        ok("examine", m.select("INBOX", readonly=True))
        ok("fetch-ro", m.fetch("2", "(BODY[TEXT])"))
        ok("close-ro", m.close())
        ok("select", m.select("INBOX"))
        assert b"2" in ok("search", m.search(None, "UNSEEN"))[0]  # type: ignore[index]
        ok("check", m.check())
        ok("uid-fetch", m.uid("FETCH", "1:*", "(UID FLAGS)"))
        ok("uid-store", m.uid("STORE", "2", "+FLAGS", "(\\Answered)"))
        ok("uid-search", m.uid("SEARCH", None, "ANSWERED"))
        ok("uid-copy", m.uid("COPY", "2", "Sent"))
        ok("store", m.store("1", "+FLAGS.SILENT", "(\\Deleted)"))
        ok("expunge", m.expunge())
        ok("create", m.create("Tmp"))
        ok("subscribe", m.subscribe("Tmp"))
        ok("unsubscribe", m.unsubscribe("Tmp"))
        ok("rename", m.rename("Tmp", "Tmp2"))
        ok("delete", m.delete("Tmp2"))
        ok("close", m.close())
        m.logout()
        return out

    out = dict(await in_thread(run))
    # EXAMINE never sets \Seen: message 2 is still unseen after FETCH BODY[TEXT] in read-only mode.
    assert out["search"] == [b"2"]
    assert out["uid-search"] == [b"2"]
    state = read_maildir_state(imap_server.maildir)
    assert set(state["INBOX"]) == {"<m2@example.org>", "<m3@example.org>"}
    assert state["INBOX"]["<m2@example.org>"] == frozenset({"\\Answered"})
    assert "<m2@example.org>" in state["Sent"]
    assert not (Path(imap_server.maildir) / ".Tmp2").exists()
