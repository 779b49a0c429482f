"""IMAP over WebSocket through trio-websocket's client against the real server's listeners.

The same Maildir answers over TCP and over WebSocket (websockify framing: message boundaries mean
nothing), so the tests compare bytes; the handshake policy (path, Origin, subprotocol) is checked
by status code; limits close the connection with the right close code.
"""

from __future__ import annotations

import pytest
import trio
from trio_websocket import ConnectionClosed, ConnectionRejected

from maildird.transports.websocket import WebSocketStream
from tests.support.rawclient import RawClient
from tests.websocket.conftest import TRUSTED_ORIGIN, WS_PATH, WsServer

SCRIPT = [
    'a2 LIST "" "*"',
    "a3 SELECT INBOX",
    "a4 FETCH 1:* (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE BODY.PEEK[])",
    "a5 UID SEARCH ALL",
    "a6 STATUS Sent (MESSAGES UIDNEXT UIDVALIDITY)",
    "a7 FETCH 2 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])",
    "a8 LOGOUT",
]


async def run_script(client: RawClient, server: WsServer) -> list[bytes]:
    lines = await client.cmd(f'a1 LOGIN {server.imap.user} "{server.imap.password}"')
    assert lines[-1].startswith(b"a1 OK"), lines
    for command in SCRIPT:
        lines += await client.cmd(command)
    return lines


@pytest.mark.parametrize("subprotocols", [("imap",), ("binary",)])  # ours, websockify's
async def test_same_bytes_over_websocket_as_over_tcp(
    ws_server: WsServer, subprotocols: tuple[str, ...]
) -> None:
    # Two rounds: the first session of each kind may see \Recent messages, the second sees none.
    for _ in range(2):
        async with ws_server.connect(subprotocols=subprotocols) as ws_client:
            ws_lines = await run_script(ws_client, ws_server)
        tcp_client = await ws_server.imap.connect()
        tcp_lines = await run_script(tcp_client, ws_server)
        await tcp_client.aclose()
    assert ws_lines == tcp_lines
    assert b"Subject: Second message\r\n" in b"".join(ws_lines)
    assert ws_lines[-1] == b"a8 OK LOGOUT completed.\r\n"


async def test_greeting_matches_tcp_without_starttls(ws_server: WsServer) -> None:
    tcp_client = await ws_server.imap.connect()
    await tcp_client.aclose()
    async with ws_server.connect() as client:
        assert client.greeting.startswith(b"* OK [CAPABILITY IMAP4rev1")
        assert b"STARTTLS" in tcp_client.greeting
        assert client.greeting == tcp_client.greeting.replace(b" STARTTLS", b"")


async def test_wss_greeting_equals_implicit_tls_greeting_and_login_works(ws_server: WsServer) -> None:
    tls_client = await ws_server.imap.connect(tls=True)
    await tls_client.aclose()
    async with ws_server.connect(secure=True) as client:
        assert client.greeting == tls_client.greeting
        lines = await client.cmd(f'a1 LOGIN {ws_server.imap.user} "{ws_server.imap.password}"')
        assert lines[-1].startswith(b"a1 OK"), lines


async def test_no_starttls_over_websocket(ws_server: WsServer) -> None:
    async with ws_server.connect() as client:
        lines = await client.cmd("c1 CAPABILITY")
        assert lines[0].startswith(b"* CAPABILITY IMAP4rev1"), lines
        assert b"STARTTLS" not in lines[0]
        assert b"LOGINDISABLED" not in lines[0]  # loopback: plaintext allowed, as over TCP
        lines = await client.cmd("c2 STARTTLS")
        assert lines[-1].startswith((b"c2 BAD", b"c2 NO")), lines


async def test_command_split_across_messages(ws_server: WsServer) -> None:
    async with ws_server.websocket() as ws:
        greeting = await ws.get_message()
        assert greeting.startswith(b"* OK")
        login = f'a1 LOGIN {ws_server.imap.user} "{ws_server.imap.password}"\r\n'.encode()
        for i in range(0, len(login), 3):
            await ws.send_message(login[i : i + 3])
        client = RawClient(WebSocketStream(ws))
        lines = await client.read_until_tagged("a1")
        assert lines[-1].startswith(b"a1 OK"), lines
        # A synchronizing literal: the announcement, the "+", then the data in two messages.
        await ws.send_message(b"a2 SELECT {5}\r\n")
        assert (await client.read_line()).startswith(b"+")
        await ws.send_message(b"IN")
        await ws.send_message(b"BOX\r\n")
        lines = await client.read_until_tagged("a2")
        assert b"* 3 EXISTS\r\n" in lines
        assert lines[-1].startswith(b"a2 OK [READ-WRITE]"), lines


