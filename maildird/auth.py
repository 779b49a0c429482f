"""Checking passwords and throttling failed logins.

Theory of operation
-------------------
Users live in a Dovecot passwd-file, read and edited by :mod:`maildird.passwd` (whose names are re-exported
here for older imports).

:class:`Authenticator` re-reads the file when its (mtime, size, inode) changes and checks passwords in a
worker thread (argon2 takes ~150 ms of CPU and 64 MiB) behind a CapacityLimiter.  A user who does not exist
is checked against a dummy hash made once with the same parameters, so the reply takes as long as for a
wrong password.  After a successful login with outdated parameters (``check_needs_rehash``; Dovecot's
``doveadm pw`` uses p=1) the line is rewritten in place, best effort.

:class:`LoginPenalty` is Dovecot anvil's per-IP penalty (wiki Authentication.Penalty): each failure from an
address doubles the delay before the reply (2, 4, 8 ... up to 15 s), IPv6 addresses count per /48, a
user+password pair retried among the last 10 attempts does not raise it, and it is forgotten after an hour.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import os
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import argon2
import trio

from maildird.config import Config
from maildird.logging_setup import safe
from maildird.passwd import ARGON2_PARAMETERS as ARGON2_PARAMETERS
from maildird.passwd import MAX_USERNAME as MAX_USERNAME
from maildird.passwd import NEW_FILE_MODE_ROOT as NEW_FILE_MODE_ROOT
from maildird.passwd import NEW_FILE_MODE_USER as NEW_FILE_MODE_USER
from maildird.passwd import AuthError as AuthError
from maildird.passwd import UnknownUserError as UnknownUserError
from maildird.passwd import UserExistsError as UserExistsError
from maildird.passwd import UsernameError as UsernameError
from maildird.passwd import UserRecord as UserRecord
from maildird.passwd import UsersFileError as UsersFileError
from maildird.passwd import add_user as add_user
from maildird.passwd import delete_user as delete_user
from maildird.passwd import hash_password as hash_password
from maildird.passwd import list_users as list_users
from maildird.passwd import load_users as load_users
from maildird.passwd import make_hasher as make_hasher
from maildird.passwd import parse_line as parse_line
from maildird.passwd import parse_users as parse_users
from maildird.passwd import set_encoded
from maildird.passwd import set_password as set_password
from maildird.passwd import validate_username as validate_username

__all__ = [
    "AuthError",
    "Authenticator",
    "LoginPenalty",
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
    "set_password",
    "validate_username",
]

log = logging.getLogger("maildird.auth")

#: Password checks that may run at once (64 MiB each); about the core count.
DEFAULT_HASH_THREADS = 2
#: Longest password hashed; IMAP LOGIN is bounded by max_literal anyway, this keeps argon2 input sane.
MAX_PASSWORD = 4096


# --------------------------------------------------------------------------------------------------------
# Verifying passwords
# --------------------------------------------------------------------------------------------------------


class Authenticator:
    """Checks user name + password against the users file (RFC 9051 §6.2.3 LOGIN, RFC 4616 PLAIN)."""

    def __init__(
        self,
        users_file: Path,
        *,
        hasher: argon2.PasswordHasher | None = None,
        threads: int = DEFAULT_HASH_THREADS,
        limiter: trio.CapacityLimiter | None = None,
    ) -> None:
        self.users_file = users_file
        self.hasher = hasher or make_hasher()
        self.limiter = limiter or trio.CapacityLimiter(threads)
        self._lock = threading.Lock()  # guards the cache and the dummy hash (worker threads)
        self._users: dict[str, UserRecord] = {}
        self._signature: tuple[int, int, int] | None = None
        self._dummy: str | None = None

    @classmethod
    def from_config(cls, config: Config) -> Authenticator:
        if config.auth.users_file is None:
            raise UsersFileError(["[auth] users_file is not set"])
        return cls(config.auth.users_file, threads=config.auth.hash_threads)

    # -- the users file, re-read when it changes -------------------------------------------------------

    def load(self) -> dict[str, UserRecord]:
        """Read the file now (sync; raises UsersFileError).  The server calls this at start and on SIGHUP."""
        st = os.stat(self.users_file) if self.users_file.exists() else None
        users = load_users(self.users_file)
        with self._lock:
            self._users = users
            self._signature = (st.st_mtime_ns, st.st_size, st.st_ino) if st else None
        return users

    def refresh(self) -> None:
        """Re-read the file if (mtime, size, inode) changed; on a bad file keep the users we had."""
        try:
            st = os.stat(self.users_file)
        except OSError as exc:
            log.error("users file %s: %s", self.users_file, exc.strerror)
            return
        if (st.st_mtime_ns, st.st_size, st.st_ino) == self._signature:
            return
        try:
            self.load()
        except UsersFileError as exc:
            log.error("users file not reloaded, keeping the previous one:\n%s", exc)
            self._signature = (st.st_mtime_ns, st.st_size, st.st_ino)  # do not re-parse on every login

    def lookup(self, name: str) -> UserRecord | None:
        self.refresh()
        with self._lock:
            return self._users.get(name)

    # -- checking -------------------------------------------------------------------------------------

    @property
    def dummy_hash(self) -> str:
        """A hash of a random password with our parameters, made on first use, for unknown users."""
        with self._lock:
            if self._dummy is None:
                self._dummy = self.hasher.hash(secrets.token_urlsafe(24))
            return self._dummy

    def check(self, encoded: str, password: str) -> bool:
        """argon2 verify (CPU heavy; runs in a worker thread).  Subclasses may count calls."""
        try:
            return bool(self.hasher.verify(encoded, password))
        except argon2.exceptions.VerificationError:
            return False
        except argon2.exceptions.InvalidHashError:
            log.error("users file %s: unusable hash (not argon2)", self.users_file)
            return False

    def verify_sync(self, name: str, password: str | bytes) -> UserRecord | None:
        if isinstance(password, bytes):
            password = password.decode("utf-8", "surrogateescape")
        try:
            validate_username(name)
            record = self.lookup(name)
        except UsernameError:
            record = None
        if record is None or len(password) > MAX_PASSWORD:
            self.check(self.dummy_hash, password[:MAX_PASSWORD])
            return None
        if not self.check(record.password_hash, password):
            return None
        if self.hasher.check_needs_rehash(record.password_hash):
            self._rehash(record, password)
        return record

    def _rehash(self, record: UserRecord, password: str) -> None:
        encoded = "{ARGON2ID}" + self.hasher.hash(password)
        try:
            if set_encoded(self.users_file, record.name, encoded, only_if=record.password_hash):
                log.info("rehashed the password of user=<%s> with current parameters", safe(record.name))
        except (OSError, AuthError) as exc:
            # Typical under systemd: /etc/maildird is read-only for the service.  Not an error for the login.
            log.debug("could not rehash user=<%s>: %s", safe(record.name), exc)

    async def verify(self, name: str, password: str | bytes) -> UserRecord | None:
        """The user's record if ``password`` is right, else None (unknown users cost the same)."""
        return await trio.to_thread.run_sync(self.verify_sync, name, password, limiter=self.limiter)


