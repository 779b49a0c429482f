"""The users file: a Dovecot passwd-file, parsed, loaded and edited in place.

Theory of operation
-------------------
Users live in a Dovecot passwd-file (operations.md §3, Dovecot wiki AuthDatabase.PasswdFile)::

    user:{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=4$...:uid:gid:gecos:home:shell:extra_fields

Only the first two fields are required; uid and gid are ignored (one process serves every Maildir);
``home`` feeds the ``%h`` of ``[mail] maildir``; ``extra_fields`` are space-separated ``key=value`` pairs,
of which ``mail=maildir:PATH`` (or ``userdb_mail=``) gives one user their own Maildir.  Everything after the
seventh ``:`` is extra fields, because ``mail=maildir:~/Maildir:LAYOUT=fs`` contains colons.  Only the
argon2 schemes are accepted (``{ARGON2ID}``, ``{ARGON2I}`` or a bare ``$argon2id$...``): anything else is
refused with the file and line, never silently skipped, so ``doveadm pw -s ARGON2ID`` output moves between
Dovecot and maildird in both directions.  The hashing parameters live here too, because the password
field's format is the file's: :func:`add_user` and :func:`set_password` write it.

Every rewrite holds ``flock`` on the file, writes a temporary file in the same directory, fsyncs it and
``os.replace``s the original, keeping its mode and owner, then fsyncs the directory.  Lines it does not
change are kept byte for byte, comments included.

Checking passwords against this file is :class:`maildird.auth.Authenticator`'s job.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import argon2

from maildird.config import MailConfig
from maildird.logging_setup import safe

__all__ = [
    "ARGON2_PARAMETERS",
    "AuthError",
    "UnknownUserError",
    "UserExistsError",
    "UserRecord",
    "UsernameError",
    "UsersFileError",
    "add_user",
    "delete_user",
    "hash_password",
    "list_users",
    "load_users",
    "make_hasher",
    "parse_line",
    "parse_users",
    "set_encoded",
    "set_password",
    "validate_username",
]

#: operations.md §3: always pass the parameters (Debian's argon2-cffi 21.1 has other defaults).
#: RFC 9106 §4 "second recommended option": Argon2id, t=3, m=64 MiB, p=4, 16-byte salt, 32-byte tag.
ARGON2_PARAMETERS = {"time_cost": 3, "memory_cost": 65536, "parallelism": 4, "hash_len": 32, "salt_len": 16}
#: Longest user name accepted; Dovecot's auth protocol caps a user name at 255 octets too.
MAX_USERNAME = 255
#: Mode of a users file maildird creates: root-owned system files are read by group maildird.
NEW_FILE_MODE_ROOT = 0o640
NEW_FILE_MODE_USER = 0o600

_SCHEMES = {"ARGON2ID": "$argon2id$", "ARGON2I": "$argon2i$"}
_FIELDS = 7  # user:password:uid:gid:gecos:home:shell, then extra fields


class AuthError(Exception):
    """Base of this module's errors."""


