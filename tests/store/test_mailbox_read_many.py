"""MaildirMailbox.read_messages: many files in one thread hop; header-only reads stop at the header."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from maildird.message.parse import ParsedMessage, header_block
from maildird.store.base import NewMessage
from maildird.store.maildir.mailbox import HEADER_READ_CHUNK
from tests.store.test_mailbox import open_inbox


def _message(header_len: int, body: bytes = b"body line\n" * 5000, nl: bytes = b"\n") -> bytes:
    filler = b"X-Filler: " + b"a" * max(0, header_len - 40) + nl
    return b"Subject: hello" + nl + filler + b"From: a@example.org" + nl + nl + body


@pytest.mark.parametrize("nl", [b"\n", b"\r\n"], ids=["LF", "CRLF"])
@pytest.mark.parametrize(
    "header_len",
    [100, HEADER_READ_CHUNK - 30, HEADER_READ_CHUNK - 1, HEADER_READ_CHUNK + 5, 3 * HEADER_READ_CHUNK],
)
async def test_header_only_reads_the_whole_header_and_little_else(
    tmp_path: Path, header_len: int, nl: bytes
) -> None:
    store, mb = await open_inbox(tmp_path)
    raw = _message(header_len, nl=nl)
    (uid,) = (await mb.append([NewMessage(raw)])).uids
    got = (await mb.read_messages([uid], header_only=True))[uid]
    stored = await mb.read_message(uid)
    assert got.startswith(header_block(stored))  # the blank line ending the header is included
    assert len(got) < len(stored)  # the 50 KB body was not read
    assert ParsedMessage.parse_header(got).data == ParsedMessage.parse_header(stored).data
    await store.close()


async def test_read_many_leaves_out_messages_gone_meanwhile(tmp_path: Path) -> None:
    store, mb = await open_inbox(tmp_path)
    uids = (await mb.append([NewMessage(_message(100, body=f"m{i}\n".encode())) for i in range(3)])).uids
    await mb.snapshot(claim_recent=True)
    victim = next(p for p in (tmp_path / "Maildir" / "cur").iterdir())
    os.unlink(victim)
    got = await mb.read_messages(list(uids))
    assert len(got) == 2 and set(got) < set(uids)
    for u in got:
        assert got[u] == await mb.read_message(u)
    await store.close()
