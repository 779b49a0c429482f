"""MaildirMailbox.read_messages: many files in one thread hop; header-only reads stop at the header."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maildird.message.parse import ParsedMessage, header_block
from maildird.store.base import NewMessage
from maildird.store.maildir import mailbox
from maildird.store.maildir.mailbox import HEADER_READ_CHUNK, header_end
from maildird.store.maildir.sync import Entry
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
    assert got == header_block(stored)  # the blank line ending the header is included
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


def first_empty_line(data: bytes) -> bytes:
    """Reference: ``data`` up to and including its first line that is just LF or CRLF."""
    pos = 0
    while (nl := data.find(b"\n", pos)) >= 0:
        if data[pos : nl + 1] in (b"\n", b"\r\n"):
            return data[: nl + 1]
        pos = nl + 1
    return data


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=40) | st.lists(st.sampled_from([b"a", b"\n", b"\r", b"\r\n"])).map(b"".join))
def test_header_end_cuts_at_the_first_empty_line(data: bytes) -> None:
    end = header_end(data)
    assert (data if end < 0 else data[:end]) == first_empty_line(data)
    if b"\n\r\n\n" not in data:  # the one shape where message.parse.header_block cuts one octet later
        assert first_empty_line(data) == header_block(data)


@settings(max_examples=200, deadline=None)
@given(
    data=st.lists(st.sampled_from([b"ab", b"\n", b"\r", b"\r\n", b"x: y\n"]), max_size=30).map(b"".join),
    chunk=st.integers(min_value=1, max_value=7),
)
def test_reading_in_chunks_gives_the_header_block(data: bytes, chunk: int) -> None:
    """An empty line split over two reads is found (small chunks stand in for HEADER_READ_CHUNK)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m"
        path.write_bytes(data)
        saved = mailbox.HEADER_READ_CHUNK
        mailbox.HEADER_READ_CHUNK = chunk
        try:
            got = mailbox._read_header(path, Entry("m", False))
        finally:
            mailbox.HEADER_READ_CHUNK = saved
    assert got == first_empty_line(data)


async def test_a_batch_is_announced_to_the_kernel_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Several whole messages: every file gets POSIX_FADV_WILLNEED before the reads (one disk wait
    per batch when cold); a file gone meanwhile is only left out; a single read is not advised."""
    store, mb = await open_inbox(tmp_path)
    raws = [b"Subject: %d\n\nbody %d\n" % (i, i) for i in range(5)]
    uids = list((await mb.append([NewMessage(r) for r in raws])).uids)
    advised: list[int] = []
    real = os.posix_fadvise

    def spy(fd: int, offset: int, length: int, advice: int) -> None:
        assert (offset, length, advice) == (0, 0, os.POSIX_FADV_WILLNEED)
        advised.append(os.fstat(fd).st_size)
        real(fd, offset, length, advice)

    monkeypatch.setattr(os, "posix_fadvise", spy)
    gone = uids[2]
    for sub in ("new", "cur"):
        for p in (tmp_path / "Maildir" / sub).iterdir():
            if p.read_bytes() == raws[2]:
                p.unlink()
    got = await mb.read_messages(uids)
    assert got == {u: r for u, r in zip(uids, raws, strict=True) if u != gone}
    assert sorted(advised) == sorted(len(r) for i, r in enumerate(raws) if i != 2)
    advised.clear()
    assert await mb.read_messages(uids[:1]) == {uids[0]: raws[0]}
    assert advised == []
    await store.close()
