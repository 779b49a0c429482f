"""RFC 5819 §2 LIST-STATUS: ``LIST ... RETURN (STATUS (...))`` sends a STATUS response after each
selectable mailbox's LIST response and none for \\Noselect ones (the RFC's §2 example, adapted), with the
same values as a separate STATUS command (§2: "the same as STATUS")."""

from __future__ import annotations

import pytest

from tests.conftest import RunningServer

SPEC = {
    "INBOX": [
        {"id": "<ls1@example.org>", "flags": "S"},
        {"id": "<ls2@example.org>", "flags": ""},
        {"id": "<ls3@example.org>", "new": True},
    ],
    "Fruit.Peach": [{"id": "<p1@example.org>"}],
    "Tofu": [],
}


@pytest.mark.maildir(SPEC)
async def test_rfc_example(imap_server: RunningServer) -> None:
    """§2: ``A01 LIST "" % RETURN (STATUS (MESSAGES UNSEEN))``."""
    c = await imap_server.login()
    assert await c.cmd('A01 LIST "" % RETURN (STATUS (MESSAGES UNSEEN))') == [
        b'* LIST (\\HasNoChildren) "." INBOX\r\n',
        b"* STATUS INBOX (MESSAGES 3 UNSEEN 2)\r\n",
        b'* LIST (\\Noselect \\HasChildren) "." Fruit\r\n',
        b'* LIST (\\HasNoChildren) "." Tofu\r\n',
        b"* STATUS Tofu (MESSAGES 0 UNSEEN 0)\r\n",
        b"A01 OK LIST completed.\r\n",
    ]


@pytest.mark.maildir(SPEC)
async def test_list_status_equals_status(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    items = "MESSAGES UIDNEXT UIDVALIDITY UNSEEN SIZE"
    listed = await c.cmd(f'A01 LIST "" Fruit.* RETURN (STATUS ({items}))')
    assert listed[0] == b'* LIST (\\HasNoChildren) "." Fruit.Peach\r\n'
    alone = await c.cmd(f"A02 STATUS Fruit.Peach ({items})")
    assert listed[1] == alone[0]
    assert listed[2:] == [b"A01 OK LIST completed.\r\n"]


@pytest.mark.maildir(SPEC)
async def test_with_subscribed_selection(imap_server: RunningServer) -> None:
    """§2: combined with other options; no subscriptions file means every folder is subscribed (issue 5)."""
    c = await imap_server.login()
    lines = await c.cmd('A01 LIST (SUBSCRIBED) "" T* RETURN (STATUS (MESSAGES))')
    assert lines == [
        b'* LIST (\\Subscribed \\HasNoChildren) "." Tofu\r\n',
        b"* STATUS Tofu (MESSAGES 0)\r\n",
        b"A01 OK LIST completed.\r\n",
    ]
