"""The Dovecot passwd-file: parsing, validation, and the CLI-facing edit functions."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import argon2
import pytest

from maildird.config import MailConfig
from maildird.passwd import (
    UnknownUserError,
    UserExistsError,
    UsernameError,
    UsersFileError,
    add_user,
    delete_user,
    hash_password,
    list_users,
    load_users,
    set_password,
    validate_username,
)


def test_real_dovecot_style_hash_parses_and_verifies(
    tmp_path: Path, dovecot_hasher: argon2.PasswordHasher
) -> None:
    encoded = hash_password("s3cret", dovecot_hasher)
    assert encoded.startswith("{ARGON2ID}$argon2id$v=19$m=8,t=1,p=1$")
    path = tmp_path / "passwd"
    path.write_text(
        "# maildird users\n"
        "\n"
        f"alice:{encoded}:1000:1000:Alice Example:/home/alice:/bin/false:\n"
        f"bob:{encoded}\n"
        f"carol:{encoded}::::::mail=maildir:~/Mail:LAYOUT=fs quota_rule=*:storage=1G\n"
        f"dave:{encoded[len('{ARGON2ID}') :]}\n"
    )
    users = load_users(path)
    assert list(users) == ["alice", "bob", "carol", "dave"]
    alice = users["alice"]
    assert (alice.home, alice.line, alice.scheme, alice.maildir) == ("/home/alice", 3, "ARGON2ID", None)
    assert alice.password_hash == encoded[len("{ARGON2ID}") :]
    assert argon2.PasswordHasher().verify(alice.password_hash, "s3cret")
    assert "argon2" not in repr(alice)  # hashes stay out of logs and tracebacks
    carol = users["carol"]
    assert carol.extra == (("mail", "maildir:~/Mail:LAYOUT=fs"), ("quota_rule", "*:storage=1G"))
    assert carol.maildir == "~/Mail"
    mail = MailConfig(root=Path("/var/lib/maildird"))
    assert carol.resolve_maildir(mail) == Path("/var/lib/maildird/carol/Mail")
    assert alice.resolve_maildir(mail) == Path("/home/alice/Maildir")
    assert users["bob"].resolve_maildir(mail) == Path("/var/lib/maildird/bob/Maildir")
    assert users["dave"].scheme == "ARGON2ID"


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("eve:{PLAIN}secret", "{PLAIN} is not supported"),
        ("eve:{SHA512-CRYPT}$6$abc$def", "{SHA512-CRYPT} is not supported"),
        ("eve:$6$abc$def", "expected an argon2 hash"),
        ("eve:", "expected an argon2 hash"),
        ("eve", "expected an argon2 hash"),
        ("eve:{ARGON2ID}$argon2i$v=19$m=8,t=1,p=1$x$y", "expected an argon2 hash ($argon2id$"),
        ("e ve:{ARGON2ID}$argon2id$x", "contains ' '"),
        (".eve:{ARGON2ID}$argon2id$x", "must not start with '.'"),
        ("eve:{ARGON2ID}$argon2id$x:::::: mail=mdbox:~/mdbox", "mail= must be maildir:"),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path: Path, line: str, fragment: str) -> None:
    path = tmp_path / "passwd"
    path.write_text(f"# comment\n{line}\n")
    with pytest.raises(UsersFileError) as info:
        load_users(path)
    (problem,) = info.value.problems
    assert problem.startswith(f"{path}:2: ")
    assert fragment in problem


def test_duplicate_user_is_an_error(tmp_path: Path, hasher: argon2.PasswordHasher) -> None:
    path = tmp_path / "passwd"
    encoded = hash_password("x", hasher)
    path.write_text(f"a:{encoded}\nb:{encoded}\na:{encoded}\n")
    with pytest.raises(UsersFileError, match=r":3: user 'a' repeats line 1"):
        load_users(path)


def test_all_bad_lines_reported(tmp_path: Path) -> None:
    path = tmp_path / "passwd"
    path.write_text("a:{PLAIN}x\nb:{MD5}y\n")
    with pytest.raises(UsersFileError) as info:
        load_users(path)
    assert [p.split(": ")[0] for p in info.value.problems] == [f"{path}:1", f"{path}:2"]


@pytest.mark.parametrize(
    "name",
    [
        "",
        "a:b",
        "a b",
        "a\tb",
        "a\r\nrip=1.2.3.4",
        "a\x00",
        "a/b",
        "..",
        ".hidden",
        "#x",
        "a\u2028b",
        "x" * 256,
    ],
)
def test_invalid_usernames(name: str) -> None:
    with pytest.raises(UsernameError):
        validate_username(name)


@pytest.mark.parametrize("name", ["alice", "alice@example.org", "a.b-c_d+e", "jürgen", "x" * 255])
def test_valid_usernames(name: str) -> None:
    assert validate_username(name) == name


def test_add_passwd_del_list(tmp_path: Path, hasher: argon2.PasswordHasher) -> None:
    path = tmp_path / "sub" / "passwd"
    assert list_users(path) == []
    add_user(path, "alice", "pw1", hasher=hasher)
    add_user(path, "bob", "pw2", maildir=Path("/srv/bob/Maildir"), hasher=hasher)
    assert stat.S_IMODE(os.stat(path).st_mode) == (0o640 if os.geteuid() == 0 else 0o600)
    assert [u.name for u in list_users(path)] == ["alice", "bob"]
    bob = load_users(path)["bob"]
    assert bob.maildir == "/srv/bob/Maildir"
    assert path.read_text().splitlines()[1].startswith("bob:{ARGON2ID}$argon2id$v=19$m=64,t=1,p=2$")
    assert path.read_text().splitlines()[1].endswith("::::::mail=maildir:/srv/bob/Maildir")

    with pytest.raises(UserExistsError):
        add_user(path, "alice", "again", hasher=hasher)

    before = path.read_text().splitlines()
    set_password(path, "alice", "new", hasher=hasher)
    after = path.read_text().splitlines()
    assert after[1] == before[1]
    assert after[0] != before[0]
    assert hasher.verify(load_users(path)["alice"].password_hash, "new")

    with pytest.raises(UnknownUserError):
        set_password(path, "nobody", "x", hasher=hasher)
    delete_user(path, "alice")
    assert [u.name for u in list_users(path)] == ["bob"]
    with pytest.raises(UnknownUserError):
        delete_user(path, "alice")


def test_edits_keep_comments_mode_and_other_lines(tmp_path: Path, hasher: argon2.PasswordHasher) -> None:
    path = tmp_path / "passwd"
    encoded = hash_password("x", hasher)
    original = f"# header comment\nalice:{encoded}:::::: mail=maildir:/m/a\n\n# trailer\nbob:{encoded}"
    path.write_text(original)
    os.chmod(path, 0o640)
    add_user(path, "carol", "y", hasher=hasher)
    text = path.read_text()
    assert text.startswith(original + "\n")
    assert text.count("\n") == original.count("\n") + 2
    delete_user(path, "bob")
    assert path.read_text().splitlines()[:4] == original.splitlines()[:4]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_add_rejects_maildir_with_colon(tmp_path: Path, hasher: argon2.PasswordHasher) -> None:
    with pytest.raises(Exception, match="must not contain"):
        add_user(tmp_path / "p", "a", "x", maildir=Path("/a:b"), hasher=hasher)