class UsersFileError(AuthError):
    """The users file cannot be used; ``problems`` holds one ``file:line: message`` per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class UsernameError(AuthError, ValueError):
    pass


class UserExistsError(AuthError):
    pass


class UnknownUserError(AuthError):
    pass


def validate_username(name: str) -> str:
    """Return ``name`` if it can be a user: it becomes a path component (``%u``) and a passwd-file field,
    so no ':', '/', whitespace, control characters or leading '.', and at most MAX_USERNAME octets."""
    if not name:
        raise UsernameError("user name is empty")
    if len(name.encode("utf-8", "surrogatepass")) > MAX_USERNAME:
        raise UsernameError(f"user name longer than {MAX_USERNAME} octets")
    for ch in name:
        if ch in ":/\\" or ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            raise UsernameError(f"user name {safe(name)!r} contains {safe(ch)!r}; use letters, digits, .-_@+")
    if name.startswith(".") or name.startswith("#"):
        raise UsernameError(f"user name {safe(name)!r} must not start with '.' or '#'")
    return name


def make_hasher(**overrides: int) -> argon2.PasswordHasher:
    """The production hasher, or one with some parameters overridden (tests use tiny ones)."""
    p = {**ARGON2_PARAMETERS, **overrides}
    return argon2.PasswordHasher(
        time_cost=p["time_cost"],
        memory_cost=p["memory_cost"],
        parallelism=p["parallelism"],
        hash_len=p["hash_len"],
        salt_len=p["salt_len"],
        type=argon2.Type.ID,
    )


def hash_password(password: str, hasher: argon2.PasswordHasher | None = None) -> str:
    """``{ARGON2ID}$argon2id$...``, the form ``doveadm pw -s ARGON2ID`` prints."""
    return "{ARGON2ID}" + (hasher or make_hasher()).hash(password)


@dataclass(frozen=True, slots=True)
class UserRecord:
    name: str
    password_hash: str = field(repr=False)  # the argon2 encoded hash, without the {SCHEME} prefix
    scheme: str = "ARGON2ID"
    home: str = ""
    extra: tuple[tuple[str, str], ...] = ()
    line: int = 0

    @property
    def maildir(self) -> str | None:
        """The ``mail=maildir:PATH`` extra field's PATH (``~`` and ``%h`` still unexpanded), if any."""
        for key, value in self.extra:
            if key in ("mail", "userdb_mail"):
                path = value.removeprefix("maildir:")
                return path.split(":", 1)[0]
        return None

    def resolve_maildir(self, mail: MailConfig) -> Path:
        """This user's Maildir: the extra field if set, else the ``[mail] maildir`` template."""
        own = self.maildir
        if own is None:
            return mail.maildir_for(self.name, self.home or None)
        return MailConfig(root=mail.root, maildir=own).maildir_for(self.name, self.home or None)


def _split(line: str) -> list[str]:
    fields = line.split(":", _FIELDS)
    return fields + [""] * (_FIELDS + 1 - len(fields))


def parse_line(path: Path, number: int, line: str) -> UserRecord | None:
    """One line of the users file, or None for blanks and comments.  Raises UsersFileError."""
    text = line.rstrip("\r\n")
    if not text.strip() or text.lstrip().startswith("#"):
        return None
    name, password, _uid, _gid, _gecos, home, _shell, extra_text = _split(text)
    where = f"{path}:{number}"
    try:
        validate_username(name)
    except UsernameError as exc:
        raise UsersFileError([f"{where}: {exc}"])
    scheme = "ARGON2ID"
    if password.startswith("{"):
        scheme, brace, password = password[1:].partition("}")
        scheme = scheme.upper()
        if not brace or scheme not in _SCHEMES:
            raise UsersFileError(
                [
                    f"{where}: user {name!r}: password scheme {{{safe(scheme)}}} is not supported; only "
                    "{ARGON2ID} and {ARGON2I}. Set a new one with `maildird user passwd "
                    f"{name}` or `doveadm pw -s ARGON2ID`"
                ]
            )
    elif password.startswith("$argon2i$"):
        scheme = "ARGON2I"
    if not password.startswith(_SCHEMES[scheme]):
        raise UsersFileError(
            [f"{where}: user {name!r}: expected an argon2 hash ({_SCHEMES[scheme]}...) in the password field"]
        )
    extra: list[tuple[str, str]] = []
    for item in extra_text.split():
        key, eq, value = item.partition("=")
        extra.append((key, value if eq else ""))
        if key in ("mail", "userdb_mail") and not (value.startswith(("maildir:", "/", "~", "%h"))):
            raise UsersFileError([f"{where}: user {name!r}: {key}= must be maildir:/absolute/path"])
    return UserRecord(name, password, scheme, home, tuple(extra), number)


def parse_users(path: Path, text: str) -> dict[str, UserRecord]:
    """All records, or UsersFileError listing every bad line (and duplicates)."""
    users: dict[str, UserRecord] = {}
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            record = parse_line(path, number, line)
        except UsersFileError as exc:
            problems.extend(exc.problems)
            continue
        if record is None:
            continue
        if record.name in users:
            problems.append(f"{path}:{number}: user {record.name!r} repeats line {users[record.name].line}")
        users[record.name] = record
    if problems:
        raise UsersFileError(problems)
    return users


