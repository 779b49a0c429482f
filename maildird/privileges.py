"""Running as the service account: the privilege drop, the root refusal and the pid file (issue 9).

Theory of operation
-------------------
maildird serves every Maildir as one account (operations.md §2: Dovecot's "virtual users share one
UID" model; per-connection setuid is impossible in one Trio process, because a UID change is
process-wide).  Under systemd the unit's ``User=maildird`` does this before we start.  Started as
root without systemd, the server binds its listeners (ports below 1024) and loads the certificates
(often root-only files), then calls :func:`apply` before the first client is served:

1. ``[server] user`` (and ``group``, default the user's primary group) are looked up in the
   passwd and group databases; the supplementary groups are the user's groups from the group
   database (``getgrouplist``, what ``initgroups(3)`` would install).
2. ``setgroups``, then ``setgid``, then ``setuid``, in that order: after ``setuid`` the process may
   no longer change its groups.  As root, ``setuid``/``setgid`` set the real, effective and saved
   IDs (POSIX), so nothing is kept to switch back to.  glibc applies the change to every thread
   (the worker threads Trio may already have started included).
3. Verify: the real/effective/saved IDs and the group list are the requested ones, and
   ``setuid(0)`` now fails with EPERM.  Anything else raises :class:`PrivilegeError` and the
   server does not serve.

Without ``user`` a root process in virtual mode (everybody's mail) refuses to serve unless
``[server] allow_root = true``; in single-user mode (one person's own Maildir, ``maildird serve
--maildir``) it only warns.  A
non-root process with ``user`` set must already be that user (the systemd case); it cannot switch.

The pid file (``[server] pid_file``, for setups without systemd) is written atomically (a temporary
file in the same directory, fsync, ``rename``) before the drop, owned by the service account, in a
directory created for that account when missing (as ``/run/maildird``), so that the unprivileged
process can remove it at exit.  A pid file naming a live maildird is an error (a second instance);
a stale one is replaced.
"""

from __future__ import annotations

import contextlib
import grp
import logging
import os
import pwd
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from maildird.config import ServerConfig

__all__ = [
    "Account",
    "PidFile",
    "PidFileError",
    "PrivilegeError",
    "apply",
    "drop_privileges",
    "refuse_root",
    "resolve_account",
]

log = logging.getLogger("maildird.privileges")

ROOT_UID = 0
#: Mode of a pid file and of the directory made for it: readable by everyone (init scripts, monitoring).
PID_FILE_MODE = 0o644
PID_DIR_MODE = 0o755
#: Longest pid file we read when checking for a running instance (a pid and a newline).
PID_FILE_MAX_READ = 64


class PrivilegeError(Exception):
    """The process cannot run as configured (unknown account, no permission to switch, root refused)."""


class PidFileError(Exception):
    """The pid file cannot be written, or names another live maildird."""


