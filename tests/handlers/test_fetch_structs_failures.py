"""A message list's ENVELOPE/BODYSTRUCTURE FETCH over several rounds (``fetch_structs``: each round's
rows looked up ahead by a task of the FETCH's nursery) fails as a one-round FETCH does: a client gone
mid-list is a closed connection (not an internal error with ``BYE [SERVERBUG]``), and a folder
removed from disk mid-session is a tagged NO then BYE (RFC 9051 §7.1.5), not an ExceptionGroup."""

from __future__ import annotations

import itertools
import logging
import shutil
import socket
import struct
from pathlib import Path

import pytest
import trio

from maildird.handlers import fetch_structs
from maildird.imap.errors import Bye
from maildird.store.maildir import structcache
from tests.handlers.harness import Session
from tests.handlers.test_fetch_structs import LETTERS, messages, open_store
from tests.support.maildirs import make_maildir

SPEC = {
    "INBOX": [
        {"id": f"<m{n}@example.org>", "flags": "S", "subject": f"Message {n} " + "x" * 200}
        for n in range(400)
    ]
}

ROUNDS = {"one round": 100_000, "many rounds": 4}


@pytest.mark.maildir(SPEC)
@pytest.mark.parametrize("batch", ROUNDS.values(), ids=ROUNDS.keys())
async def test_a_client_gone_mid_list_is_a_closed_connection(
    imap_server: object, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, batch: int
) -> None:
    monkeypatch.setattr(fetch_structs, "STRUCT_BATCH", batch)
    caplog.set_level(logging.DEBUG, logger="maildird")
    client = await imap_server.login()  # type: ignore[attr-defined]
    await client.cmd("s1 SELECT INBOX")
    await client.send_raw("f1 FETCH 1:* (ENVELOPE)\r\n")
    assert b" FETCH (ENVELOPE" in await client.read_line()
    raw = client.stream.socket
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # a reset, not a FIN
    raw.close()
    for _ in range(100):
        if any("connection closed" in r.getMessage() for r in caplog.records):
            break
        await trio.sleep(0.05)
    messages_logged = [r.getMessage() for r in caplog.records]
    assert not [m for m in messages_logged if "internal error" in m], messages_logged
    assert [m for m in messages_logged if "connection closed" in m]


@pytest.mark.parametrize("batch", ROUNDS.values(), ids=ROUNDS.keys())
async def test_a_folder_removed_mid_session_answers_no_then_bye(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch: int
) -> None:
    monkeypatch.setattr(fetch_structs, "STRUCT_BATCH", batch)
    structcache.MEMORY.clear()
    files = {
        f"cur/{1700000000 + n}.M{n}P1.host:2,{letters}": raw
        for n, (raw, letters) in enumerate(zip(messages(), itertools.cycle(LETTERS), strict=False))
    }
    root = make_maildir(
        tmp_path / "Maildir",
        {"INBOX": {"messages": [], "files": {}}, "Other": {"messages": [], "files": files}},
    )
    s = Session(open_store(tmp_path))
    assert b"a0 OK" in await s.cmd("a0 SELECT Other")
    (other,) = [p for p in root.iterdir() if p.name.endswith("Other")]
    shutil.rmtree(other)
    with pytest.raises(Bye, match="Selected mailbox was deleted"):  # not an ExceptionGroup around it
        await s.cmd("a1 FETCH 1:* (ENVELOPE)")
