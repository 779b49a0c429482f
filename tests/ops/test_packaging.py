"""Packaging: the Debian, RPM and Arch files install every shipped file and agree on the version; the .deb
builds, passes lintian and holds what packaging/README.md promises (where debhelper is installed)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import maildird

REPO = Path(__file__).resolve().parent.parent.parent
PACKAGING = REPO / "packaging"
DEBIAN = PACKAGING / "debian"
SPEC = PACKAGING / "rpm" / "maildird.spec"
PKGBUILD = PACKAGING / "arch" / "PKGBUILD"
#: A Debian build in a copy of the tree takes ~30 s on 2 cores; this bounds a hang, it is not asserted.
BUILD_TIMEOUT = 600


def shipped_files() -> list[str]:
    """Every repository file a package installs besides the Python package itself."""
    files = [p for p in (REPO / "systemd").rglob("*") if p.is_file()]
    files += list((REPO / "man").glob("*.[1-8]"))
    files += [p for p in (PACKAGING / "fail2ban").rglob("*") if p.is_file()]
    files.append(REPO / "maildird" / "data" / "maildird.toml.sample")
    return sorted(str(p.relative_to(REPO)) for p in files)


def _debian_sources() -> set[str]:
    """Repository paths the Debian packaging installs: its symlinks into systemd/ and its list files."""
    found = set()
    for entry in DEBIAN.iterdir():
        if entry.is_symlink():
            found.add(os.path.normpath(str(Path("debian") / os.readlink(entry))))
        elif entry.suffix in (".install", ".manpages", ".examples", ".docs"):
            found.update(line.split()[0] for line in entry.read_text().splitlines() if line.strip())
    found.update(re.findall(r"install .*?(maildird/data/\S+)", (DEBIAN / "rules").read_text()))
    return found


def test_shipped_files_listed() -> None:
    files = shipped_files()
    assert "systemd/maildird.service" in files and "man/maildird.8" in files
    assert "packaging/fail2ban/maildird.conf" in files


@pytest.mark.parametrize("packaging", [SPEC, PKGBUILD], ids=["rpm", "arch"])
def test_rpm_and_arch_install_every_shipped_file(packaging: Path) -> None:
    text = packaging.read_text()
    missing = [f for f in shipped_files() if f not in text]
    assert missing == []


def test_debian_installs_every_shipped_file() -> None:
    assert set(shipped_files()) <= _debian_sources()


def test_debian_symlinks_resolve() -> None:
    links = [e for e in DEBIAN.iterdir() if e.is_symlink()]
    assert {e.name for e in links} == {
        "maildird.service",
        "maildird.socket",
        "maildird.user.service",
        "maildird.sysusers",
        "maildird.tmpfiles",
    }
    for link in links:
        # Relative to debian/ once copied to the repository root (packaging/README.md).
        assert (REPO / "debian" / os.readlink(link)).resolve().is_file(), link.name


def test_versions_agree() -> None:
    version = maildird.__version__
    changelog = (DEBIAN / "changelog").read_text().splitlines()[0]
    assert re.match(rf"maildird \({re.escape(version)}-\d+\) ", changelog)
    assert re.search(rf"^Version:\s+{re.escape(version)}$", SPEC.read_text(), re.MULTILINE)
    assert re.search(rf"^pkgver={re.escape(version)}$", PKGBUILD.read_text(), re.MULTILINE)
    pyproject = (REPO / "pyproject.toml").read_text()
    assert re.search(rf'^version = "{re.escape(version)}"$', pyproject, re.MULTILINE)


# ----------------------------------------------------------------------------------------------------------
# Build the .deb
# ----------------------------------------------------------------------------------------------------------

BUILD_TOOLS = ("dpkg-buildpackage", "dh", "lintian", "git")
EXPECTED_IN_DEB = {
    "./usr/bin/maildird",
    "./lib/systemd/system/maildird.service",
    "./lib/systemd/system/maildird.socket",
    "./usr/lib/systemd/user/maildird.service",
    "./usr/lib/sysusers.d/maildird.conf",
    "./usr/lib/tmpfiles.d/maildird.conf",
    "./usr/share/man/man8/maildird.8.gz",
    "./usr/share/man/man5/maildird.toml.5.gz",
    "./usr/share/man/man5/maildird-passwd.5.gz",
    "./etc/maildird/maildird.toml",
    "./etc/fail2ban/filter.d/maildird.conf",
    "./etc/fail2ban/jail.d/maildird.conf",
    "./usr/lib/python3/dist-packages/maildird/systemd.py",
    "./usr/share/doc/maildird/examples/maildird.toml.sample",
}


def _copy_tree(dest: Path) -> None:
    """Tracked and new (not ignored) files, as a fresh clone plus the work in progress would have."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout.split(b"\0")
    for raw in listed:
        if not raw:
            continue
        rel = raw.decode()
        src = REPO / rel
        if not src.exists() and not src.is_symlink():
            continue  # deleted in the work tree
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            target.symlink_to(os.readlink(src))
        else:
            shutil.copy2(src, target)


