"""`maildird user add|passwd|del|list` and `hash-password`, run as real subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import argon2

from maildird.passwd import load_users


def run(*args: str, stdin: str = "", cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.run(
        [sys.executable, "-m", "maildird", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
    )


def test_user_lifecycle(tmp_path: Path) -> None:
    users = tmp_path / "passwd"
    r = run("user", "add", "alice", "--users", str(users), "--password-stdin", stdin="s3cret\n")
    assert r.returncode == 0, r.stderr
    record = load_users(users)["alice"]
    assert argon2.PasswordHasher().verify(record.password_hash, "s3cret")
    # Production parameters are used by the CLI (operations.md §3).
    assert "$m=65536,t=3,p=4$" in record.password_hash

    bob_dir = str(tmp_path / "bob")
    r = run(
        "user", "add", "bob", "--users", str(users), "--maildir", bob_dir, "--password-stdin", stdin="pw2\n"
    )
    assert r.returncode == 0, r.stderr
    assert load_users(users)["bob"].maildir == str(tmp_path / "bob")

    r = run("user", "add", "alice", "--users", str(users), "--password-stdin", stdin="other\n")
    assert r.returncode == 1
    assert "already exists" in r.stderr

    r = run("user", "list", "--users", str(users))
    assert r.returncode == 0
    assert r.stdout.splitlines() == ["alice\t/var/lib/maildird/alice/Maildir", f"bob\t{tmp_path / 'bob'}"]

    r = run("user", "passwd", "alice", "--users", str(users), "--password-stdin", stdin="n3w\n")
    assert r.returncode == 0, r.stderr
    assert argon2.PasswordHasher().verify(load_users(users)["alice"].password_hash, "n3w")
    assert load_users(users)["bob"].line == 2

    r = run("user", "passwd", "carol", "--users", str(users), "--password-stdin", stdin="x\n")
    assert r.returncode == 1
    assert "no user 'carol'" in r.stderr

    r = run("user", "del", "alice", "--users", str(users))
    assert r.returncode == 0
    assert list(load_users(users)) == ["bob"]
    r = run("user", "del", "alice", "--users", str(users))
    assert r.returncode == 1


def test_user_usage_errors(tmp_path: Path) -> None:
    users = tmp_path / "passwd"
    r = run("user", "add", "bad:name", "--users", str(users), "--password-stdin", stdin="x\n")
    assert r.returncode == 64
    assert "contains ':'" in r.stderr
    r = run("user", "add", "alice", "--users", str(users), "--password-stdin", stdin="\n")
    assert r.returncode == 64
    assert "empty password" in r.stderr
    assert not users.exists() or "alice" not in users.read_text()
    r = run("user", "frobnicate")
    assert r.returncode == 64
    r = run("user")
    assert r.returncode == 64


def test_bad_users_file_is_a_config_error(tmp_path: Path) -> None:
    users = tmp_path / "passwd"
    users.write_text("alice:{PLAIN}secret\n")
    r = run("user", "list", "--users", str(users))
    assert r.returncode == 78
    assert f"{users}:1: user 'alice': password scheme {{PLAIN}} is not supported" in r.stderr


def test_hash_password_reads_stdin() -> None:
    r = run("hash-password", stdin="correct horse\n")
    assert r.returncode == 0, r.stderr
    line = r.stdout.strip()
    assert line.startswith("{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=4$")
    assert argon2.PasswordHasher().verify(line.removeprefix("{ARGON2ID}"), "correct horse")


def test_users_file_from_config(tmp_path: Path) -> None:
    users = tmp_path / "users"
    config = tmp_path / "maildird.toml"
    config.write_text(
        f'[auth]\nusers_file = "{users}"\n[mail]\nmaildir = "/srv/mail/%u"\n'
        '[[listen]]\naddress = "127.0.0.1"\nport = 1430\ntls = "none"\n'
    )
    r = run("user", "add", "dora", "--config", str(config), "--password-stdin", stdin="pw\n")
    assert r.returncode == 0, r.stderr
    r = run("user", "list", "--config", str(config))
    assert r.stdout == "dora\t/srv/mail/dora\n"
