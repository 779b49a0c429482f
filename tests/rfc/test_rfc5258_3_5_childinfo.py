"""RFC 5258 §3.1 RECURSIVEMATCH and §3.5 CHILDINFO: with (SUBSCRIBED RECURSIVEMATCH), a listed mailbox with
a subscribed descendant carries ("CHILDINFO" ("SUBSCRIBED")) -- also when the mailbox is itself subscribed
(RFC 5258 §5 Example 9: ``* LIST (\\Subscribed) "/" "eps2" ("CHILDINFO" ("SUBSCRIBED"))``). neomutt lists
folders with exactly this command. Found by tests/conformance (Dovecot sends it).
"""

from __future__ import annotations

import pytest

from tests.conftest import RunningServer

SPEC = {
    "INBOX": {
        "messages": [],
        "files": {"subscriptions": b"V\t2\n\nINBOX\nWork\nWork\tProjects\nHome\tGarden\n"},
    },
    "Work": [],
    "Work.Projects": [],
    "Home": [],
    "Home.Garden": [],
    "Other": [],
}


@pytest.mark.maildir(SPEC)
async def test_subscribed_parent_with_subscribed_child_has_childinfo(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    lines = await c.cmd('a1 LIST (SUBSCRIBED RECURSIVEMATCH) "" %')
    assert lines == [
        b'* LIST (\\Subscribed \\HasNoChildren) "." INBOX\r\n',
        b'* LIST (\\HasChildren) "." Home ("CHILDINFO" ("SUBSCRIBED"))\r\n',
        b'* LIST (\\Subscribed \\HasChildren) "." Work ("CHILDINFO" ("SUBSCRIBED"))\r\n',
        b"a1 OK LIST completed.\r\n",
    ]


@pytest.mark.maildir(SPEC)
async def test_star_pattern_lists_children_and_marks_parents(imap_server: RunningServer) -> None:
    """RFC 5258 §3.1 Note 2: CHILDINFO does not depend on the child matching the pattern; with "*" the
    child matches and is listed too."""
    c = await imap_server.login()
    lines = await c.cmd('a1 LIST (SUBSCRIBED RECURSIVEMATCH) "" Work*')
    assert lines == [
        b'* LIST (\\Subscribed \\HasChildren) "." Work ("CHILDINFO" ("SUBSCRIBED"))\r\n',
        b'* LIST (\\Subscribed \\HasNoChildren) "." Work.Projects\r\n',
        b"a1 OK LIST completed.\r\n",
    ]


@pytest.mark.maildir(SPEC)
async def test_no_childinfo_without_recursivematch(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    lines = await c.cmd('a1 LIST (SUBSCRIBED) "" %')
    assert b"CHILDINFO" not in b"".join(lines)
    assert b'* LIST (\\Subscribed \\HasChildren) "." Work\r\n' in lines
