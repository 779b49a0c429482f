"""Hostile review: header field names are echoed in the FETCH response's section spec.

``header-fld-name`` is an ``astring`` (RFC 9051 §9), so a literal can carry any octet. The name
comes back in ``BODY[HEADER.FIELDS (...)]``, which the server wrote as ``"`` + name + ``"`` with
quotes and backslashes *deleted*: a CR LF in the name ended the response line inside a quoted
string (the client's parser desynchronises; a front end that passes user input as a field name
lets that user forge untagged responses), and ``"a\\"b"`` came back as ``"AB"``, a section the
client never asked for, so it cannot pair the data with its request (RFC 9051 §7.5.2 BODY[...]).
"""

from __future__ import annotations

import pytest


async def _selected(imap_server):  # type: ignore[no-untyped-def]
    client = await imap_server.login()
    assert (await client.cmd("s1 SELECT INBOX"))[-1].startswith(b"s1 OK")
    return client


@pytest.mark.parametrize("name", [b"a\r\n", b"a\r\n* 1 EXPUNGE", b"x\x00y", b"\x7f"])
async def test_control_characters_in_a_header_field_name_are_refused(imap_server, name: bytes) -> None:  # type: ignore[no-untyped-def]
    client = await _selected(imap_server)
    lines = await client.cmd(b"f1 FETCH 1 (BODY.PEEK[HEADER.FIELDS ({%d}\r\n%s)])" % (len(name), name))
    assert lines[0] == b"+ Ready\r\n"
    assert lines[1:] == [
        b"f1 BAD [PARSE] Header field name '"
        + name.replace(b"\r", b"\\x0d")
        .replace(b"\n", b"\\x0a")
        .replace(b"\0", b"\\x00")
        .replace(b"\x7f", b"\\x7f")
        + b"' contains control characters\r\n"
    ], lines
    assert (await client.cmd("f2 NOOP")) == [b"f2 OK NOOP completed.\r\n"]
    await client.aclose()


async def test_a_quoted_field_name_comes_back_as_the_same_string(imap_server) -> None:  # type: ignore[no-untyped-def]
    client = await _selected(imap_server)
    lines = await client.cmd(b'f1 FETCH 1 (BODY.PEEK[HEADER.FIELDS ("A\\"B" "C\\\\D" "E F")])')
    assert lines[0].startswith(b'* 1 FETCH (BODY[HEADER.FIELDS ("A\\"B" "C\\\\D" "E F")] {2}\r\n'), lines
    await client.aclose()
