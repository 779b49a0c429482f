"""FETCH ENVELOPE/BODYSTRUCTURE of a message with thousands of MIME parts and addresses: the values are
built in a worker thread (handlers.fetch_render.structures) after the event-loop walk gives up at
STRUCTURE_IN_THREAD, and the octets are the same as a direct build (RFC 9051 §7.5.2)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from maildird.handlers import fetch
from maildird.imap.responses import serialize_value
from maildird.message.bodystructure import bodystructure
from maildird.message.envelope import envelope
from maildird.message.parse import ParsedMessage
from tests.conftest import RunningServer

PARTS = 3000


def big() -> bytes:
    parts = [b"--b\r\nContent-Type: text/plain\r\n\r\nx%d\r\n" % i for i in range(PARTS)]
    to = b", ".join(b"<u%d@example.org>" % i for i in range(PARTS))
    return (
        b"From: a@example.org\r\nTo: " + to + b"\r\nSubject: big\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + b"".join(parts) + b"--b--\r\n"
    )


async def _fetch_big(imap_server: RunningServer) -> None:
    raw = big()
    c = await imap_server.login()
    lines = await c.cmd(b"a1 APPEND INBOX {%d}\r\n" % len(raw) + raw)
    assert lines[-1].startswith(b"a1 OK"), lines
    await c.cmd("a2 SELECT INBOX")
    lines = await c.cmd("a3 UID FETCH * (ENVELOPE BODYSTRUCTURE BODY)")
    wire = b"".join(lines)
    msg = ParsedMessage.parse(raw)
    assert b"ENVELOPE " + serialize_value(envelope(msg)) in wire
    assert b"BODYSTRUCTURE " + serialize_value(bodystructure(msg)) in wire
    assert b"BODY " + serialize_value(bodystructure(msg, extensible=False)) in wire
    assert lines[-1] == b"a3 OK UID FETCH completed.\r\n"


async def test_big_structure_same_octets_over_the_wire(imap_server: RunningServer) -> None:
    await _fetch_big(imap_server)


async def test_big_structure_is_built_in_a_thread(
    imap_server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real: Callable[..., Any] = fetch.structures

    def spy(msg: ParsedMessage, items: Any) -> Any:
        calls.append(1)
        return real(msg, items)

    monkeypatch.setattr(fetch, "structures", spy)
    # The general path (the structure cache's path, fetch_structs, computes every row in a thread).
    monkeypatch.setattr(fetch, "plan_for", lambda items, mailbox: None)
    await _fetch_big(imap_server)
    assert calls == [1]
