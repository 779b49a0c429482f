"""The differential harness's normaliser and comparison rules (sans-IO, table-driven)."""

from __future__ import annotations

import pytest

from tests.conformance.harness import command_mailbox, lines_agree
from tests.conformance.normalize import (
    Atom,
    NormState,
    modseq_problems,
    normalize_response,
    original_positions,
    parse_values,
)


@pytest.mark.parametrize(
    ("data", "values"),
    [
        (b'a "b c" {3}\r\nx\r\n (1 (2))', (Atom("a"), b"b c", b"x\r\n", (Atom("1"), (Atom("2"),)))),
        (b"BODY[HEADER.FIELDS (A B)]<0> NIL", (Atom("BODY[HEADER.FIELDS (A B)]<0>"), Atom("NIL"))),
        (b'"q\\"uo\\\\te"', (b'q"uo\\te',)),
        (b"~{2}\r\n\x00\x01", (b"\x00\x01",)),
    ],
)
def test_parse_values(data: bytes, values: tuple[object, ...]) -> None:
    assert parse_values(data) == values


@pytest.mark.parametrize(
    ("a", "b"),
    [
        # Order of untagged responses, free text, quoted versus literal, flag order, FETCH item order.
        (
            [b"* 2 EXISTS\r\n", b"* FLAGS (\\Seen \\Answered)\r\n", b"t OK [READ-WRITE] done\r\n"],
            [
                b"* FLAGS (\\Answered \\Seen)\r\n",
                b"* 2 EXISTS\r\n",
                b"t OK [READ-WRITE] Select completed.\r\n",
            ],
        ),
        (
            [b"* 1 FETCH (UID 4 BODY[] {2}\r\nhi)\r\n", b"t OK x\r\n"],
            [b'* 1 FETCH (BODY[] "hi" UID 4)\r\n', b"t OK y\r\n"],
        ),
        # Two FETCH responses for one message are merged; INBOX is case-insensitive; sets are canonical.
        (
            [b"* 1 FETCH (FLAGS ())\r\n", b"* 1 FETCH (UID 9)\r\n", b"* VANISHED 1,2,3\r\n"],
            [b"* 1 FETCH (UID 9 FLAGS ())\r\n", b"* VANISHED 1:3\r\n"],
        ),
        ([b'* STATUS "inbox" (UIDNEXT 2 MESSAGES 1)\r\n'], [b"* STATUS INBOX (MESSAGES 1 UIDNEXT 2)\r\n"]),
        # Expunging 2 and 3 out of 3: "3 then 2" and "2 then 2" say the same.
        ([b"* 3 EXPUNGE\r\n", b"* 2 EXPUNGE\r\n"], [b"* 2 EXPUNGE\r\n", b"* 2 EXPUNGE\r\n"]),
        ([b"* OK [HIGHESTMODSEQ 5] x\r\n"], [b"* OK [HIGHESTMODSEQ 987654] y\r\n"]),
    ],
)
def test_equivalent_answers_normalise_alike(a: list[bytes], b: list[bytes]) -> None:
    assert normalize_response(a, NormState()) == normalize_response(b, NormState())


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ([b"* 2 EXISTS\r\n"], [b"* 3 EXISTS\r\n"]),
        ([b"* 1 FETCH (FLAGS (\\Seen))\r\n"], [b"* 1 FETCH (FLAGS ())\r\n"]),
        ([b"* 1 FETCH (BODY[] {2}\r\nhi)\r\n"], [b"* 1 FETCH (BODY[] {2}\r\nho)\r\n"]),
        ([b"* 3 EXPUNGE\r\n", b"* 2 EXPUNGE\r\n"], [b"* 3 EXPUNGE\r\n", b"* 3 EXPUNGE\r\n"]),
        ([b"t OK [READ-ONLY] x\r\n"], [b"t OK [READ-WRITE] x\r\n"]),
        ([b"t OK x\r\n"], [b"t NO x\r\n"]),
    ],
)
def test_different_answers_stay_different(a: list[bytes], b: list[bytes]) -> None:
    assert normalize_response(a, NormState()) != normalize_response(b, NormState())


def test_uidvalidity_named_after_its_mailbox() -> None:
    state = NormState(context='"Work"')
    out = normalize_response([b"* OK [UIDVALIDITY 77] x\r\n", b"* STATUS Sent (UIDVALIDITY 12)\r\n"], state)
    assert out == ['* OK [UIDVALIDITY V("Work")]', '* STATUS "Sent" (UIDVALIDITY V("Sent"))']


@pytest.mark.parametrize(
    ("reference", "subject", "agree"),
    [
        ("t NO", "t NO [NONEXISTENT]", True),  # an RFC 5530 code maildird adds
        ("t NO [TRYCREATE]", "t NO [NONEXISTENT]", False),
        ("t NO [TRYCREATE]", "t NO", False),
        ('* LIST () "." "INBOX"', '* LIST (\\HasNoChildren) "." "INBOX"', True),
        ('* LIST (\\Sent) "." "Sent"', '* LIST (\\HasNoChildren \\Sent) "." "Sent"', True),
        ('* LIST () "." "Gone"', '* LIST (\\Noselect) "." "Gone"', False),
        ('* LSUB () "." "Gone"', '* LSUB (\\Noselect) "." "Gone"', True),
        ("* 1 FETCH (FLAGS (\\Seen) MODSEQ (M))", "* 1 FETCH (FLAGS (\\Seen) MODSEQ (M) UID 1)", True),
        ("* 1 FETCH (FLAGS (\\Seen) UID 1)", "* 1 FETCH (FLAGS (\\Seen))", False),
    ],
)
def test_lines_agree(reference: str, subject: str, agree: bool) -> None:
    assert lines_agree(reference, subject) is agree


def test_original_positions_of_an_expunge_run() -> None:
    assert original_positions([2, 2, 2]) == [2, 3, 4]
    assert original_positions([4, 2]) == [2, 4]
    assert original_positions([2, 3]) == [2, 4]


def test_modseq_problems_catch_zero_and_going_backwards() -> None:
    state = NormState(selected='"INBOX"')
    normalize_response([b"* OK [HIGHESTMODSEQ 10] x\r\n", b"* 1 FETCH (MODSEQ (12))\r\n"], state)
    normalize_response([b"t OK [HIGHESTMODSEQ 10] restated while an expunge is held back\r\n"], state)
    assert modseq_problems(state) == []
    normalize_response([b"* OK [HIGHESTMODSEQ 9] x\r\n", b"* 2 FETCH (MODSEQ (0))\r\n"], state)
    assert modseq_problems(state) == ['"INBOX": HIGHESTMODSEQ 9 after HIGHESTMODSEQ 10', '"INBOX": MODSEQ 0']


def test_command_mailbox() -> None:
    assert command_mailbox("a SELECT inbox") == '"INBOX"'
    assert command_mailbox("a UID MOVE 1:* Trash") == '"Trash"'
    assert command_mailbox('a APPEND "Caf&AOk-" {3}\r\nabc') == '"Caf&AOk-"'
    assert command_mailbox("a FETCH 1 FLAGS") is None
