"""RFC 6154 SPECIAL-USE and CREATE-SPECIAL-USE: §5.1 attributes in a plain LIST (derived from the usual
folder names in several languages, capabilities.md), §5.2 the SPECIAL-USE selection option and return
option (RFC 5258 syntax), §5.3 CREATE with USE (a name that gives the use is accepted; any other is a
tagged NO with USEATTR, which §3 allows: "If the server cannot create a mailbox with the designated special
use defined, for whatever reason, it MUST NOT create the mailbox"), and the config override."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import RunningServer
from tests.support.maildirs import read_maildir_state

SPEC: dict[str, Any] = {
    "INBOX": [],
    "Sent Items": [],
    "Entw&APw-rfe": [],  # "Entwürfe" in modified UTF-7
    "Papierkorb": [],
    "Spam": [],
    "Archive": [],
    "Recipes": [],
}


@pytest.mark.maildir(SPEC)
async def test_list_shows_special_use_attributes(imap_server: RunningServer) -> None:
    """§5.1: ``t1 LIST "" "%"`` -> ``* LIST (\\Sent \\HasNoChildren) "/" "Sent Mail"`` etc."""
    c = await imap_server.login()
    assert await c.cmd('t1 LIST "" "%"') == [
        b'* LIST (\\HasNoChildren) "." INBOX\r\n',
        b'* LIST (\\HasNoChildren \\Archive) "." Archive\r\n',
        b'* LIST (\\HasNoChildren \\Drafts) "." Entw&APw-rfe\r\n',
        b'* LIST (\\HasNoChildren \\Trash) "." Papierkorb\r\n',
        b'* LIST (\\HasNoChildren) "." Recipes\r\n',
        b'* LIST (\\HasNoChildren \\Sent) "." "Sent Items"\r\n',
        b'* LIST (\\HasNoChildren \\Junk) "." Spam\r\n',
        b"t1 OK LIST completed.\r\n",
    ]


@pytest.mark.maildir(SPEC)
async def test_special_use_selection_option(imap_server: RunningServer) -> None:
    """§5.2: ``t3 LIST (SPECIAL-USE) "" "*"`` lists only the special-use mailboxes."""
    c = await imap_server.login()
    assert await c.cmd('t3 LIST (SPECIAL-USE) "" "*"') == [
        b'* LIST (\\HasNoChildren \\Archive) "." Archive\r\n',
        b'* LIST (\\HasNoChildren \\Drafts) "." Entw&APw-rfe\r\n',
        b'* LIST (\\HasNoChildren \\Trash) "." Papierkorb\r\n',
        b'* LIST (\\HasNoChildren \\Sent) "." "Sent Items"\r\n',
        b'* LIST (\\HasNoChildren \\Junk) "." Spam\r\n',
        b"t3 OK LIST completed.\r\n",
    ]


@pytest.mark.maildir(SPEC)
async def test_special_use_return_option(imap_server: RunningServer) -> None:
    """§5.2: ``t2 LIST "" "%" RETURN (SPECIAL-USE)`` lists everything, with the attributes."""
    c = await imap_server.login()
    lines = await c.cmd('t2 LIST "" "S%" RETURN (SPECIAL-USE)')
    assert lines == [
        b'* LIST (\\HasNoChildren \\Sent) "." "Sent Items"\r\n',
        b'* LIST (\\HasNoChildren \\Junk) "." Spam\r\n',
        b"t2 OK LIST completed.\r\n",
    ]


@pytest.mark.maildir(SPEC)
async def test_create_special_use(imap_server: RunningServer) -> None:
    """§5.3: ``t1 CREATE MySpecial (USE (\\Drafts \\Sent))``; the server may refuse with USEATTR."""
    c = await imap_server.login()
    assert await c.cmd("t1 CREATE Drafts (USE (\\Drafts))") == [b"t1 OK CREATE completed.\r\n"]
    assert await c.cmd('t2 LIST "" Drafts') == [
        b'* LIST (\\HasNoChildren \\Drafts) "." Drafts\r\n',
        b"t2 OK LIST completed.\r\n",
    ]
    lines = await c.cmd("t3 CREATE MySpecial (USE (\\Drafts \\Sent))")
    assert len(lines) == 1 and lines[0].startswith(b"t3 NO [USEATTR] "), lines
    lines = await c.cmd('t4 CREATE "Important Messages" (USE (\\Important))')
    assert len(lines) == 1 and lines[0].startswith(b"t4 NO [USEATTR] "), lines
    folders = read_maildir_state(imap_server.maildir)
    assert "Drafts" in folders and "MySpecial" not in folders and "Important Messages" not in folders


@pytest.mark.maildir(SPEC)
@pytest.mark.server_config(mail={"special_use": {"Recipes": "\\Archive"}})
async def test_config_override(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    assert await c.cmd('t1 LIST "" Recipes') == [
        b'* LIST (\\HasNoChildren \\Archive) "." Recipes\r\n',
        b"t1 OK LIST completed.\r\n",
    ]
