"""``maildird.server.serve`` itself opening ``ws``/``wss`` listeners from the configuration.

Skipped while server.py does not open WebSocket listeners yet (it logs "only imap/imaps listeners are
served so far"); the hook it needs is in the report of the "websocket" task.  Once it does, these tests
run the whole path: config -> listener -> TLS -> handshake -> ClientConnection.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio
from trio_websocket import ConnectionRejected, open_websocket_url

from maildird.transports.websocket import WebSocketStream
from tests.conftest import PASSWORD, USER
from tests.support.maildirs import make_maildir
from tests.support.rawclient import RawClient, client_context


async def start_server(tmp_path: Path, nursery: trio.Nursery, tls_files: Any) -> list[tuple[str, int]]:
    from maildird import auth
    from maildird.config import AuthConfig, Config, Listener, MailConfig, ServerConfig, TlsConfig
    from maildird.server import serve

    maildir = tmp_path / "Maildir"
    make_maildir(maildir, {"INBOX": [{"id": "<m1@example.org>", "subject": "Hello"}]})
    users = tmp_path / "users"
    hasher = auth.make_hasher(time_cost=1, memory_cost=8, parallelism=1)
    auth.add_user(users, USER, PASSWORD, maildir=maildir, hasher=hasher)
    _, cert, key = tls_files
    config = Config(
        server=ServerConfig(hostname="localhost", mode="virtual", state_dir=tmp_path / "state"),
        listeners=(
            Listener("127.0.0.1", 0, tls="none", kind="ws", path="/imap"),
            Listener("127.0.0.1", 0, tls="implicit", kind="ws", path="/imap"),
        ),
        tls=TlsConfig(certificate=cert, private_key=key),
        auth=AuthConfig(users_file=users, failure_delay=0.0),
        mail=MailConfig(root=tmp_path),
    )
    authenticator = auth.Authenticator(users, hasher=hasher)
    authenticator.load()

    async def run(task_status: trio.TaskStatus[list[tuple[str, int]]] = trio.TASK_STATUS_IGNORED) -> None:
        await serve(config, authenticator=authenticator, handle_signals=False, task_status=task_status)

    addresses: list[tuple[str, int]] = await nursery.start(run)
    assert len(addresses) == 2, addresses
    return addresses


async def test_serve_answers_imap_over_ws_and_wss(
    tmp_path: Path, nursery: trio.Nursery, tls_files: Any
) -> None:
    (host, ws_port), (_, wss_port) = await start_server(tmp_path, nursery, tls_files)
    ca = tls_files[0]
    for url, ssl_context in (
        (f"ws://{host}:{ws_port}/imap", None),
        (f"wss://{host}:{wss_port}/imap", client_context(ca)),
    ):
        async with open_websocket_url(url, ssl_context=ssl_context, subprotocols=["imap"]) as ws:
            client = RawClient(WebSocketStream(ws))
            client.greeting = await client.read_line()
            assert client.greeting.startswith(b"* OK [CAPABILITY IMAP4rev1"), url
            assert b"STARTTLS" not in client.greeting
            lines = await client.cmd(f'a1 LOGIN {USER} "{PASSWORD}"')
            assert lines[-1].startswith(b"a1 OK"), lines
            lines = await client.cmd("a2 EXAMINE INBOX")
            assert lines[-1].startswith(b"a2 OK"), lines
            lines = await client.cmd("a3 FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            assert b"Subject: Hello\r\n" in b"".join(lines)


async def test_serve_refuses_foreign_origins(tmp_path: Path, nursery: trio.Nursery, tls_files: Any) -> None:
    (host, ws_port), _ = await start_server(tmp_path, nursery, tls_files)
    with pytest.raises(ConnectionRejected) as info:
        async with open_websocket_url(
            f"ws://{host}:{ws_port}/imap", extra_headers=[(b"Origin", b"https://evil.example")]
        ):
            pass
    assert info.value.status_code == 403
