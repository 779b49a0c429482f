"""A real browser (Debian's chromium, headless) runs maildird/data/web/index.html against the server.

Chromium is driven through the DevTools protocol over trio-websocket: ``--remote-debugging-port=0``
makes it write the chosen port and the browser endpoint to ``<user-data-dir>/DevToolsActivePort``; we
attach to a new tab (``Target.attachToTarget`` with ``flatten``), navigate, fill in the form and submit
it with ``Runtime.evaluate``, wait until the page says it is done, then read the rendered folder list
and INBOX subjects from the DOM.

The page is loaded (1) from maildird's own WebSocket listener (a plain GET of the endpoint's path), so
its origin is the listener's own; (2) from a separate stdlib HTTP server on another loopback port whose
origin the listener allows; (3) from that server against a listener that does not allow it: the
browser's WebSocket is refused (403) and the page reports an error.

Skipped when chromium is missing, except on CI (CI=true), where it must be installed (.ci/run).
"""

from __future__ import annotations

import functools
import http.server
import itertools
import json
import os
import shutil
import subprocess
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
from trio_websocket import WebSocketConnection, open_websocket_url

from maildird.config import Listener
from maildird.transports.websocket import serve_websocket_listener
from maildird.transports.ws_http import page_bytes
from tests.websocket.conftest import WS_PATH, WsServer

CHROMIUM_NAMES = ("chromium", "chromium-browser")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",  # containers have a tiny /dev/shm
    "--remote-debugging-port=0",
)
# Upper bounds for waiting on the browser: generous, they only stop a hung test.
BROWSER_START_SECONDS = 60.0
PAGE_DONE_SECONDS = 60.0
POLL_SECONDS = 0.1
CDP_MAX_MESSAGE = 64 * 1024 * 1024

SUBJECT_SPEC: dict[str, Any] = {
    "INBOX": [
        {"id": "<m1@example.org>", "flags": "S", "subject": "First message"},
        {
            "id": "<m2@example.org>",
            "raw": b"From: a@example.org\nTo: b@example.org\nMessage-ID: <m2@example.org>\n"
            b"Subject: =?UTF-8?B?R3LDvMOfZQ==?=\n =?ISO-8859-1?Q?_aus_K=F6ln?=\n\nbody\n",
        },
        {"id": "<m3@example.org>", "flags": "FS", "subject": "Third {message} <b>not bold</b>"},
    ],
    "Sent": [{"id": "<s1@example.org>", "flags": "S", "subject": "Sent one"}],
    "Caf&AOk-": [],
}
BOB_PASSWORD = 'Grüße "aus" Köln\\'
EXPECTED_SUBJECTS = ["First message", "Grüße aus Köln", "Third {message} <b>not bold</b>"]


def chromium_path() -> str:
    for name in CHROMIUM_NAMES:
        if path := shutil.which(name):
            return path
    if os.environ.get("CI") == "true":
        pytest.fail("chromium is not installed; .ci/run must install Debian's chromium package")
    pytest.skip("chromium is not installed (apt-get install chromium)")


