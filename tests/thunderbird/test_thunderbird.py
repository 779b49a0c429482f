"""A real Thunderbird (Debian's, headless, driven over Marionette) against maildird on loopback.

Thunderbird's side is read from its own message database through chrome scripts; maildird's side from
the Maildir's file names. See tests/thunderbird/driver.py for how Thunderbird is started and stopped.
Each variant (no TLS on loopback, STARTTLS, implicit TLS with the test CA imported into the profile's
NSS db) runs the same story: log in with a stored password; discover folders (no subscriptions file:
all are shown, with their SPECIAL-USE roles, a modified-UTF-7 child shown as UTF-8); open Sent,
Archive, Projekte.Zürich and INBOX and compare subjects (RFC 2047 decoded) and flags; download bodies
for offline use and compare one with the Maildir file; flag, mark read, tag and move messages (to
Archive, and into the non-ASCII folder) and find every change in the Maildir; then, while Thunderbird
idles on INBOX, deliver into new/, rename one file's flags and delete another, and wait for Thunderbird
to show all three.

On failure, Thunderbird's IMAP log tail is in the error, and for the plain variant the decoded wire
transcript (tests/thunderbird/wiretap.py) is written to ``<tmp>/wire.txt`` and printed.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.conftest import RunningServer
from tests.support.maildirs import read_maildir_state
from tests.thunderbird.conftest import ThunderbirdPrograms
from tests.thunderbird.driver import POLL_INTERVAL, Thunderbird, running_thunderbird
from tests.thunderbird.profile import (
    SOCKET_PLAIN,
    SOCKET_STARTTLS,
    SOCKET_TLS,
    ImapAccount,
    create_nss_db,
    list_certs,
    trust_ca,
    write_profile,
)
from tests.thunderbird.wiretap import wiretap

pytestmark = pytest.mark.interop

# The Maildir Thunderbird opens: INBOX with known subjects and flags, Sent, Archive, no subscriptions file.
SPEC: dict[str, Any] = {
    "INBOX": [
        {"id": "<tb1@example.org>", "flags": "S", "subject": "Quarterly report"},
        {"id": "<tb2@example.org>", "flags": "", "subject": "Lunch on Friday?"},
        {"id": "<tb3@example.org>", "flags": "FS", "subject": "Flagged and read"},
    ],
    "Sent": [{"id": "<tbs1@example.org>", "flags": "S", "subject": "Re: Quarterly report"}],
    "Archive": [{"id": "<tba1@example.org>", "flags": "S", "subject": "Old news"}],
    # A child folder with a non-ASCII name: on disk in modified UTF-7 (RFC 3501 §5.1.3), as Dovecot does.
    "Projekte": [],
    "Projekte.Z&APw-rich": [
        {"id": "<tbz1@example.org>", "flags": "S", "subject": "=?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_Z=C3=BCrich?="}
    ],
}
UTF8_FOLDER = "Projekte.Zürich"
# Message-ID -> (subject, \Seen, \Flagged) as Thunderbird must show them after the first sync.
EXPECTED_INBOX = {
    "tb1@example.org": ("Quarterly report", True, False),
    "tb2@example.org": ("Lunch on Friday?", False, False),
    "tb3@example.org": ("Flagged and read", True, True),
}
# Seconds a change may take to travel between Thunderbird and the Maildir (a UID STORE, an IDLE push).
SYNC_TIMEOUT = 30.0
USER_ORIGIN_HOST = "127.0.0.1"


def _summary(messages: list[dict[str, Any]]) -> dict[str, tuple[str, bool, bool]]:
    return {m["messageId"]: (m["subject"], m["read"], m["flagged"]) for m in messages}


def _deliver(maildir: Path, message_id: str, subject: str) -> Path:
    """Deliver like an MDA: write into tmp/, then rename into new/ (design/maildir-format.md §1)."""
    name = f"{int(time.time())}.M1P{os.getpid()}Q99.maildird-test"
    raw = (
        f"From: Bob <bob@example.org>\nTo: alice@example.org\nSubject: {subject}\n"
        f"Message-ID: <{message_id}>\nDate: Tue, 1 Jul 2025 10:00:00 +0000\n\nDelivered while idling.\n"
    ).encode()
    tmp = maildir / "tmp" / name
    tmp.write_bytes(raw)
    final = maildir / "new" / name
    tmp.rename(final)
    return final


def _file_of(maildir: Path, message_id: str) -> Path:
    """The one file in INBOX's cur/ holding ``message_id``."""
    (path,) = [
        p for p in (maildir / "cur").iterdir() if f"Message-ID: {message_id}".encode() in p.read_bytes()
    ]
    return path