@pytest.fixture(scope="module")
def built_deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    missing = [t for t in BUILD_TOOLS if shutil.which(t) is None]
    if missing:
        pytest.skip(
            f"not installed: {', '.join(missing)} (apt-get install debhelper dh-python "
            "pybuild-plugin-pyproject python3-all python3-setuptools lintian)"
        )
    work = tmp_path_factory.mktemp("deb")
    tree = work / "maildird"
    _copy_tree(tree)
    shutil.copytree(tree / "packaging" / "debian", tree / "debian", symlinks=True)
    # A clean environment: a pyenv Python first on PATH breaks pybuild (operations.md §6).
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(work), "LC_ALL": "C.UTF-8"}
    result = subprocess.run(
        ["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=tree, env=env, capture_output=True, text=True,
        timeout=BUILD_TIMEOUT,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (deb,) = work.glob("maildird_*_all.deb")
    return deb


def test_deb_passes_lintian(built_deb: Path) -> None:
    (changes,) = built_deb.parent.glob("maildird_*.changes")
    result = subprocess.run(
        ["lintian", "--fail-on", "warning", str(changes)],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
    )
    tags = [line for line in result.stdout.splitlines() if re.match(r"^[EWIPX]: ", line)]
    assert result.returncode == 0 and tags == [], result.stdout


def test_deb_contents(built_deb: Path) -> None:
    listing = subprocess.run(["dpkg-deb", "-c", str(built_deb)], capture_output=True, text=True, check=True)
    entries = {}
    for line in listing.stdout.splitlines():
        fields = line.split()
        entries[fields[5]] = (fields[0], fields[1])
    assert set(entries) >= EXPECTED_IN_DEB
    assert entries["./etc/maildird/maildird.toml"][0] == "-rw-r-----"
    depends = subprocess.run(
        ["dpkg-deb", "-f", str(built_deb), "Depends"], capture_output=True, text=True, check=True
    ).stdout
    assert "python3-trio" in depends and "systemd-sysusers" in depends


def test_deb_maintainer_scripts(built_deb: Path, tmp_path: Path) -> None:
    subprocess.run(["dpkg-deb", "-e", str(built_deb), str(tmp_path / "control")], check=True)
    postinst = (tmp_path / "control" / "postinst").read_text()
    assert "systemd-sysusers" in postinst and "systemd-tmpfiles" in postinst
    assert "chgrp maildird /etc/maildird/maildird.toml" in postinst
    assert "deb-systemd-invoke start" not in postinst  # installed, not started (packaging/README.md)
    conffiles = (tmp_path / "control" / "conffiles").read_text().split()
    assert "/etc/maildird/maildird.toml" in conffiles
    assert "/etc/fail2ban/filter.d/maildird.conf" in conffiles


def test_deb_payload_runs_on_debian_python(built_deb: Path, tmp_path: Path) -> None:
    """The packaged code under /usr/bin/python3 with Debian's own libraries, where those are installed."""
    probe = subprocess.run(
        ["/usr/bin/python3", "-c", "import trio, argon2, watchdog, trio_websocket"], capture_output=True
    )
    if probe.returncode != 0:
        pytest.skip("Debian's python3-trio/-argon2/-watchdog/-trio-websocket not installed")
    subprocess.run(["dpkg-deb", "-x", str(built_deb), str(tmp_path / "root")], check=True)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path / "root/usr/lib/python3/dist-packages")}
    sample = tmp_path / "root/etc/maildird/maildird.toml"
    version = subprocess.run(
        ["/usr/bin/python3", "-m", "maildird", "version"], env=env, capture_output=True, text=True, timeout=60
    )
    assert version.stdout == f"maildird {maildird.__version__}\n"
    check = subprocess.run(
        ["/usr/bin/python3", "-m", "maildird", "check-config", "--config", str(sample)],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    # The shipped conffile names a certificate and users file that do not exist yet: exit 78, naming them.
    assert check.returncode == 78
    assert "/etc/maildird/passwd" in check.stderr


def test_rpm_and_arch_expect_the_same_tarball() -> None:
    """rpmbuild -ta and makepkg both start from a tarball of the repository whose top directory is
    maildird-VERSION."""
    assert "Source0:        %{name}-%{version}.tar.gz" in SPEC.read_text()
    assert "%autosetup -n %{name}-%{version}" in SPEC.read_text()
    assert 'source=("$pkgname-$pkgver.tar.gz")' in PKGBUILD.read_text()
    assert 'cd "$pkgname-$pkgver"' in PKGBUILD.read_text()
