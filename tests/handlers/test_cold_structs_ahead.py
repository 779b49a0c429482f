"""``fetch_structs.StructPlan.send`` in several rounds, each round's rows looked up while the round
before is sent (``_Ahead``): the same octets as the general path, cold (rows computed), from the file
and from memory, in every mode; a message expunged by another session is skipped and reported in
whichever round it falls, as on the general path (RFC 9051 §6.4.5)."""

from __future__ import annotations

import pytest

from maildird.handlers import fetch_structs
from maildird.store.maildir import structcache
from tests.message.samples import ALTERNATIVE, MIXED, PLAIN

from .harness import Session
from .test_fetch_structs import COMMANDS, LETTERS, SETUPS, both, build, messages, open_store

ROUND = 4
"""``fetch_structs.STRUCT_BATCH`` here: the corpus of 36 messages is nine rounds."""


@pytest.fixture(autouse=True)
def small_rounds(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    monkeypatch.setattr(fetch_structs, "STRUCT_BATCH", ROUND)
    structcache.MEMORY.clear()
    looked: list[list[int]] = []
    real = fetch_structs._Ahead.__init__

    def counting(self: fetch_structs._Ahead, nursery: object, cache: object, uids: list[int]) -> None:
        looked.append(list(uids))
        real(self, nursery, cache, uids)  # type: ignore[arg-type]

    monkeypatch.setattr(fetch_structs._Ahead, "__init__", counting)
    return looked


@pytest.mark.parametrize("setup", SETUPS, ids=lambda s: s[0] if s else "plain")
async def test_rounds_looked_up_ahead_give_the_same_octets(
    monkeypatch: pytest.MonkeyPatch, tmp_path, setup: list[str], small_rounds: list[list[int]]
) -> None:
    build(tmp_path, new_every=7)
    s = Session(open_store(tmp_path))
    for n, line in enumerate([*setup, "SELECT INBOX"]):
        await s.cmd(f"s{n} {line}")
    count = len(messages())
    for n, command in enumerate(COMMANDS):
        if "MODSEQ" in command or "CHANGEDSINCE" in command:
            await s.cmd("m0 FETCH 1 (MODSEQ)")
        for round_ in ("cold", "file", "memory"):
            if round_ == "file":
                structcache.MEMORY.clear()
            fast, slow = await both(s, monkeypatch, f"c{n} {command}")
            assert fast == slow, (command, round_)
            if "1:*" in command and "CHANGEDSINCE" not in command:
                assert fast.count(b" FETCH (") == count, command
    # Every round after the first was looked up ahead, in order, for the UIDs of its messages.
    rounds = -(-count // ROUND)
    first_fetch = [list(range(1 + ROUND * k, 1 + min(ROUND * (k + 1), count))) for k in range(1, rounds)]
    assert small_rounds[: rounds - 1] == first_fetch


async def test_one_round_looks_nothing_up_ahead(
    monkeypatch: pytest.MonkeyPatch, tmp_path, small_rounds: list[list[int]]
) -> None:
    build(tmp_path)
    s = Session(open_store(tmp_path))
    await s.cmd("a0 SELECT INBOX")
    fast, slow = await both(s, monkeypatch, f"a1 FETCH 1:{ROUND} (ENVELOPE BODYSTRUCTURE)")
    assert fast == slow and fast.count(b" FETCH (") == ROUND
    assert small_rounds == []


@pytest.mark.parametrize("gone", [2, ROUND + 1, 2 * ROUND + 3])
async def test_a_message_expunged_meanwhile_is_skipped_in_its_round(
    monkeypatch: pytest.MonkeyPatch, tmp_path, gone: int
) -> None:
    raws = [PLAIN, ALTERNATIVE, MIXED] * ROUND  # three rounds
    build(tmp_path, raws)
    store = open_store(tmp_path)
    viewer, other = Session(store), Session(store)
    await viewer.cmd("a0 SELECT INBOX")
    await viewer.cmd("a1 FETCH 1:* (BODYSTRUCTURE)")  # rows for every message
    await other.cmd("b0 SELECT INBOX")
    await other.cmd(f"b1 STORE {gone} +FLAGS.SILENT (\\Deleted)")
    await other.cmd("b2 EXPUNGE")
    fast, slow = await both(viewer, monkeypatch, "a2 FETCH 1:* (ENVELOPE BODYSTRUCTURE)")
    assert fast == slow
    assert b"a2 NO [EXPUNGEISSUED]" in fast
    assert b"* %d FETCH (" % gone not in fast
    # build() marks every fifth message \\Deleted ("T"): the EXPUNGE takes those too.
    deleted = {n + 1 for n in range(len(raws)) if LETTERS[n % len(LETTERS)] == "T"} | {gone}
    assert fast.count(b" FETCH (") == len(raws) - len(deleted)
