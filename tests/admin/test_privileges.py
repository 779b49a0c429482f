"""maildird.privileges: the drop to the service account (in forked children: a UID change is for good),
the root refusal, and the pid file."""

from __future__ import annotations

import dataclasses
import grp
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from maildird import privileges
from maildird.config import ServerConfig
from maildird.privileges import Account, PidFile, PidFileError, PrivilegeError

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (the drop is from root)")
NOBODY = pwd.getpwnam("nobody")
NOGROUP_GID = NOBODY.pw_gid


def in_child(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` in a forked child and return its JSON-able result (or raise what it raised, by name)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        os.close(read_fd)
        try:
            out = {"ok": fn()}
        except BaseException as exc:
            out = {"error": type(exc).__name__, "message": str(exc)}
        with os.fdopen(write_fd, "w") as f:
            json.dump(out, f)
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd) as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, data
    result = json.loads(data)
    if "error" in result:
        raise AssertionError(f"child raised {result['error']}: {result['message']}")
    return result["ok"]


def identity() -> dict[str, Any]:
    try:
        os.setuid(0)
        regained = True
    except PermissionError:
        regained = False
    try:
        os.setgid(0)
        regained_group = True
    except PermissionError:
        regained_group = False
    return {
        "resuid": list(os.getresuid()),
        "resgid": list(os.getresgid()),
        "groups": sorted(os.getgroups()),
        "regained": regained,
        "regained_group": regained_group,
    }


def test_resolve_account_nobody() -> None:
    acct = privileges.resolve_account("nobody")
    assert (acct.name, acct.uid, acct.gid) == ("nobody", NOBODY.pw_uid, NOBODY.pw_gid)
    assert acct.groups[0] == acct.gid
    by_number = privileges.resolve_account(str(NOBODY.pw_uid), str(NOGROUP_GID))
    assert (by_number.name, by_number.gid) == ("nobody", NOGROUP_GID)


def test_resolve_account_supplementary_groups() -> None:
    """A user listed as a member of a group in the group database gets that group too (initgroups)."""
    members = [(g.gr_name, g.gr_gid, m) for g in grp.getgrall() for m in g.gr_mem]
    if not members:
        pytest.skip("no group in /etc/group lists a member")
    _name, gid, user = members[0]
    acct = privileges.resolve_account(user)
    assert gid in acct.groups
    assert acct.groups[0] == acct.gid


@pytest.mark.parametrize(
    ("user", "group", "fragment"),
    [("no-such-user-x", None, "no such user"), ("nobody", "no-such-group-x", "no such group")],
)
def test_resolve_account_unknown(user: str, group: str | None, fragment: str) -> None:
    with pytest.raises(PrivilegeError, match=fragment):
        privileges.resolve_account(user, group)


@as_root
def test_drop_to_nobody_cannot_regain_root() -> None:
    acct = privileges.resolve_account("nobody", "nogroup")
    extra = grp.getgrnam("mail").gr_gid  # a supplementary group, as a [server] user's memberships would be
    acct = dataclasses.replace(acct, groups=(acct.gid, extra))

    def child() -> dict[str, Any]:
        privileges.drop_privileges(acct)
        return identity()

    got = in_child(child)
    assert got["resuid"] == [NOBODY.pw_uid] * 3
    assert got["resgid"] == [NOGROUP_GID] * 3
    assert got["groups"] == sorted({NOGROUP_GID, extra})
    assert got["regained"] is False
    assert got["regained_group"] is False
    assert os.geteuid() == 0  # the parent is untouched


@as_root
def test_apply_switches_to_the_configured_user() -> None:
    def child() -> dict[str, Any]:
        account = privileges.apply(ServerConfig(user="nobody", group="nogroup"))
        assert account is not None
        return {"name": account.name, **identity()}

    got = in_child(child)
    assert got["name"] == "nobody"
    assert got["resuid"] == [NOBODY.pw_uid] * 3
    assert got["groups"] == [NOGROUP_GID]
    assert got["regained"] is False


@as_root
def test_root_without_user_is_refused_unless_allowed() -> None:
    with pytest.raises(PrivilegeError, match="refusing to serve mail as root"):
        privileges.apply(ServerConfig())
    with pytest.raises(PrivilegeError, match="allow_root = true"):
        privileges.refuse_root(False)
    assert privileges.apply(ServerConfig(allow_root=True)) is None
    # Single-user mode serves the invoking account's own Maildir: a warning, not a refusal.
    assert privileges.apply(ServerConfig(mode="single-user")) is None
    # "user = root" is no way around it.
    with pytest.raises(PrivilegeError, match="refusing"):
        privileges.apply(ServerConfig(user="root"))


@as_root
def test_non_root_process_cannot_switch_but_may_already_be_the_user() -> None:
    def child() -> dict[str, Any]:
        privileges.drop_privileges(privileges.resolve_account("nobody", "nogroup"))
        same = privileges.apply(ServerConfig(user="nobody", group="nogroup"))  # systemd User= case
        nothing = privileges.apply(ServerConfig())  # not root: nothing to refuse
        try:
            privileges.apply(ServerConfig(user="daemon"))
            other = "switched?!"
        except PrivilegeError as exc:
            other = str(exc)
        try:
            privileges.drop_privileges(privileges.resolve_account("daemon"))
            direct = "switched?!"
        except PrivilegeError as exc:
            direct = str(exc)
        return {"same": same is None, "nothing": nothing is None, "other": other, "direct": direct}

    got = in_child(child)
    assert got["same"] and got["nothing"]
    assert "cannot switch" in got["other"] and "not root" in got["other"]
    assert "not running as root" in got["direct"]


@as_root
def test_verify_detects_an_incomplete_drop() -> None:
    def child() -> str:
        os.setgroups([NOGROUP_GID])
        os.setegid(NOGROUP_GID)
        os.seteuid(NOBODY.pw_uid)  # effective only: the saved uid is still 0
        try:
            privileges.verify_dropped(Account("nobody", NOBODY.pw_uid, NOGROUP_GID, (NOGROUP_GID,)))
        except PrivilegeError as exc:
            return str(exc)
        return "not detected"

    assert "incomplete" in in_child(child)


# --------------------------------------------------------------------------------------------------------
# The pid file
# --------------------------------------------------------------------------------------------------------


@pytest.fixture
def world_dir() -> Iterator[Path]:
    """A directory every account can reach (pytest's tmp_path sits under a 0700 directory)."""
    path = Path(tempfile.mkdtemp(prefix="maildird-admin-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_pid_file_written_atomically_and_removed(tmp_path: Path) -> None:
    path = tmp_path / "run" / "maildird" / "maildird.pid"  # the directory is made
    with PidFile(path) as pid_file:
        assert path.read_text() == f"{os.getpid()}\n"
        assert path.stat().st_mode & 0o777 == 0o644
        assert [p.name for p in path.parent.iterdir()] == ["maildird.pid"]  # no temporary left
        assert pid_file.pid == os.getpid()
    assert not path.exists()


def test_pid_file_not_removed_when_someone_else_owns_it_now(tmp_path: Path) -> None:
    path = tmp_path / "maildird.pid"
    pid_file = PidFile(path)
    pid_file.write()
    path.write_text("1\n")  # replaced by another instance meanwhile
    pid_file.remove()
    assert path.read_text() == "1\n"


def test_stale_pid_file_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "maildird.pid"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    path.write_text(dead.stdout)
    with PidFile(path):
        assert path.read_text() == f"{os.getpid()}\n"


def test_pid_file_of_a_running_maildird_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "maildird.pid"
    # A live process whose command line says maildird.
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; print(flush=True); time.sleep(60)", "maildird"],
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        proc.stdout.readline()  # it runs: its command line is in /proc
        path.write_text(f"{proc.pid}\n")
        with pytest.raises(PidFileError, match=f"already running as pid {proc.pid}"):
            PidFile(path).write()
        assert path.read_text() == f"{proc.pid}\n"
    finally:
        proc.kill()
        proc.wait()


def test_pid_file_in_an_unwritable_place(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("")
    with pytest.raises(PidFileError, match="cannot write the pid file"):
        PidFile(target / "maildird.pid").write()  # a path under a regular file


@as_root
def test_pid_file_owned_by_the_service_account_who_can_remove_it(world_dir: Path) -> None:
    path = world_dir / "rundir" / "maildird.pid"
    acct = privileges.resolve_account("nobody", "nogroup")
    pid_file = PidFile(path, owner=acct)
    pid_file.write()
    assert (path.stat().st_uid, path.stat().st_gid) == (acct.uid, acct.gid)
    assert path.parent.stat().st_uid == acct.uid

    def child() -> bool:
        privileges.drop_privileges(acct)
        pid_file.pid = int(path.read_text())  # the child's copy of the object; same pid file contents
        pid_file.remove()
        return path.exists()

    assert in_child(child) is False