@dataclass(frozen=True, slots=True)
class Account:
    """Who to become: ``groups`` are every group ID to hold (the primary one included)."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    home: str = ""


def resolve_account(user: str, group: str | None = None) -> Account:
    """Look ``user`` (a name or a numeric ID) and ``group`` (default: the user's primary group) up.
    Supplementary groups: the user's memberships in the group database (``getgrouplist(3)``)."""
    try:
        entry = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
    except (KeyError, OverflowError):
        raise PrivilegeError(f"[server] user: no such user {user!r} (see getent passwd)") from None
    gid = entry.pw_gid
    if group is not None:
        try:
            gid = grp.getgrgid(int(group)).gr_gid if group.isdigit() else grp.getgrnam(group).gr_gid
        except (KeyError, OverflowError):
            raise PrivilegeError(f"[server] group: no such group {group!r} (see getent group)") from None
    try:
        groups = os.getgrouplist(entry.pw_name, gid)
    except OSError as exc:
        raise PrivilegeError(f"cannot list the groups of {entry.pw_name!r}: {exc}") from None
    ordered = tuple(dict.fromkeys([gid, *groups]))
    return Account(entry.pw_name, entry.pw_uid, gid, ordered, entry.pw_dir)


def drop_privileges(account: Account) -> None:
    """Become ``account`` for good (module docstring, steps 2 and 3).  Must run as root."""
    if os.geteuid() != ROOT_UID:
        raise PrivilegeError(f"cannot switch to user {account.name!r}: not running as root")
    try:
        os.setgroups(list(account.groups))
        os.setgid(account.gid)
        os.setuid(account.uid)
    except OSError as exc:
        raise PrivilegeError(f"cannot switch to user {account.name!r}: {exc.strerror}") from exc
    verify_dropped(account)


def verify_dropped(account: Account) -> None:
    """Raise PrivilegeError unless the process is exactly ``account`` and cannot become root again."""
    uids, gids = os.getresuid(), os.getresgid()
    if uids != (account.uid,) * 3 or gids != (account.gid,) * 3:
        raise PrivilegeError(f"privilege drop incomplete: uids {uids}, gids {gids}")
    if set(os.getgroups()) != set(account.groups):
        raise PrivilegeError(f"privilege drop incomplete: groups {sorted(os.getgroups())}")
    if account.uid == ROOT_UID:
        return
    try:
        os.setuid(ROOT_UID)
    except PermissionError:
        return
    raise PrivilegeError("privilege drop failed: setuid(0) succeeded afterwards")


def refuse_root(allow_root: bool) -> None:
    """Raise PrivilegeError when running as root and the configuration does not allow it."""
    if os.geteuid() == ROOT_UID and not allow_root:
        raise PrivilegeError(
            'refusing to serve mail as root: set [server] user = "maildird" (the account to switch to '
            "after binding the ports) or, if you really mean it, allow_root = true"
        )


def apply(server: ServerConfig) -> Account | None:
    """The whole policy, called once the listeners are bound and the certificates loaded, before the
    first client is served.  Returns the account switched to, or None when nothing changed."""
    euid = os.geteuid()
    if server.user is None:
        if euid == ROOT_UID and server.mode == "single-user" and not server.allow_root:
            # One person's own Maildir, run by that person: no other account's mail is at stake.
            log.warning("running as root in single-user mode; set [server] user to run as another account")
            return None
        refuse_root(server.allow_root)
        if euid == ROOT_UID:
            log.warning("serving mail as root ([server] allow_root = true)")
        return None
    account = resolve_account(server.user, server.group)
    if euid != ROOT_UID:
        if euid == account.uid and os.getegid() == account.gid:
            return None  # systemd's User=/Group= already did it
        raise PrivilegeError(
            f"[server] user = {server.user!r}, but maildird runs as uid {euid}, not root, and cannot "
            "switch; start it as root or remove the setting"
        )
    if account.uid == ROOT_UID:
        refuse_root(server.allow_root)
        return None
    drop_privileges(account)
    log.info(
        "running as user=%s uid=%d gid=%d groups=%s",
        account.name,
        account.uid,
        account.gid,
        ",".join(map(str, account.groups)),
    )
    return account


# --------------------------------------------------------------------------------------------------------
# The pid file
# --------------------------------------------------------------------------------------------------------


def _running_pid(path: Path) -> int | None:
    """The pid in ``path`` if it names a live process other than us that looks like maildird."""
    try:
        with open(path, "rb") as f:
            text = f.read(PID_FILE_MAX_READ)
        pid = int(text.strip() or b"0")
    except (OSError, ValueError):
        return None
    if pid <= 0 or pid == os.getpid():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, owned by someone else
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return pid  # cannot tell: assume it is ours
    # An empty command line (a process between fork and exec, or a zombie) cannot be told apart either.
    return pid if not cmdline or b"maildird" in cmdline else None


class PidFile:
    """``[server] pid_file``: :meth:`write` at start-up, :meth:`remove` at exit (also as a context
    manager).  ``owner``: the account the server will switch to; the file (and a directory made for it)
    is given to that account so the unprivileged process can remove it."""

    def __init__(self, path: Path, owner: Account | None = None) -> None:
        self.path = path
        self.owner = owner
        self.pid: int | None = None

    def write(self) -> None:
        running = _running_pid(self.path)
        if running is not None:
            raise PidFileError(f"{self.path}: maildird is already running as pid {running}")
        directory = self.path.parent
        chown = self.owner is not None and os.geteuid() == ROOT_UID
        pid = os.getpid()
        tmp = directory / f".{self.path.name}.{pid}.tmp"
        try:
            if not directory.exists():
                directory.mkdir(mode=PID_DIR_MODE, parents=True)
                if chown:
                    assert self.owner is not None
                    os.chown(directory, self.owner.uid, self.owner.gid)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PID_FILE_MODE)
            try:
                os.write(fd, f"{pid}\n".encode())
                os.fchmod(fd, PID_FILE_MODE)
                if chown:
                    assert self.owner is not None
                    os.fchown(fd, self.owner.uid, self.owner.gid)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise PidFileError(f"{self.path}: cannot write the pid file: {exc.strerror or exc}") from exc
        self.pid = pid

    def remove(self) -> None:
        """Remove the file if it still holds our pid.  Never raises (it runs at exit)."""
        if self.pid is None:
            return
        try:
            if self.path.read_text().strip() == str(self.pid):
                self.path.unlink()
        except OSError as exc:
            log.warning("could not remove the pid file %s: %s", self.path, exc.strerror or exc)
        self.pid = None

    def __enter__(self) -> PidFile:
        self.write()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.remove()
