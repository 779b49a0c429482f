"""Authenticator: verify, the dummy-hash path for unknown users, reload on change, rehash on login."""

from __future__ import annotations

import os
from pathlib import Path

import argon2
import trio
import trio.testing

from maildird.auth import Authenticator
from maildird.passwd import add_user, hash_password, load_users


class CountingAuthenticator(Authenticator):
    """Records every hash the password was checked against, and in which thread."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.checked: list[str] = []
        self.in_main_thread: list[bool] = []

    def check(self, encoded: str, password: str) -> bool:
        import threading

        self.checked.append(encoded)
        self.in_main_thread.append(threading.current_thread() is threading.main_thread())
        return super().check(encoded, password)


def users(tmp_path: Path, hasher: argon2.PasswordHasher) -> Path:
    path = tmp_path / "passwd"
    add_user(path, "alice", "correct horse", hasher=hasher)
    add_user(path, "bob", "battery staple", maildir=Path("/srv/bob"), hasher=hasher)
    return path


async def test_verify_success_and_failure(tmp_path: Path, hasher: argon2.PasswordHasher) -> None:
    auth = CountingAuthenticator(users(tmp_path, hasher), hasher=hasher)
    record = await auth.verify("alice", "correct horse")
    assert record is not None and record.name == "alice"
    assert await auth.verify("alice", "wrong") is None
    assert await auth.verify("alice", b"correct horse") is not None
    bob = await auth.verify("bob", "battery staple")
    assert bob is not None and bob.maildir == "/srv/bob"
    assert await auth.verify("bob", "correct horse") is None
    assert len(auth.checked) == 5
    assert auth.in_main_thread == [False] * 5  # argon2 ran in worker threads


async def test_unknown_user_goes_through_dummy_hash(tmp_path: Path, hasher: argon2.PasswordHasher) -> None:
    auth = CountingAuthenticator(users(tmp_path, hasher), hasher=hasher)
    assert await auth.verify("mallory", "correct horse") is None
    assert await auth.verify("alice\r\nrip=1.2.3.4", "x") is None  # invalid names too
    assert await auth.verify("nobody", "y" * 10_000) is None
    dummy = auth.dummy_hash
    assert auth.checked == [dummy, dummy, dummy]
    # Same parameters as real hashes, so the work is the same.
    real = load_users(auth.users_file)["alice"].password_hash
    assert dummy.split("$")[3] == real.split("$")[3]
    assert dummy != real


async def test_verifies_are_bounded_by_the_limiter(tmp_path: Path, hasher: argon2.PasswordHasher) -> None:
    limiter = trio.CapacityLimiter(1)
    auth = Authenticator(users(tmp_path, hasher), hasher=hasher, limiter=limiter)
    async with trio.open_nursery() as nursery, limiter:  # hold the only token: verifies must wait for it
        nursery.start_soon(auth.verify, "alice", "correct horse")
        nursery.start_soon(auth.verify, "mallory", "x")
        await trio.testing.wait_all_tasks_blocked()
        assert limiter.statistics().tasks_waiting == 2
    assert limiter.statistics().borrowed_tokens == 0


async def test_reload_when_file_changes(tmp_path: Path, hasher: argon2.PasswordHasher) -> None:
    path = users(tmp_path, hasher)
    auth = Authenticator(path, hasher=hasher)
    auth.load()
    assert await auth.verify("carol", "pw") is None
    add_user(path, "carol", "pw", hasher=hasher)
    assert await auth.verify("carol", "pw") is not None


async def test_bad_reload_keeps_previous_users(tmp_path: Path, hasher: argon2.PasswordHasher) -> None:
    path = users(tmp_path, hasher)
    auth = Authenticator(path, hasher=hasher)
    auth.load()
    path.write_text(path.read_text() + "eve:{PLAIN}secret\n")
    assert await auth.verify("alice", "correct horse") is not None
    assert await auth.verify("eve", "secret") is None


async def test_rehash_rewrites_only_that_line(
    tmp_path: Path, hasher: argon2.PasswordHasher, dovecot_hasher: argon2.PasswordHasher
) -> None:
    path = tmp_path / "passwd"
    old = hash_password("pw", dovecot_hasher)  # p=1: needs rehash under our p=2 test parameters
    other = hash_password("other", dovecot_hasher)
    original = f"# users\nalice:{old}:::::/home/alice::mail=maildir:/m/alice\nbob:{other}\n"
    path.write_text(original)
    os.chmod(path, 0o600)
    auth = Authenticator(path, hasher=hasher)
    assert hasher.check_needs_rehash(old[len("{ARGON2ID}") :])

    assert await auth.verify("alice", "pw") is not None
    lines = path.read_text().splitlines()
    assert lines[0] == "# users"
    assert lines[2] == f"bob:{other}"
    assert lines[1].startswith("alice:{ARGON2ID}$argon2id$v=19$m=64,t=1,p=2$")
    assert lines[1].endswith(":::::/home/alice::mail=maildir:/m/alice")
    assert os.stat(path).st_mode & 0o777 == 0o600
    # The new hash works and needs no further rehash; bob is untouched.
    assert await auth.verify("alice", "pw") is not None
    assert path.read_text().splitlines()[1] == lines[1]
    assert await auth.verify("bob", "other") is not None


async def test_rehash_failure_does_not_fail_login(
    tmp_path: Path, hasher: argon2.PasswordHasher, dovecot_hasher: argon2.PasswordHasher
) -> None:
    directory = tmp_path / "ro"
    directory.mkdir()
    path = directory / "passwd"
    path.write_text(f"alice:{hash_password('pw', dovecot_hasher)}\n")
    before = path.read_text()
    directory.chmod(0o500)  # no temporary file can be created here
    try:
        auth = Authenticator(path, hasher=hasher)
        assert await auth.verify("alice", "pw") is not None
        if os.geteuid() != 0:  # root ignores directory permissions
            assert path.read_text() == before
    finally:
        directory.chmod(0o700)