async def _wait_for_disk(maildir: Path, what: str, check: Any) -> dict[str, Any]:
    """Poll ``read_maildir_state`` until ``check(state)`` holds (bounded, with the last state on failure)."""
    deadline = trio.current_time() + SYNC_TIMEOUT
    state: dict[str, Any] = {}
    while trio.current_time() < deadline:
        state = await trio.to_thread.run_sync(read_maildir_state, maildir)
        if check(state):
            return state
        await trio.sleep(POLL_INTERVAL)
    raise AssertionError(f"{what} never reached the Maildir within {SYNC_TIMEOUT} s; it holds {state}")


async def _wait_for_idle(server: RunningServer, folder: str) -> None:
    """Wait until maildird has sent ``+ idling`` to a session with ``folder`` selected."""
    deadline = trio.current_time() + SYNC_TIMEOUT
    while trio.current_time() < deadline:
        for conn in list(server.state.connections):
            selected = conn.ctx.selected
            if conn.idling and selected is not None and selected.name == folder:
                return
        await trio.sleep(POLL_INTERVAL)
    raise AssertionError(f"Thunderbird never started IDLE on {folder} within {SYNC_TIMEOUT} s")


async def _exercise(tb: Thunderbird, server: RunningServer) -> None:
    stored = await tb.store_login(f"imap://{USER_ORIGIN_HOST}", server.user, server.password)
    assert stored == [server.user]

    # The first connection lists folders; with no subscriptions file every folder counts as subscribed.
    names = await tb.discover_folders()
    assert {"INBOX", "Sent", "Archive"} <= set(names), names
    # SPECIAL-USE (RFC 6154) gives the folders their roles; Thunderbird creates Trash when it has none.
    roles = {f["name"]: f["roles"] for f in await tb.folders()}
    assert roles == {
        "INBOX": ["Inbox"],
        "Sent": ["SentMail"],
        "Archive": ["Archive"],
        "Trash": ["Trash"],
        "Projekte": [],
        UTF8_FOLDER: [],
    }, roles

    opened = (("Sent", "Re: Quarterly report"), ("Archive", "Old news"), (UTF8_FOLDER, "Grüße aus Zürich"))
    for folder, subject in opened:
        messages = await tb.select(folder)
        assert [(m["subject"], m["read"], m["flagged"]) for m in messages] == [(subject, True, False)], (
            folder,
            messages,
        )

    # INBOX last, so the connection Thunderbird keeps idling is INBOX's.
    inbox = await tb.select("INBOX")
    assert _summary(inbox) == EXPECTED_INBOX
    # Thunderbird downloads whole messages for offline use after a select (offline_download=true).
    await tb.wait_for_messages(
        "INBOX",
        lambda ms: len(ms) == 3 and all(m["offline"] for m in ms),
        what="offline bodies",
        timeout=SYNC_TIMEOUT,
    )
    # Its local copy holds the Maildir file's exact bytes (CRLF), after its own X-Mozilla-* lines.
    body = await tb.offline_body("INBOX", "tb2@example.org")
    on_disk = _file_of(server.maildir, "<tb2@example.org>")
    assert on_disk.read_bytes().replace(b"\n", b"\r\n") in body.encode("latin-1"), body

    # Thunderbird -> maildird: flag a message and mark it read; F and S must arrive in the file name.
    await tb.mark("INBOX", "tb2@example.org", "flagged", True)
    await tb.mark("INBOX", "tb2@example.org", "read", True)
    await _wait_for_disk(
        server.maildir,
        "\\Flagged and \\Seen on <tb2>",
        lambda s: {"\\Flagged", "\\Seen"} <= s["INBOX"].get("<tb2@example.org>", set()),
    )

    # Thunderbird -> maildird: a tag is an IMAP keyword; it lands in dovecot-keywords and the file name.
    await tb.add_keyword("INBOX", "tb3@example.org", "$label1")
    await _wait_for_disk(
        server.maildir,
        "keyword $label1 on <tb3>",
        lambda s: "$label1" in s["INBOX"].get("<tb3@example.org>", ()),
    )

    # Thunderbird -> maildird: move a message to Archive (UID MOVE); it must leave INBOX on disk.
    await tb.move("INBOX", "tb1@example.org", "Archive")
    state = await _wait_for_disk(
        server.maildir,
        "the move of <tb1> to Archive",
        lambda s: "<tb1@example.org>" in s["Archive"] and "<tb1@example.org>" not in s["INBOX"],
    )
    assert state["Archive"]["<tb1@example.org>"] == frozenset({"\\Seen"}), state
    # And one into the non-ASCII folder: Thunderbird names it in raw UTF-8 (UTF8=ACCEPT is enabled).
    await tb.move("Archive", "tba1@example.org", UTF8_FOLDER)
    await _wait_for_disk(
        server.maildir,
        f"the move of <tba1> to {UTF8_FOLDER}",
        lambda s: (
            "<tba1@example.org>" in s["Projekte.Z&APw-rich"] and "<tba1@example.org>" not in s["Archive"]
        ),
    )

    # maildird -> Thunderbird: a delivery into new/ is pushed to the client idling on INBOX.
    await _wait_for_idle(server, "INBOX")
    _deliver(server.maildir, "tbnew@example.org", "Pushed by IDLE")
    seen = await tb.wait_for_messages(
        "INBOX",
        lambda ms: any(m["messageId"] == "tbnew@example.org" for m in ms),
        what="the message delivered into new/",
        timeout=SYNC_TIMEOUT,
    )
    # maildird -> Thunderbird while idling: another process answers <tb2> (R) and deletes <tb3>.
    await _wait_for_idle(server, "INBOX")
    tb2 = _file_of(server.maildir, "<tb2@example.org>")
    base, info = tb2.name.split(":2,")
    tb2.rename(tb2.with_name(f"{base}:2,{''.join(sorted(info + 'R'))}"))  # letters in ASCII order
    _file_of(server.maildir, "<tb3@example.org>").unlink()
    seen = await tb.wait_for_messages(
        "INBOX",
        lambda ms: (
            [m["messageId"] for m in ms] == ["tb2@example.org", "tbnew@example.org"] and ms[0]["replied"]
        ),
        what="the outside flag change (FETCH) and deletion (EXPUNGE)",
        timeout=SYNC_TIMEOUT,
    )

    # Thunderbird subscribed the Trash it created; the others must stay subscribed (the missing file
    # meant "all", so maildird writes them all out instead of a file with Trash alone).
    subscriptions = (server.maildir / "subscriptions").read_text().split("\n")
    assert {"INBOX", "Sent", "Archive", "Trash"} <= set(subscriptions), subscriptions
    assert _summary(seen) == {
        "tb2@example.org": ("Lunch on Friday?", True, True),
        "tbnew@example.org": ("Pushed by IDLE", False, False),
    }


