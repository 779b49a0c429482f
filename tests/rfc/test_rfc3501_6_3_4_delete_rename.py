"""RFC 3501 §6.3.4-§6.3.5 DELETE and RENAME over a real server and Maildir (seed bug 9)."""

from __future__ import annotations

import pytest

from tests.conftest import RunningServer
from tests.support.maildirs import read_maildir_state

SPEC = {
    "INBOX": [{"id": "<i1@example.org>", "flags": "S"}, {"id": "<i2@example.org>", "flags": ""}],
    "Archive": [{"id": "<a1@example.org>", "flags": "S"}],
    "Archive.2024": [{"id": "<a2@example.org>", "flags": ""}],
}


def strip(lines: list[bytes]) -> list[bytes]:
    return [line.removesuffix(b"\r\n") for line in lines]


@pytest.mark.maildir(SPEC)
async def test_delete_mailbox_with_children(imap_server: RunningServer) -> None:
    """Seed bug 9: DELETE of a mailbox that has inferiors is allowed; the children stay."""
    c = await imap_server.login()
    assert strip(await c.cmd("a1 DELETE Archive")) == [b"a1 OK DELETE completed."]
    lines = strip(await c.cmd('a2 LIST "" Archive*'))
    assert b'* LIST (\\HasNoChildren) "." Archive.2024' in lines
    state = read_maildir_state(imap_server.maildir)
    assert "<a2@example.org>" in state["Archive.2024"]
    assert "<a1@example.org>" not in state.get("Archive", {})


@pytest.mark.maildir(SPEC)
async def test_rename_inbox_moves_messages_and_inbox_remains(imap_server: RunningServer) -> None:
    """Seed bug 9: RENAME INBOX moves its messages to the new name; INBOX exists afterwards, empty."""
    c = await imap_server.login()
    assert strip(await c.cmd("a1 RENAME INBOX Before")) == [b"a1 OK RENAME completed."]
    assert strip(await c.cmd("a2 STATUS INBOX (MESSAGES)")) == [
        b"* STATUS INBOX (MESSAGES 0)",
        b"a2 OK STATUS completed.",
    ]
    assert strip(await c.cmd("a3 STATUS Before (MESSAGES)"))[0] == b"* STATUS Before (MESSAGES 2)"
    state = read_maildir_state(imap_server.maildir)
    assert set(state["Before"]) == {"<i1@example.org>", "<i2@example.org>"}
    assert state.get("INBOX", {}) == {}


async def test_delete_inbox_is_refused(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    assert strip(await c.cmd("a1 DELETE INBOX")) == [b"a1 NO [CANNOT] INBOX cannot be deleted."]


@pytest.mark.maildir(SPEC)
async def test_delete_of_the_selected_mailbox_drops_the_selection(imap_server: RunningServer) -> None:
    """Our documented choice (handlers/mailboxes.py): DELETE succeeds, ``* OK [CLOSED]``, further
    selected-state commands get ``NO [CLOSED]``, and CLOSE brings client and server back in step."""
    c = await imap_server.login()
    await c.cmd("a1 SELECT Archive")
    assert strip(await c.cmd("a2 DELETE Archive")) == [
        b"* OK [CLOSED] Previous mailbox closed.",
        b"a2 OK DELETE completed.",
    ]
    assert strip(await c.cmd("a3 FETCH 1 (FLAGS)")) == [b"a3 NO [CLOSED] No mailbox is selected."]
    assert strip(await c.cmd("a4 CLOSE")) == [b"a4 OK CLOSE completed."]
    assert strip(await c.cmd("a5 FETCH 1 (FLAGS)"))[-1].startswith(b"a5 BAD")  # authenticated state now
    lines = strip(await c.cmd("a6 SELECT INBOX"))
    assert lines[-1].startswith(b"a6 OK [READ-WRITE]")
