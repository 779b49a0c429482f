"""RFC 5258 LIST-EXTENDED: §3 the selection options SUBSCRIBED (with \\NonExistent for a subscribed name
that does not exist, §3.4 and the §5 example 3) and the RETURN options SUBSCRIBED and CHILDREN, §3 multiple
mailbox patterns, and §4 "LIST with an empty selection option list is the same as the plain LIST". CHILDINFO
with RECURSIVEMATCH is in test_rfc5258_3_5_childinfo.py."""

from __future__ import annotations

import pytest

from tests.conftest import RunningServer

SPEC = {
    "INBOX": {
        "messages": [],
        "files": {"subscriptions": b"V\t2\n\nINBOX\nFruit\tBanana\nGone\nVegetable\n"},
    },
    "Fruit": [],
    "Fruit.Apple": [],
    "Fruit.Banana": [],
    "Tofu": [],
    "Vegetable": [],
    "Vegetable.Broccoli": [],
}


@pytest.mark.maildir(SPEC)
async def test_subscribed_selection_lists_nonexistent_subscriptions(imap_server: RunningServer) -> None:
    """§5 example 3: ``* LIST (\\Subscribed \\NonExistent) "/" "Fruit/Peach"``."""
    c = await imap_server.login()
    assert await c.cmd('A02 LIST (SUBSCRIBED) "" "*"') == [
        b'* LIST (\\Subscribed \\HasNoChildren) "." INBOX\r\n',
        b'* LIST (\\Subscribed \\HasNoChildren) "." Fruit.Banana\r\n',
        b'* LIST (\\NonExistent \\Subscribed) "." Gone\r\n',
        b'* LIST (\\Subscribed \\HasChildren) "." Vegetable\r\n',
        b"A02 OK LIST completed.\r\n",
    ]


@pytest.mark.maildir(SPEC)
async def test_return_subscribed_marks_subscriptions_in_a_full_list(imap_server: RunningServer) -> None:
    """§5 example 2: ``A02 LIST "" % RETURN (SUBSCRIBED)``."""
    c = await imap_server.login()
    assert await c.cmd('A02 LIST "" % RETURN (SUBSCRIBED)') == [
        b'* LIST (\\Subscribed \\HasNoChildren) "." INBOX\r\n',
        b'* LIST (\\HasChildren) "." Fruit\r\n',
        b'* LIST (\\HasNoChildren) "." Tofu\r\n',
        b'* LIST (\\Subscribed \\HasChildren) "." Vegetable\r\n',
        b"A02 OK LIST completed.\r\n",
    ]


@pytest.mark.maildir(SPEC)
async def test_multiple_patterns(imap_server: RunningServer) -> None:
    """§5 example 7: ``A01 LIST "" ("INBOX" "Drafts" "Sent/%")``; each mailbox once."""
    c = await imap_server.login()
    assert await c.cmd('A01 LIST "" ("INBOX" "Fruit.%" "Fruit*")') == [
        b'* LIST (\\HasNoChildren) "." INBOX\r\n',
        b'* LIST (\\HasChildren) "." Fruit\r\n',
        b'* LIST (\\HasNoChildren) "." Fruit.Apple\r\n',
        b'* LIST (\\HasNoChildren) "." Fruit.Banana\r\n',
        b"A01 OK LIST completed.\r\n",
    ]


@pytest.mark.maildir(SPEC)
async def test_empty_selection_is_plain_list(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    plain = await c.cmd('A01 LIST "" %')
    extended = await c.cmd('A01 LIST () "" % RETURN ()')
    assert extended == plain


@pytest.mark.maildir(SPEC)
async def test_unknown_selection_option_is_bad(imap_server: RunningServer) -> None:
    """§3: "the server MUST return a tagged BAD response" for an unrecognised selection option."""
    c = await imap_server.login()
    lines = await c.cmd('A01 LIST (X-UNKNOWN) "" %')
    assert len(lines) == 1 and lines[0].startswith(b"A01 BAD "), lines


@pytest.mark.maildir(SPEC)
async def test_recursivematch_alone_is_bad(imap_server: RunningServer) -> None:
    """§3: RECURSIVEMATCH without another selection option "MUST" get BAD."""
    c = await imap_server.login()
    lines = await c.cmd('A01 LIST (RECURSIVEMATCH) "" %')
    assert len(lines) == 1 and lines[0].startswith(b"A01 BAD "), lines


@pytest.mark.maildir(SPEC)
async def test_repeated_options_count_once(imap_server: RunningServer) -> None:
    """RFC 5258 §3 / RFC 9051 §6.3.9: "if the client does this, the server MUST act as if it received the
    option only once"."""
    c = await imap_server.login()
    once = await c.cmd('A01 LIST (SUBSCRIBED) "" % RETURN (CHILDREN)')
    twice = await c.cmd('A01 LIST (SUBSCRIBED SUBSCRIBED) "" % RETURN (CHILDREN CHILDREN)')
    assert twice == once
    assert once[-1] == b"A01 OK LIST completed.\r\n" and len(once) == 4, once
