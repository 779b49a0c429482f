"""RFC 3516 §4.3 with RFC 9051 §4.3/§9: NUL octets can only travel in a ``literal8`` (``~{n}``, BINARY);
an ordinary literal is ``*CHAR8`` and ``CHAR8 = %x01-ff`` ("any OCTET except NUL"), and a quoted string
cannot hold NUL either. A message with NUL octets on disk (broken mail, or stored with APPEND ~{n}, RFC
3516 §4.4) must therefore never put a raw NUL into a FETCH response outside BINARY. maildird maps NUL to
0x80 one-for-one in BODY[...] (as Dovecot does, message.sections.body_section); RFC822, RFC822.HEADER and
RFC822.TEXT are "functionally equivalent to" BODY[], BODY.PEEK[HEADER] and BODY[TEXT] (RFC 3501 §6.4.5)
and must give the same octets; ENVELOPE and BODYSTRUCTURE strings must not carry NUL either."""

from __future__ import annotations

import pytest

from tests.conftest import RunningServer

RAW = (
    b"Message-ID: <nul@example.org>\r\n"
    b"Subject: a\x00b\r\n"
    b'From: "Na\x00me" <x@example.org>\r\n'
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: text/plain; charset="us-ascii"; name="f\x00"\r\n'
    b"Content-Transfer-Encoding: binary\r\n"
    b"\r\n"
    b"A\x00B\x00C\r\n"
)
SPEC = {"INBOX": [{"id": "<nul@example.org>", "raw": RAW}]}

RFC822_IS_BODY = (
    "handlers.fetch._render sends RFC822/RFC822.HEADER/RFC822.TEXT as Literal(msg.data / header_bytes / "
    "body) without message.sections.body_section's NUL->0x80 mapping, so raw NUL octets go out in a {n} "
    "literal (RFC 9051 §9 literal = *CHAR8, CHAR8 excludes NUL) and differ from BODY[]"
)
STRINGS_WITHOUT_NUL = (
    "ENVELOPE and BODYSTRUCTURE strings holding NUL (from a header field or a Content-Type parameter) are "
    "serialized by imap.responses as {n} literals with the raw NUL (RFC 9051 §9: neither quoted nor "
    "literal may contain NUL)"
)


async def fetch_one(server: RunningServer, item: str) -> bytes:
    c = await server.login()
    await c.cmd("a1 EXAMINE INBOX")
    lines = await c.cmd(f"a2 FETCH 1 ({item})")
    assert lines[-1] == b"a2 OK FETCH completed.\r\n", lines
    assert len(lines) == 2, lines
    return lines[0]


@pytest.mark.maildir(SPEC)
async def test_body_sections_map_nul_to_0x80(imap_server: RunningServer) -> None:
    line = await fetch_one(imap_server, "BODY.PEEK[]")
    expected = RAW.replace(b"\x00", b"\x80")
    assert line == b"* 1 FETCH (BODY[] {%d}\r\n%s)\r\n" % (len(expected), expected)
    line = await fetch_one(imap_server, "BODY.PEEK[TEXT]")
    assert line == b"* 1 FETCH (BODY[TEXT] {7}\r\nA\x80B\x80C\r\n)\r\n"


@pytest.mark.maildir(SPEC)
async def test_binary_keeps_nul_in_a_literal8(imap_server: RunningServer) -> None:
    line = await fetch_one(imap_server, "BINARY.PEEK[1]")
    assert line == b"* 1 FETCH (BINARY[1] ~{7}\r\nA\x00B\x00C\r\n)\r\n"


@pytest.mark.maildir(SPEC)
@pytest.mark.parametrize(
    ("item", "section"),
    [("RFC822", "[]"), ("RFC822.HEADER", "[HEADER]"), ("RFC822.TEXT", "[TEXT]")],
)
async def test_rfc822_items_equal_body_sections(imap_server: RunningServer, item: str, section: str) -> None:
    line = await fetch_one(imap_server, f"{item} FLAGS")
    body = await fetch_one(imap_server, f"BODY.PEEK{section}")
    assert b"\x00" not in line
    data = body[len(b"* 1 FETCH (BODY" + section.encode()) + 1 : -3]
    assert line.startswith(b"* 1 FETCH (" + item.encode() + b" " + data + b" FLAGS ("), (line, data)


@pytest.mark.maildir(SPEC)
@pytest.mark.parametrize("item", ["ENVELOPE", "BODYSTRUCTURE"])
async def test_envelope_and_bodystructure_hold_no_nul(imap_server: RunningServer, item: str) -> None:
    line = await fetch_one(imap_server, item)
    assert line.startswith(b"* 1 FETCH (" + item.encode() + b" ("), line
    assert b"\x00" not in line, line