@contextlib.asynccontextmanager
async def _maybe_tapped(port: int, tap: bool, record: Path) -> AsyncIterator[int]:
    """The port Thunderbird should use: a recording relay in front of ``port`` when ``tap``."""
    if not tap:
        yield port
        return
    async with wiretap(port) as relay:
        try:
            yield relay.port
        except BaseException:
            record.write_text(relay.transcript())
            print(f"wire transcript: {record}\n{relay.transcript()[-8000:]}")
            raise


@pytest.mark.maildir(SPEC)
@pytest.mark.parametrize("security", ["plain", "starttls", "tls"])
async def test_thunderbird_syncs_with_maildird(
    tb_programs: ThunderbirdPrograms, imap_server: RunningServer, tmp_path: Path, security: str
) -> None:
    binary, certutil = tb_programs.thunderbird, tb_programs.certutil
    assert not (imap_server.maildir / "subscriptions").exists()
    profile = tmp_path / "tb-profile"
    create_nss_db(certutil, profile)
    if security == "plain":
        port, socket_type = imap_server.port, SOCKET_PLAIN
    else:
        ca_pem = tmp_path / "test-ca.pem"
        imap_server.ca.cert_pem.write_to_path(str(ca_pem))
        trust_ca(certutil, profile, ca_pem)
        assert "maildird test CA" in list_certs(certutil, profile)
        if security == "starttls":
            port, socket_type = imap_server.port, SOCKET_STARTTLS
        else:
            port, socket_type = imap_server.tls_port, SOCKET_TLS
    async with _maybe_tapped(port, security == "plain", tmp_path / "wire.txt") as tb_port:
        write_profile(profile, ImapAccount(USER_ORIGIN_HOST, tb_port, imap_server.user, socket_type))
        async with running_thunderbird(binary, profile, tmp_path / "tb-work") as tb:
            await _exercise(tb, imap_server)
