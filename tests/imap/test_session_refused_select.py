"""ON_REFUSED: a SELECT/EXAMINE the grammar refuses while a mailbox is selected deselects, as a
failed SELECT does (RFC 9051 §6.3.2; Dovecot closes it with ``* OK [CLOSED]``). The core flags it
(``deselect_owed``) and moves to "authenticated" when the tagged BAD is sent; any other refusal, or
one in another state, changes nothing. Real grammar, synchronous (the driver's half is tested in
tests/rfc/test_rfc9051_6_3_2_failed_select_closed.py)."""

from __future__ import annotations

import pytest

from maildird.imap.events import CommandReceived, Rejected
from maildird.imap.responses import Tagged
from maildird.imap.session import ServerConnection, State


def _selected() -> ServerConnection:
    conn = ServerConnection(preauth=True)
    conn.receive_data(b"s0 SELECT INBOX\r\n")
    assert isinstance(conn.next_event(), CommandReceived)
    conn.send(Tagged("s0", "OK", "selected"))
    assert conn.state is State.SELECTED
    return conn


@pytest.mark.parametrize(
    ("line", "deselects"),
    [
        (b"a1 SELECT INBOX (FOO)", True),
        (b"a1 select", True),
        (b"a1 EXAMINE INBOX (BAR 1)", True),
        (b"a1 FETCH x FLAGS", False),
        (b"a1 STATUS INBOX (FOO)", False),
        (b"a1 FROBNICATE", False),
    ],
)
def test_refused_select_deselects_when_its_bad_is_sent(line: bytes, deselects: bool) -> None:
    conn = _selected()
    conn.receive_data(line + b"\r\n")
    event = conn.next_event()
    assert isinstance(event, Rejected) and isinstance(event.response, Tagged)
    assert event.response.status == "BAD"
    assert conn.deselect_owed is deselects
    assert conn.state is State.SELECTED  # until the reply is sent
    conn.send(event.response)
    assert conn.state is (State.AUTHENTICATED if deselects else State.SELECTED)
    assert not conn.deselect_owed


def test_refused_select_when_nothing_is_selected_changes_nothing() -> None:
    conn = ServerConnection(preauth=True)
    conn.receive_data(b"a1 SELECT\r\n")
    event = conn.next_event()
    assert isinstance(event, Rejected) and not conn.deselect_owed
    conn.send(event.response)
    assert conn.state is State.AUTHENTICATED


def test_untagged_refusal_owes_nothing() -> None:
    conn = _selected()
    conn.receive_data(b"(SELECT INBOX\r\n")
    event = conn.next_event()
    assert isinstance(event, Rejected) and not isinstance(event.response, Tagged)
    assert not conn.deselect_owed
    conn.send(event.response)
    assert conn.state is State.SELECTED
