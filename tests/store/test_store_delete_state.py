"""DELETE removes the mailbox's private files in the state directory (its sidecar and header cache,
named by the mailbox GUID); RENAME keeps them, since the GUID travels with the folder."""

from __future__ import annotations

from pathlib import Path

from maildird.store.base import NewMessage
from maildird.store.maildir.headercache import cache_path
from maildird.store.maildir.state import state_path
from maildird.store.maildir.store import MaildirStore
from maildird.store.maildir.uidlist import read_header
from maildird.store.registry import Registry

MESSAGE = b"From: a@example.org\nSubject: s\n\nbody\n"


def make_store(tmp_path: Path) -> MaildirStore:
    return MaildirStore(tmp_path / "Maildir", state_dir=tmp_path / "state", registry=Registry())


async def _fill(store: MaildirStore, name: str) -> tuple[Path, Path]:
    """Create ``name`` with a message, read its header (filling the header cache); return the state
    files named by its GUID."""
    await store.create(name)
    box = await store.open(name)
    res = await box.append([NewMessage(MESSAGE)])
    await box.snapshot()
    assert box.read_messages  # the Maildir store's batched reader
    got = await box.read_messages(list(res.uids), header_only=True)
    assert got == {res.uids[0]: b"From: a@example.org\nSubject: s\n\n"}
    await box.close()
    found = read_header(store.root / ("." + name))
    assert found is not None and found[0].guid
    sidecar = state_path(store.state_dir, found[0].guid)
    headers = cache_path(sidecar)
    assert headers is not None
    return sidecar, headers


async def test_delete_removes_sidecar_and_header_cache(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    sidecar, headers = await _fill(store, "Old")
    keep, keep_headers = await _fill(store, "Other")
    assert sidecar.exists() and headers.exists()
    await store.delete("Old")
    left = sorted(p.name for p in store.state_dir.iterdir())
    assert not [n for n in left if n.startswith(sidecar.stem)], left
    assert keep.exists() and keep_headers.exists()  # another mailbox's state is untouched


async def test_rename_keeps_state(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    sidecar, headers = await _fill(store, "Old")
    await store.rename("Old", "New")
    assert sidecar.exists() and headers.exists()
    found = read_header(store.root / ".New")
    assert found is not None and state_path(store.state_dir, found[0].guid or "") == sidecar
