"""RFC 3348 §4 CHILDREN: every LIST response carries \\HasChildren or \\HasNoChildren (§4's example lists
a parent and a leaf); a Maildir++ parent that is only implied by a child is \\Noselect \\HasChildren."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import RunningServer

SPEC: dict[str, Any] = {
    "INBOX": [],
    "Foo": [],
    "Foo.Bar": [],
    "Foo.Bar.Baz": [],
    "Lonely": [],
    "Implied.Child": [],
}


@pytest.mark.maildir(SPEC)
async def test_list_percent_marks_parents_and_leaves(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    assert await c.cmd('A001 LIST "" %') == [
        b'* LIST (\\HasNoChildren) "." INBOX\r\n',
        b'* LIST (\\HasChildren) "." Foo\r\n',
        b'* LIST (\\Noselect \\HasChildren) "." Implied\r\n',
        b'* LIST (\\HasNoChildren) "." Lonely\r\n',
        b"A001 OK LIST completed.\r\n",
    ]


@pytest.mark.maildir(SPEC)
async def test_children_follow_create_and_delete(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    assert await c.cmd('A1 LIST "" Foo.%') == [
        b'* LIST (\\HasChildren) "." Foo.Bar\r\n',
        b"A1 OK LIST completed.\r\n",
    ]
    assert (await c.cmd("A2 CREATE Lonely.Friend"))[-1] == b"A2 OK CREATE completed.\r\n"
    assert await c.cmd('A3 LIST "" Lonely') == [
        b'* LIST (\\HasChildren) "." Lonely\r\n',
        b"A3 OK LIST completed.\r\n",
    ]
    assert (await c.cmd("A4 DELETE Lonely.Friend"))[-1] == b"A4 OK DELETE completed.\r\n"
    assert await c.cmd('A5 LIST "" Lonely') == [
        b'* LIST (\\HasNoChildren) "." Lonely\r\n',
        b"A5 OK LIST completed.\r\n",
    ]
