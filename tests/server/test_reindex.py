"""``maildird reindex``: the metadata cache is rebuilt from the Maildir, UIDs are untouched."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from maildird import auth
from tests.support.maildirs import make_maildir


def _setup(tmp_path: Path) -> tuple[Path, Path]:
    maildir = tmp_path / "Maildir"
    make_maildir(
        maildir,
        {
            "INBOX": [
                {"id": f"<m{i}@x>", "subject": f"m{i}", "flags": "S" if i % 2 else ""} for i in range(5)
            ],
            "Sent": [{"id": "<s@x>", "subject": "s"}],
            "Deep.Child": [{"id": "<d@x>", "subject": "d"}],
        },
    )
    users = tmp_path / "users"
    auth.add_user(
        users,
        "alice",
        "pw",
        maildir=maildir,
        hasher=auth.make_hasher(time_cost=1, memory_cost=8, parallelism=1),
    )
    config = tmp_path / "maildird.toml"
    config.write_text(
        f'[server]\nstate_dir = "{tmp_path / "state"}"\n'
        f'[[listen]]\naddress = "127.0.0.1"\nport = 1\ntls = "none"\n'
        f'[auth]\nusers_file = "{users}"\n[mail]\nroot = "{tmp_path}"\n'
    )
    return config, maildir


def _cached_rows(state: Path) -> int:
    total = 0
    for db in state.rglob("*.sqlite"):
        with sqlite3.connect(db) as conn:
            total += conn.execute("SELECT COUNT(*) FROM message").fetchone()[0]
    return total


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "maildird", *args], capture_output=True, text=True, timeout=60
    )


def test_reindex_rebuilds_every_selectable_mailbox(tmp_path: Path) -> None:
    config, maildir = _setup(tmp_path)
    uidlist_before = (
        (maildir / "dovecot-uidlist").read_bytes() if (maildir / "dovecot-uidlist").exists() else None
    )
    done = _run("reindex", "--config", str(config))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"alice: 3 mailboxes, 7 messages reindexed ({maildir})"
    state = tmp_path / "state" / "index" / "alice"
    assert _cached_rows(state) == 7
    uidlist = (maildir / "dovecot-uidlist").read_bytes()
    assert uidlist_before is None or uidlist.split(b"\n")[1:] == uidlist_before.split(b"\n")[1:]
    # A second run starts from nothing again and gives the same UIDs (they live in dovecot-uidlist).
    again = _run("reindex", "alice", "--config", str(config))
    assert again.returncode == 0, again.stderr
    assert (maildir / "dovecot-uidlist").read_bytes().split(b"\n")[1:] == uidlist.split(b"\n")[1:]
    assert _cached_rows(state) == 7


def test_reindex_of_an_unknown_user_is_a_usage_error(tmp_path: Path) -> None:
    config, _ = _setup(tmp_path)
    done = _run("reindex", "bob", "--config", str(config))
    assert done.returncode == 64
    assert "no such user" in done.stderr and "bob" in done.stderr
