"""``parse.header_block``: the stored header ends at the FIRST empty line, LF or CRLF (RFC 5322 §2.1),
the same place the store's ``header_end`` (what the header cache keeps) and the full parser put it."""

from __future__ import annotations

import pytest

from maildird.imap.commands import Section
from maildird.message import body_section
from maildird.message.parse import ParsedMessage, header_block, to_crlf
from maildird.store.maildir.mailbox import header_end

CASES = [
    (b"A: b\n\nbody", b"A: b\n\n"),
    (b"A: b\r\n\r\nbody", b"A: b\r\n\r\n"),
    # A CRLF empty line right before an LF one: the header ends at the CRLF one.
    (b"A: b\n\r\n\nbody", b"A: b\n\r\n"),
    (b"A: b\nC: d\n\r\n\n\nx", b"A: b\nC: d\n\r\n"),
    (b"A: b\r\n\nbody", b"A: b\r\n\n"),
    (b"A: b\n\nx\r\n\r\ny", b"A: b\n\n"),
    (b"A: b\r\n\r\nx\n\ny", b"A: b\r\n\r\n"),
    (b"\nbody", b"\n"),
    (b"\r\nbody", b"\r\n"),
    (b"A: b\n", b"A: b\n"),
]


@pytest.mark.parametrize(("raw", "block"), CASES)
def test_header_block(raw: bytes, block: bytes) -> None:
    assert header_block(raw) == block
    end = header_end(raw)
    assert (raw if end < 0 else raw[:end]) == block


@pytest.mark.parametrize(("raw", "block"), [c for c in CASES if c[1] != c[0]])
def test_header_block_is_what_body_header_sends(raw: bytes, block: bytes) -> None:
    assert body_section(ParsedMessage.parse(raw), Section(text="HEADER")) == to_crlf(block)
