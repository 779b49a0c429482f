"""RFC 3516 BINARY: §4.2 ``FETCH BINARY[part]`` returns the part decoded from its Content-Transfer-Encoding,
as a literal8 ``~{n}`` when the bytes contain NUL (§4.3, otherwise a plain literal is fine), §4.2
``BINARY.SIZE[part]`` is the decoded size, ``BINARY.PEEK`` does not set \\Seen while ``BINARY`` does,
``<partial>`` works as for BODY, an unknown encoding fails with ``NO [UNKNOWN-CTE]`` (§4.3, RFC 5530), and
§4.4 APPEND accepts a literal8 whose data contain NUL."""

from __future__ import annotations

import base64
import re

import pytest

from tests.conftest import RunningServer

PAYLOAD = bytes(range(256)) * 2  # every octet value, NUL included
QP_TEXT = "Grüße aus Köln"
MESSAGE = (
    b"Message-ID: <bin@example.org>\r\n"
    b"Subject: binary\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="XX"\r\n'
    b"\r\n"
    b"--XX\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"Gr=C3=BC=C3=9Fe aus K=C3=B6ln\r\n"
    b"--XX\r\n"
    b"Content-Type: application/octet-stream\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n" + base64.encodebytes(PAYLOAD).replace(b"\n", b"\r\n") + b"--XX\r\n"
    b"Content-Type: application/octet-stream\r\n"
    b"Content-Transfer-Encoding: x-unknown-encoding\r\n"
    b"\r\n"
    b"whatever\r\n"
    b"--XX--\r\n"
)
SPEC = {"INBOX": [{"id": "<bin@example.org>", "raw": MESSAGE}]}


@pytest.mark.maildir(SPEC)
async def test_binary_base64_part_with_nul_is_a_literal8(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    await c.cmd("a1 SELECT INBOX")
    lines = await c.cmd("a2 FETCH 1 (BINARY.PEEK[2] BINARY.SIZE[2])")
    assert lines == [
        b"* 1 FETCH (BINARY[2] ~{%d}\r\n%s BINARY.SIZE[2] %d)\r\n" % (len(PAYLOAD), PAYLOAD, len(PAYLOAD)),
        b"a2 OK FETCH completed.\r\n",
    ]


@pytest.mark.maildir(SPEC)
async def test_binary_quoted_printable_part_and_seen(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    await c.cmd("a1 SELECT INBOX")
    text = QP_TEXT.encode()  # the CRLF before the boundary belongs to the boundary (RFC 2046 §5.1.1)
    lines = await c.cmd("a2 FETCH 1 (BINARY.SIZE[1] BINARY[1])")
    assert lines[0] in (
        b"* 1 FETCH (BINARY.SIZE[1] %d BINARY[1] {%d}\r\n%s FLAGS (\\Seen))\r\n"
        % (len(text), len(text), text),
        b"* 1 FETCH (BINARY.SIZE[1] %d BINARY[1] ~{%d}\r\n%s FLAGS (\\Seen))\r\n"
        % (len(text), len(text), text),
    ), lines
    assert await c.cmd("a3 FETCH 1 (FLAGS)") == [
        b"* 1 FETCH (FLAGS (\\Seen))\r\n",
        b"a3 OK FETCH completed.\r\n",
    ]


@pytest.mark.maildir(SPEC)
async def test_binary_partial(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    await c.cmd("a1 EXAMINE INBOX")
    lines = await c.cmd("a2 FETCH 1 (BINARY.PEEK[2]<256.4>)")
    assert lines[0] == b"* 1 FETCH (BINARY[2]<256> ~{4}\r\n\x00\x01\x02\x03)\r\n", lines


@pytest.mark.maildir(SPEC)
async def test_unknown_cte(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    await c.cmd("a1 EXAMINE INBOX")
    lines = await c.cmd("a2 FETCH 1 (BINARY.PEEK[3])")
    assert len(lines) == 1 and lines[0].startswith(b"a2 NO [UNKNOWN-CTE] "), lines
    # BODY[3] of the same part is still served undecoded.
    assert await c.cmd("a3 FETCH 1 (BODY.PEEK[3])") == [
        b"* 1 FETCH (BODY[3] {8}\r\nwhatever)\r\n",
        b"a3 OK FETCH completed.\r\n",
    ]


async def test_append_literal8_with_nul(imap_server: RunningServer) -> None:
    """§4.4: ``APPEND mbox ~{n}`` carries binary data; BINARY[] gives it back octet for octet."""
    c = await imap_server.login()
    body = b"Message-ID: <nul@example.org>\r\nContent-Transfer-Encoding: binary\r\n\r\nA\x00B\x00C\r\n"
    lines = await c.cmd(b"a1 APPEND INBOX ~{%d}\r\n%s" % (len(body), body))
    match = re.fullmatch(rb"a1 OK \[APPENDUID \d+ (\d+)\] APPEND completed\.\r\n", lines[-1])
    assert match is not None, lines
    await c.cmd("a2 EXAMINE INBOX")
    assert await c.cmd(b"a3 UID FETCH %s (BINARY.PEEK[] BINARY.SIZE[])" % match.group(1)) == [
        b"* 4 FETCH (UID %s BINARY[] ~{%d}\r\n%s BINARY.SIZE[] %d)\r\n"
        % (match.group(1), len(body), body, len(body)),
        b"a3 OK UID FETCH completed.\r\n",
    ]