async def test_several_commands_in_one_message(ws_server: WsServer) -> None:
    async with ws_server.connect() as client:
        await client.send_raw(
            f'b1 LOGIN {ws_server.imap.user} "{ws_server.imap.password}"\r\n'
            "b2 SELECT INBOX\r\nb3 FETCH 1:2 (FLAGS)\r\nb4 NOOP\r\n"
        )
        lines = await client.read_until_tagged("b4")
    tagged = [line.split(b" ", 2)[:2] for line in lines if not line.startswith(b"*")]
    assert tagged == [[b"b1", b"OK"], [b"b2", b"OK"], [b"b3", b"OK"], [b"b4", b"OK"]]
    assert b"* 1 FETCH (FLAGS (\\Seen))\r\n" in lines
    assert b"* 2 FETCH (FLAGS ())\r\n" in lines


async def test_text_messages_are_taken_as_utf8_bytes(ws_server: WsServer) -> None:
    async with ws_server.websocket() as ws:
        await ws.get_message()
        await ws.send_message("t1 NOOP\r\n")  # a str: sent as a text frame
        reply = await ws.get_message()
        assert reply == b"t1 OK NOOP completed.\r\n" or reply.startswith(b"t1 OK")
        assert isinstance(reply, bytes)  # the server always answers in binary messages


async def test_subprotocols(ws_server: WsServer) -> None:
    async with ws_server.websocket(subprotocols=("binary",)) as ws:
        assert ws.subprotocol == "binary"
        assert (await ws.get_message()).startswith(b"* OK")
    async with ws_server.websocket(subprotocols=("binary", "imap")) as ws:
        assert ws.subprotocol == "imap"  # ours preferred
    async with ws_server.websocket(subprotocols=()) as ws:
        assert ws.subprotocol is None
        assert (await ws.get_message()).startswith(b"* OK")
    with pytest.raises(ConnectionRejected) as info:
        async with ws_server.websocket(subprotocols=("base64",)):
            pass
    assert info.value.status_code == 400


@pytest.mark.parametrize(
    "origin",
    ["https://evil.example", "http://127.0.0.1", "null", "http://127.0.0.1.evil.example", "garbage"],
)
async def test_disallowed_origin_gets_403(ws_server: WsServer, origin: str) -> None:
    with pytest.raises(ConnectionRejected) as info:
        async with ws_server.websocket(origin=origin):
            pass
    assert info.value.status_code == 403


async def test_allowed_origins(ws_server: WsServer) -> None:
    port = ws_server.ws_port
    for origin in (TRUSTED_ORIGIN, f"http://127.0.0.1:{port}", f"http://localhost:{port}", None):
        async with ws_server.connect(origin=origin) as client:
            assert client.greeting.startswith(b"* OK"), origin
    # The wss listener's own page is an https one.
    async with ws_server.connect(secure=True, origin=f"https://localhost:{ws_server.wss_port}") as client:
        assert client.greeting.startswith(b"* OK")
    with pytest.raises(ConnectionRejected) as info:
        async with ws_server.websocket(secure=True, origin=f"http://localhost:{ws_server.wss_port}"):
            pass
    assert info.value.status_code == 403


@pytest.mark.parametrize("path", ["/", "/imap/", "/other", "/imapx"])
async def test_wrong_path_gets_404(ws_server: WsServer, path: str) -> None:
    with pytest.raises(ConnectionRejected) as info:
        async with ws_server.websocket(path=path):
            pass
    assert info.value.status_code == 404


async def test_query_string_is_not_part_of_the_path(ws_server: WsServer) -> None:
    async with ws_server.connect(path=WS_PATH + "?client=test") as client:
        assert client.greeting.startswith(b"* OK")