# --------------------------------------------------------------------------------------------------------
# Per-IP failure penalty
# --------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Penalty:
    failures: int
    last: float
    recent: deque[bytes]


class LoginPenalty:
    """Dovecot anvil's login penalty as a pure table (wiki Authentication.Penalty).

    ``failure(ip, user, password)`` records a failed login and returns the seconds to wait before the NO
    reply: ``initial * 2**(n-1)`` for the n-th failure, capped at ``maximum`` (2, 4, 8, 15 s).  Retrying a
    pair seen among the last ``recent`` attempts does not count (clients retry saved passwords).
    ``success(ip)`` clears the address.  Entries expire ``ttl`` seconds after their last failure.
    """

    #: Dovecot PENALTY_DEFAULT_EXPIRE_SECS is one hour; CHECKSUM history is the last 10 attempts.
    DEFAULT_TTL = 3600.0
    RECENT_ATTEMPTS = 10
    #: IPv6 clients usually hold a whole /64 or /48; Dovecot counts per /48.
    IPV6_PREFIX = 48
    #: Bound on tracked addresses; the oldest is dropped beyond it.
    MAX_ENTRIES = 100_000

    def __init__(
        self,
        initial: float = 2.0,
        maximum: float = 15.0,
        *,
        ttl: float = DEFAULT_TTL,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        self.initial, self.maximum, self.ttl, self.clock, self.max_entries = (
            initial,
            maximum,
            ttl,
            clock,
            max_entries,
        )
        self._table: OrderedDict[str, _Penalty] = OrderedDict()
        self._salt = secrets.token_bytes(16)  # so the table never holds a plain password digest

    @classmethod
    def key(cls, ip: str) -> str:
        """The unit an address is counted in: IPv4 itself (also when IPv4-mapped), IPv6 per /48."""
        try:
            addr = ipaddress.ip_address(ip.split("%", 1)[0])
        except ValueError:
            return ip
        if isinstance(addr, ipaddress.IPv6Address):
            if addr.ipv4_mapped is not None:
                return str(addr.ipv4_mapped)
            return str(ipaddress.IPv6Network((addr, cls.IPV6_PREFIX), strict=False))
        return str(addr)

    def _get(self, ip: str) -> _Penalty | None:
        key = self.key(ip)
        entry = self._table.get(key)
        if entry is not None and self.clock() - entry.last >= self.ttl:
            del self._table[key]
            return None
        return entry

    def failures(self, ip: str) -> int:
        entry = self._get(ip)
        return entry.failures if entry else 0

    def delay_for(self, failures: int) -> float:
        if failures <= 0:
            return 0.0
        return float(min(self.initial * 2 ** (failures - 1), self.maximum))

    def delay(self, ip: str) -> float:
        """The delay the next failure from ``ip`` would get if it did not raise the count."""
        return self.delay_for(self.failures(ip))

    def failure(self, ip: str, user: str = "", password: str | bytes = b"") -> float:
        now = self.clock()
        key = self.key(ip)
        entry = self._get(ip)
        raw = password.encode("utf-8", "surrogateescape") if isinstance(password, str) else password
        digest = hashlib.blake2b(
            user.encode("utf-8", "surrogateescape") + b"\0" + raw, key=self._salt
        ).digest()
        if entry is None:
            entry = _Penalty(0, now, deque(maxlen=self.RECENT_ATTEMPTS))
            self._table[key] = entry
            while len(self._table) > self.max_entries:
                self._table.popitem(last=False)
        if digest not in entry.recent:
            entry.failures += 1
            entry.recent.append(digest)
        entry.last = now
        self._table.move_to_end(key)
        return self.delay_for(entry.failures)

    def success(self, ip: str) -> None:
        self._table.pop(self.key(ip), None)

    def __len__(self) -> int:
        return len(self._table)
