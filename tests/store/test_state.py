"""The sidecar state: keyed by (guid, uidvalidity), clock-seeded modseqs, expunge log, pruning."""

from __future__ import annotations

from pathlib import Path

import pytest

from maildird.store.maildir import state as state_mod
from maildird.store.maildir.state import MailboxState, Record, next_modseq, now_modseq, state_path

GUID = "f0325c03304a0a6b4863000083ecc375"


def rec(uid: int, modseq: int, name: str | None = None) -> Record:
    base = f"17000000{uid:02d}.M1P1.host,S=10,W=12"
    return Record(uid, base, name or base + ":2,S", False, 12, 1_700_000_000 * 10**9, modseq)


def test_fresh_state_is_clock_seeded(tmp_path: Path) -> None:
    before = now_modseq()
    st = MailboxState(state_path(tmp_path, GUID))
    loaded = st.load(GUID, 42)
    assert loaded.fresh and loaded.records == {}
    assert loaded.highestmodseq >= before
    assert loaded.expunge_floor == loaded.highestmodseq


def test_records_survive_reopen(tmp_path: Path) -> None:
    path = state_path(tmp_path, GUID)
    st = MailboxState(path)
    top = st.load(GUID, 42).highestmodseq
    st.commit(upserts=[rec(1, top + 1), rec(2, top + 2)], highestmodseq=top + 2)
    st.close()
    st = MailboxState(path)
    loaded = st.load(GUID, 42)
    assert not loaded.fresh
    assert loaded.records == {1: rec(1, top + 1), 2: rec(2, top + 2)}
    assert loaded.highestmodseq == top + 2


def test_highestmodseq_never_lowered(tmp_path: Path) -> None:
    st = MailboxState(state_path(tmp_path, GUID))
    top = st.load(GUID, 1).highestmodseq
    st.commit(upserts=[rec(1, top + 5)], highestmodseq=top + 5)
    st.commit(upserts=[rec(2, top + 3)], highestmodseq=top + 3)
    assert st.load(GUID, 1).highestmodseq == top + 5


@pytest.mark.parametrize(("guid", "uidvalidity"), [(GUID, 43), ("00" * 16, 42)])
def test_other_incarnation_discards_but_stays_monotonic(tmp_path: Path, guid: str, uidvalidity: int) -> None:
    path = state_path(tmp_path, GUID)
    st = MailboxState(path)
    top = st.load(GUID, 42).highestmodseq
    far = top + 10**12  # a value beyond the clock, as if handed out by a clock running ahead
    st.commit(upserts=[rec(1, far)], expunged=[(7, far)], highestmodseq=far)
    loaded = st.load(guid, uidvalidity)
    assert loaded.fresh and loaded.records == {}
    assert loaded.highestmodseq > far
    assert st.expunged_since(far) is None  # the old history is gone with the old incarnation
    assert st.expunged_since(loaded.highestmodseq) == ()


def test_expunge_log_and_vanished(tmp_path: Path) -> None:
    st = MailboxState(state_path(tmp_path, GUID))
    top = st.load(GUID, 1).highestmodseq
    st.commit(upserts=[rec(1, top + 1), rec(2, top + 1), rec(3, top + 1)], highestmodseq=top + 1)
    st.commit(expunged=[(2, top + 2)], highestmodseq=top + 2)
    st.commit(expunged=[(3, top + 3)], highestmodseq=top + 3)
    assert st.expunged_since(top + 1) == (2, 3)
    assert st.expunged_since(top + 2) == (3,)
    assert st.expunged_since(top + 3) == ()
    assert st.expunged_since(top - 1) is None  # before the history began
    assert set(st.load(GUID, 1).records) == {1}


def test_expunge_log_pruning_raises_floor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state_mod, "EXPUNGE_LOG_LIMIT", 3)
    st = MailboxState(state_path(tmp_path, GUID))
    top = st.load(GUID, 1).highestmodseq
    for i in range(1, 6):
        st.commit(expunged=[(i, top + i)], highestmodseq=top + i)
    assert st.expunged_since(top + 2) == (3, 4, 5)
    assert st.expunged_since(top + 1) is None


def test_corrupt_sidecar_is_rebuilt(tmp_path: Path) -> None:
    path = state_path(tmp_path, GUID)
    path.write_bytes(b"this is not sqlite" * 100)
    st = MailboxState(path)
    assert st.load(GUID, 1).fresh


def test_next_modseq() -> None:
    before = now_modseq()
    assert next_modseq(10) >= before
    huge = now_modseq() + 10**9
    assert next_modseq(huge) == huge + 1


def test_state_path_sanitises(tmp_path: Path) -> None:
    assert state_path(tmp_path, "../AB/cd").name == "abcd.sqlite"
