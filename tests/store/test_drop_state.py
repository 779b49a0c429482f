"""DELETE removes every private file of the mailbox (RFC 9051 §6.3.5): the sidecar, its packed copy and
the derived caches with their SQLite side files, and nothing of any other mailbox."""

from __future__ import annotations

from pathlib import Path

from maildird.store.maildir.store import SQLITE_SIDE_FILES, drop_state

GUID = "0123456789abcdef0123456789abcdef"
OTHER = "fedcba9876543210fedcba9876543210"
SUFFIXES = (".sqlite", ".headers.db", ".sections.db", ".structs.db", ".search.db")


def make_files(state_dir: Path, guid: str) -> set[str]:
    names = {f"{guid}{suffix}{side}" for suffix in SUFFIXES for side in SQLITE_SIDE_FILES}
    names.add(f"{guid}.pack")
    for name in names:
        (state_dir / name).write_bytes(b"x")
    return names


def test_delete_removes_every_file_of_the_guid_and_only_those(tmp_path: Path) -> None:
    make_files(tmp_path, GUID)
    kept = make_files(tmp_path, OTHER)
    drop_state(tmp_path, GUID)
    assert {p.name for p in tmp_path.iterdir()} == kept


def test_missing_files_are_no_error(tmp_path: Path) -> None:
    (tmp_path / f"{GUID}.sqlite").write_bytes(b"x")
    drop_state(tmp_path, GUID)
    assert list(tmp_path.iterdir()) == []