def load_users(path: Path) -> dict[str, UserRecord]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsersFileError([f"{path}: cannot read the users file: {exc}"])
    return parse_users(path, text)


def list_users(path: Path) -> list[UserRecord]:
    """Users in file order; a missing file has none."""
    if not path.exists():
        return []
    return sorted(load_users(path).values(), key=lambda r: r.line)


@contextlib.contextmanager
def _locked(path: Path, create: bool) -> Iterator[str]:
    """flock the users file (re-opening it if a concurrent writer replaced it) and yield its text."""
    while True:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            if not create:
                raise
            mode = NEW_FILE_MODE_ROOT if os.geteuid() == 0 else NEW_FILE_MODE_USER
            path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode))
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                with os.fdopen(os.dup(fd), encoding="utf-8") as f:
                    yield f.read()
                return
        finally:
            os.close(fd)  # also releases the lock


def _write_replace(path: Path, text: str) -> None:
    """Atomically replace ``path`` with ``text``, keeping mode and (if we may) owner and group."""
    st = os.stat(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, st.st_mode & 0o7777)
        with contextlib.suppress(PermissionError):
            os.fchown(fd, st.st_uid, st.st_gid)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _edit(
    path: Path, edit: Callable[[list[str], dict[str, UserRecord]], list[str]], create: bool = False
) -> None:
    with _locked(path, create) as text:
        users = parse_users(path, text)
        lines = text.splitlines(keepends=True)
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        _write_replace(path, "".join(edit(lines, users)))


def _replace_password(line: str, encoded: str) -> str:
    fields = line.rstrip("\n").split(":", 2)
    fields[1] = encoded
    return ":".join(fields) + "\n"


def add_user(
    path: Path,
    name: str,
    password: str,
    *,
    maildir: Path | None = None,
    hasher: argon2.PasswordHasher | None = None,
) -> UserRecord:
    """Append a user (creating the file if needed).  Raises UserExistsError, UsernameError."""
    validate_username(name)
    encoded = hash_password(password, hasher)
    extra = f"mail=maildir:{maildir}" if maildir else ""
    if maildir and (":" in str(maildir) or any(ch.isspace() for ch in str(maildir))):
        raise AuthError(
            f"Maildir path {str(maildir)!r} must not contain ':' or whitespace (passwd-file field)"
        )
    new_line = f"{name}:{encoded}::::::{extra}".rstrip(":") + "\n"

    def edit(lines: list[str], users: dict[str, UserRecord]) -> list[str]:
        if name in users:
            raise UserExistsError(f"user {name!r} already exists in {path}")
        return [*lines, new_line]

    _edit(path, edit, create=True)
    record = parse_line(path, 0, new_line)
    assert record is not None
    return record


def set_password(path: Path, name: str, password: str, hasher: argon2.PasswordHasher | None = None) -> None:
    encoded = hash_password(password, hasher)
    set_encoded(path, name, encoded)


def set_encoded(path: Path, name: str, encoded: str, *, only_if: str | None = None) -> bool:
    """Replace ``name``'s password field; with ``only_if``, only while it still holds that hash."""
    changed = False

    def edit(lines: list[str], users: dict[str, UserRecord]) -> list[str]:
        nonlocal changed
        record = users.get(name)
        if record is None:
            raise UnknownUserError(f"no user {name!r} in {path}")
        if only_if is not None and record.password_hash != only_if:
            return lines
        changed = True
        lines[record.line - 1] = _replace_password(lines[record.line - 1], encoded)
        return lines

    _edit(path, edit)
    return changed


def delete_user(path: Path, name: str) -> None:
    def edit(lines: list[str], users: dict[str, UserRecord]) -> list[str]:
        record = users.get(name)
        if record is None:
            raise UnknownUserError(f"no user {name!r} in {path}")
        del lines[record.line - 1]
        return lines

    _edit(path, edit)