class Cdp:
    """A minimal Chrome DevTools Protocol client: one browser connection, flattened target sessions."""

    def __init__(self, ws: WebSocketConnection) -> None:
        self.ws = ws
        self._ids = itertools.count(1)

    async def call(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> Any:
        call_id = next(self._ids)
        message: dict[str, Any] = {"id": call_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        await self.ws.send_message(json.dumps(message))
        while True:  # events and other sessions' traffic are skipped: calls are sequential
            reply = json.loads(await self.ws.get_message())
            if reply.get("id") == call_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    async def evaluate(self, session: str, expression: str) -> Any:
        result = await self.call(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True}, session
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r}: {result['exceptionDetails']}")
        return result["result"].get("value")


@asynccontextmanager
async def chromium(tmp_path: Path) -> AsyncIterator[Cdp]:
    """Start headless chromium with an empty profile and connect to its DevTools endpoint."""
    executable = chromium_path()
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    log_path = tmp_path / "chromium.log"
    with log_path.open("wb") as log_file:
        process = await trio.lowlevel.open_process(
            [executable, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
        )
        try:
            port_file = profile / "DevToolsActivePort"
            with trio.move_on_after(BROWSER_START_SECONDS):
                while not port_file.exists() or len(port_file.read_text().splitlines()) < 2:
                    if process.poll() is not None:
                        break
                    await trio.sleep(POLL_SECONDS)
            if not port_file.exists():
                raise RuntimeError(f"chromium did not start: {log_path.read_text(errors='replace')[-3000:]}")
            port, path = port_file.read_text().splitlines()[:2]
            async with open_websocket_url(
                f"ws://127.0.0.1:{port}{path}", max_message_size=CDP_MAX_MESSAGE
            ) as ws:
                yield Cdp(ws)
        finally:
            process.terminate()
            with trio.move_on_after(10):
                await process.wait()
            if process.returncode is None:
                process.kill()
                await process.wait()


async def run_page(cdp: Cdp, url: str, user: str, password: str) -> dict[str, Any]:
    """Open ``url`` in a new tab, log in through the form, wait for the page to finish; DOM facts."""
    target = await cdp.call("Target.createTarget", {"url": "about:blank"})
    attached = await cdp.call("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})
    session = attached["sessionId"]
    await cdp.call("Page.enable", session=session)
    await cdp.call("Runtime.enable", session=session)
    navigated = await cdp.call("Page.navigate", {"url": url}, session)
    assert "errorText" not in navigated, navigated
    with trio.fail_after(PAGE_DONE_SECONDS):
        while await cdp.evaluate(session, "document.readyState") != "complete":
            await trio.sleep(POLL_SECONDS)
        await cdp.evaluate(
            session,
            f"document.getElementById('user').value = {json.dumps(user)};"
            f"document.getElementById('password').value = {json.dumps(password)};"
            "document.getElementById('login').requestSubmit(); true",
        )
        while await cdp.evaluate(session, "document.getElementById('status').dataset.state") not in (
            "done",
            "error",
        ):
            await trio.sleep(POLL_SECONDS)
    facts = await cdp.evaluate(
        session,
        "JSON.stringify({"
        "state: document.getElementById('status').dataset.state,"
        "status: document.getElementById('status').textContent,"
        "url: document.getElementById('url').value,"
        "folders: [...document.querySelectorAll('#folders li')].map(li => li.textContent),"
        "subjects: [...document.querySelectorAll('#subjects li')].map(li => li.textContent),"
        "bold: document.querySelectorAll('#subjects b').length,"
        "log: document.getElementById('log').textContent})",
    )
    await cdp.call("Target.closeTarget", {"targetId": target["targetId"]})
    result: dict[str, Any] = json.loads(facts)
    return result


@contextmanager
def static_page_server() -> Iterator[int]:
    """A stdlib HTTP server on 127.0.0.1 serving the test page at /index.html (another origin)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = page_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.maildir(SUBJECT_SPEC)
async def test_browser_lists_folders_and_inbox_subjects_from_the_served_page(
    ws_server: WsServer, tmp_path: Path
) -> None:
    from maildird import auth

    # A second user whose password the page must send as a synchronizing literal (8-bit, quotes).
    auth.add_user(
        ws_server.imap.config.auth.users_file,
        "bob",
        BOB_PASSWORD,
        maildir=ws_server.imap.maildir,
        hasher=auth.make_hasher(time_cost=1, memory_cost=8, parallelism=1),
    )
    async with chromium(tmp_path) as cdp:
        page = await run_page(cdp, ws_server.page_url(), ws_server.imap.user, ws_server.imap.password)
        bob = await run_page(cdp, ws_server.page_url(), "bob", BOB_PASSWORD)
        wrong = await run_page(cdp, ws_server.page_url(), "bob", "not the password")
    assert bob["state"] == "done", bob
    assert bob["subjects"] == EXPECTED_SUBJECTS
    assert "<literal, " in bob["log"]
    assert wrong["state"] == "error", wrong
    assert "AUTHENTICATIONFAILED" in wrong["status"]
    assert page["state"] == "done", page
    assert page["url"] == ws_server.url()  # the page derived its WebSocket URL from its own address
    assert page["subjects"] == EXPECTED_SUBJECTS
    assert page["bold"] == 0  # server text is text, never markup
    assert page["folders"] == ["INBOX", "Café", "Sent"]
    assert ws_server.imap.password not in page["log"]


@pytest.mark.maildir(SUBJECT_SPEC)
async def test_browser_page_from_another_allowed_origin(
    ws_server: WsServer, tmp_path: Path, nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="maildird.transports.websocket")
    with static_page_server() as http_port:
        # A listener that allows the static server's origin, wired like the fixture's.
        origin = f"http://127.0.0.1:{http_port}"
        (listener,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
        port = int(listener.socket.getsockname()[1])
        spec = Listener("127.0.0.1", 0, tls="none", kind="ws", path=WS_PATH)
        config = ws_server.imap.config
        serve = functools.partial(serve_websocket_listener, allowed_origins=(origin,))
        nursery.start_soon(
            serve, listener, spec, config, ws_server.extra["handle_stream"], ws_server.extra["tls_context"]
        )
        ws_url = f"ws://127.0.0.1:{port}{WS_PATH}"
        async with chromium(tmp_path) as cdp:
            allowed = await run_page(
                cdp, f"{origin}/index.html?ws={ws_url}", ws_server.imap.user, ws_server.imap.password
            )
            refused = await run_page(
                cdp, f"{origin}/index.html?ws={ws_server.url()}", ws_server.imap.user, ws_server.imap.password
            )
    assert allowed["state"] == "done", allowed
    assert allowed["subjects"] == EXPECTED_SUBJECTS
    # The fixture's listener does not allow this origin: the handshake gets 403, the page an error.
    assert refused["state"] == "error", refused
    assert refused["subjects"] == []
    assert "LOGIN" not in refused["log"]
    assert refused["status"].startswith("Error: cannot connect"), refused
    assert any("refused (403)" in r.getMessage() for r in caplog.records)
