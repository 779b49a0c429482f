"""The unit files, sysusers.d and tmpfiles.d snippets: static checks, then systemd's own tools when present.

``systemd-analyze verify`` and ``security --offline=yes`` need no running systemd (operations.md §1.4);
ExecStart= is pointed at the installed ``maildird`` script because verify checks that the binary exists.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from maildird.config_load import load_config

REPO = Path(__file__).resolve().parent.parent.parent
UNITS = REPO / "systemd"
SERVICE = UNITS / "maildird.service"
SOCKET = UNITS / "maildird.socket"
USER_SERVICE = UNITS / "user" / "maildird.service"
SYSUSERS = UNITS / "sysusers.d" / "maildird.conf"
TMPFILES = UNITS / "tmpfiles.d" / "maildird.conf"
SAMPLE = REPO / "maildird" / "data" / "maildird.toml.sample"
INSTALLED_PATH = "/usr/bin/maildird"
#: issue 6: "hardening so systemd-analyze security scores it below 2.0".
MAX_EXPOSURE = 2.0

ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze not installed")


def directives(path: Path) -> dict[str, list[str]]:
    """``Section.Key`` -> values in order (unit files repeat keys, so configparser does not fit)."""
    result: dict[str, list[str]] = {}
    section = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not KEY=VALUE: {raw!r}"
        result.setdefault(f"{section}.{key.strip()}", []).append(value.strip())
    return result


def one(d: dict[str, list[str]], key: str) -> str:
    values = d.get(key, [])
    assert len(values) == 1, f"{key}: {values}"
    return values[0]


# ----------------------------------------------------------------------------------------------------------
# Static checks (always run)
# ----------------------------------------------------------------------------------------------------------


def test_service_contract() -> None:
    d = directives(SERVICE)
    assert one(d, "Service.Type") == "notify"
    assert one(d, "Service.NotifyAccess") == "main"
    assert one(d, "Service.ExecStartPre").split()[:2] == [INSTALLED_PATH, "check-config"]
    assert one(d, "Service.ExecStart").split()[:2] == [INSTALLED_PATH, "serve"]
    assert d["Service.ExecReload"][-1] == "/bin/kill -HUP $MAINPID"
    assert one(d, "Service.RestartPreventExitStatus") == "78"
    assert one(d, "Service.Restart") == "on-failure"
    assert one(d, "Service.WatchdogSec") == "30s"
    # Every command reads the same configuration file.
    configs = {
        re.search(r"--config (\S+)", c).group(1) for c in d["Service.ExecStartPre"] + d["Service.ExecStart"]
    }  # type: ignore[union-attr]
    assert configs == {"/etc/maildird/maildird.toml"}
    assert one(d, "Install.Also") == "maildird.socket"


def test_service_user_and_directories_match_sysusers_and_tmpfiles() -> None:
    d = directives(SERVICE)
    user = one(d, "Service.User")
    sysusers = [
        line.split() for line in SYSUSERS.read_text().splitlines() if line and not line.startswith("#")
    ]
    assert [(f[0], f[1]) for f in sysusers] == [("u", user)]
    home = sysusers[0][-2]
    assert home == f"/var/lib/{one(d, 'Service.StateDirectory')}"
    tmpfiles = {
        f[1]: f
        for line in TMPFILES.read_text().splitlines()
        if line and not line.startswith("#")
        for f in [line.split()]
    }
    assert tmpfiles[home][:5] == ["d", home, one(d, "Service.StateDirectoryMode"), user, user]


def test_socket_unit_matches_the_sample_config() -> None:
    """Every socket maildird.socket creates must match a [[listen]] entry of the shipped sample, or an
    activated start would be refused (maildird.systemd.assign_listeners)."""
    d = directives(SOCKET)
    assert one(d, "Socket.Accept") == "no"
    assert one(d, "Socket.BindIPv6Only") == "both"  # one dual-stack [::] socket per port
    ports = sorted(int(v) for v in d["Socket.ListenStream"])
    config = load_config(SAMPLE)
    listeners = [lst for lst in config.listeners if lst.kind == "imap"]
    assert sorted({lst.port for lst in listeners}) == ports
    for port in ports:
        assert {lst.address for lst in listeners if lst.port == port} & {"::", "0.0.0.0"}
    assert one(d, "Install.WantedBy") == "sockets.target"


def test_user_unit_contract() -> None:
    d = directives(USER_SERVICE)
    assert one(d, "Service.Type") == "notify"
    assert one(d, "Service.ExecStart") == f"{INSTALLED_PATH} serve --maildir %h/Maildir"
    assert one(d, "Service.ExecReload") == "/bin/kill -HUP $MAINPID"
    assert one(d, "Service.RestartPreventExitStatus") == "78"
    assert one(d, "Service.PrivateUsers") == "yes"  # namespacing in user units needs it (systemd.exec(5))
    assert one(d, "Install.WantedBy") == "default.target"
    assert "User.User" not in d and "Service.User" not in d


# ----------------------------------------------------------------------------------------------------------
# systemd's tools
# ----------------------------------------------------------------------------------------------------------


def _staged(units: list[Path], dest: Path) -> list[Path]:
    """Copies with ExecStart= pointing at a binary that exists here (verify checks it)."""
    maildird = shutil.which("maildird") or str(Path(sys.executable).with_name("maildird"))
    if not Path(maildird).exists():
        pytest.skip("the maildird console script is not installed")
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for unit in units:
        target = dest / unit.name
        target.write_text(unit.read_text().replace(INSTALLED_PATH, maildird))
        out.append(target)
    return out


def _analyze(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None
    return subprocess.run([ANALYZE, *args], capture_output=True, text=True, env=env, timeout=120)


def _user_env(tmp_path: Path) -> dict[str, str]:
    """The user manager needs $XDG_RUNTIME_DIR even offline ("Failed to initialize manager" without it)."""
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    return {**os.environ, "XDG_RUNTIME_DIR": str(runtime)}


@needs_analyze
def test_system_units_verify(tmp_path: Path) -> None:
    staged = _staged([SERVICE, SOCKET], tmp_path / "system")
    result = _analyze("verify", "--man=no", *map(str, staged))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


@needs_analyze
def test_user_unit_verifies(tmp_path: Path) -> None:
    staged = _staged([USER_SERVICE], tmp_path / "user")
    result = _analyze("verify", "--user", "--man=no", *map(str, staged), env=_user_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


@needs_analyze
def test_service_exposure_below_threshold(tmp_path: Path) -> None:
    (staged,) = _staged([SERVICE], tmp_path / "system")
    result = _analyze("security", "--offline=yes", "--no-pager", str(staged))
    m = re.search(r"Overall exposure level for maildird\.service: (\d+\.\d+)", result.stdout)
    assert m, result.stdout + result.stderr
    assert float(m.group(1)) < MAX_EXPOSURE, result.stdout


def test_sysusers_creates_the_account(tmp_path: Path) -> None:
    tool = shutil.which("systemd-sysusers")
    if tool is None:
        pytest.skip("systemd-sysusers not installed")
    (tmp_path / "etc").mkdir()
    (tmp_path / "usr/lib/sysusers.d").mkdir(parents=True)
    shutil.copy(SYSUSERS, tmp_path / "usr/lib/sysusers.d/maildird.conf")
    result = subprocess.run([tool, f"--root={tmp_path}"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    passwd = [line.split(":") for line in (tmp_path / "etc/passwd").read_text().splitlines()]
    (entry,) = [p for p in passwd if p[0] == "maildird"]
    assert entry[4:] == ["maildird IMAP server", "/var/lib/maildird", "/usr/sbin/nologin"]
    assert int(entry[2]) < 1000  # a system account


def test_tmpfiles_creates_directories(tmp_path: Path) -> None:
    sysusers, tmpfiles = shutil.which("systemd-sysusers"), shutil.which("systemd-tmpfiles")
    if sysusers is None or tmpfiles is None:
        pytest.skip("systemd-sysusers / systemd-tmpfiles not installed")
    if os.geteuid() != 0:
        pytest.skip("chown to the maildird account needs root")
    for sub, src in (("sysusers.d", SYSUSERS), ("tmpfiles.d", TMPFILES)):
        (tmp_path / "usr/lib" / sub).mkdir(parents=True)
        shutil.copy(src, tmp_path / "usr/lib" / sub / "maildird.conf")
    (tmp_path / "etc").mkdir()
    for argv in ([sysusers, f"--root={tmp_path}"], [tmpfiles, "--create", f"--root={tmp_path}"]):
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
    uid = gid = -1
    for line in (tmp_path / "etc/passwd").read_text().splitlines():
        name, _, u, g, *_ = line.split(":")
        if name == "maildird":
            uid, gid = int(u), int(g)
    expected = {
        "var/lib/maildird": (uid, gid, 0o750),
        "etc/maildird": (0, gid, 0o750),
        "etc/maildird/tls": (0, gid, 0o750),
    }
    for rel, (owner, group, mode) in expected.items():
        st = (tmp_path / rel).stat()
        assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (owner, group, mode), rel