@pytest.mark.server_config(max_ws_message=4096)
async def test_oversize_message_closes_with_1009(ws_server: WsServer) -> None:
    async with ws_server.websocket() as ws:
        await ws.get_message()
        await ws.send_message(b"x1 NOOP\r\n")
        assert (await ws.get_message()).startswith(b"x1 OK")
        await ws.send_message(b"x2 NOOP " + b"x" * 4096 + b"\r\n")
        with pytest.raises(ConnectionClosed) as info:
            await ws.get_message()
        assert info.value.reason.code == 1009
    # The server goes on serving others.
    async with ws_server.connect() as client:
        assert client.greeting.startswith(b"* OK")


async def test_logout_closes_the_websocket_normally(ws_server: WsServer) -> None:
    async with ws_server.websocket() as ws:
        await ws.get_message()
        await ws.send_message(b"z1 LOGOUT\r\n")
        received = b""
        with pytest.raises(ConnectionClosed) as info:
            while True:
                received += await ws.get_message()
        assert received.startswith(b"* BYE")
        assert received.endswith(b"z1 OK LOGOUT completed.\r\n")
        assert info.value.reason.code == 1000


async def test_server_stream_receive_some_honours_max_bytes(ws_server: WsServer) -> None:
    async with ws_server.websocket() as ws:
        stream = WebSocketStream(ws)
        parts = [await stream.receive_some(7)]
        with trio.CancelScope() as scope:
            scope.cancel()
            await stream.receive_some(7)  # cancelled before it takes anything out of the buffer
        assert scope.cancelled_caught
        while not b"".join(parts).endswith(b"\r\n"):
            chunk = await stream.receive_some(7)
            assert 0 < len(chunk) <= 7
            parts.append(chunk)
        assert b"".join(parts).startswith(b"* OK [CAPABILITY IMAP4rev1")
        await ws.send_message(b"")  # an empty message is not end of stream
        await stream.send_all(b"e1 NOOP\r\n")
        assert (await stream.receive_some()).startswith(b"e1 OK")


async def _raw_http(server: WsServer, request: bytes) -> bytes:
    stream = await trio.open_tcp_stream(server.host, server.ws_port)
    async with stream:
        await stream.send_all(request)
        data = b""
        with trio.fail_after(15):
            while chunk := await stream.receive_some():
                data += chunk
    return data


async def test_plain_get_serves_the_test_page(ws_server: WsServer) -> None:
    response = await _raw_http(ws_server, b"GET /imap HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Content-Type: text/html; charset=utf-8" in head
    assert b'id="subjects"' in body
    assert f"Content-Length: {len(body)}".encode() in head


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"303"),
        (b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", b"404"),
        (b"POST /imap HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", b"405"),
        (b"GARBAGE\r\n\r\n", b"405"),
        # An upgrade wsproto refuses (no Sec-WebSocket-Key): its 400, then the connection closes.
        (
            b"GET /imap HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n",
            b"400",
        ),
    ],
)
async def test_plain_http_answers(ws_server: WsServer, request_bytes: bytes, status: bytes) -> None:
    response = await _raw_http(ws_server, request_bytes)
    assert response.startswith(b"HTTP/1.1 " + status + b" "), response[:200]


async def test_redirect_points_at_the_endpoint(ws_server: WsServer) -> None:
    response = await _raw_http(ws_server, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b"\r\nLocation: /imap\r\n" in response


async def test_oversized_request_head_gets_431(ws_server: WsServer) -> None:
    request = b"GET /imap HTTP/1.1\r\nX-Filler: " + b"a" * 20000 + b"\r\n\r\n"
    response = await _raw_http(ws_server, request)
    assert response.startswith(b"HTTP/1.1 431 ")


async def test_silent_client_is_dropped_after_the_handshake_timeout(
    ws_server: WsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from maildird.transports import websocket

    monkeypatch.setattr(websocket, "HANDSHAKE_TIMEOUT", 0.2)
    assert await _raw_http(ws_server, b"") == b""


@pytest.mark.server_config(unauth_idle=0.3)
async def test_autologout_applies_over_websocket(ws_server: WsServer) -> None:
    async with ws_server.websocket() as ws:
        assert (await ws.get_message()).startswith(b"* OK")
        # Silence: the session's autologout timer runs on WebSocketStream.receive_some as on TCP.
        assert await ws.get_message() == b"* BYE Autologout; idle for too long.\r\n"
        with pytest.raises(ConnectionClosed) as info:
            await ws.get_message()
        assert info.value.reason.code == 1000
