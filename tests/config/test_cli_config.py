"""The command line: check-config exit codes (subprocess), serve's configuration choice, cert, version."""

from __future__ import annotations

import argparse
import getpass
import os
import shutil
import socket
import stat
import subprocess
import sys
from pathlib import Path

import argon2
import pytest
import trustme

from maildird import cli, cli_admin, cli_serve
from maildird.config import Listener
from maildird.config_load import load_config
from maildird.passwd import add_user, load_users, make_hasher

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, stdin: str = "", cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "maildird", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
    )


@pytest.fixture
def hasher() -> argon2.PasswordHasher:
    return make_hasher(time_cost=1, memory_cost=64, parallelism=2)


def good_config(tmp_path: Path, hasher: argon2.PasswordHasher) -> Path:
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    users = tmp_path / "passwd"
    add_user(users, "alice", "pw", hasher=hasher)
    path = tmp_path / "maildird.toml"
    path.write_text(
        f'[tls]\ncertificate = "{cert}"\nprivate_key = "{key}"\n'
        f'[auth]\nusers_file = "{users}"\n'
        '[[listen]]\naddress = "127.0.0.1"\nport = 9993\n'
    )
    return path


def test_check_config_good(tmp_path: Path, hasher: argon2.PasswordHasher) -> None:
    path = good_config(tmp_path, hasher)
    r = run("check-config", "--config", str(path))
    assert (r.returncode, r.stdout) == (0, f"{path}: OK\n"), r.stderr


def test_check_config_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[server]\nhostname = \n")
    r = run("check-config", "--config", str(path))
    assert r.returncode == 78
    assert r.stderr.startswith(f"{path}:2: TOML syntax error")


def test_check_config_missing_file(tmp_path: Path) -> None:
    r = run("check-config", "--config", str(tmp_path / "nope.toml"))
    assert r.returncode == 78
    assert "cannot read" in r.stderr


@pytest.mark.parametrize("breakage", ["key-mismatch", "missing-cert", "users-missing", "users-plain"])
def test_check_config_validates_files(tmp_path: Path, hasher: argon2.PasswordHasher, breakage: str) -> None:
    path = good_config(tmp_path, hasher)
    if breakage == "key-mismatch":
        trustme.CA().issue_cert("x").private_key_pem.write_to_path(str(tmp_path / "key.pem"))
        expected = "cannot load certificate and key"
    elif breakage == "missing-cert":
        (tmp_path / "cert.pem").unlink()
        expected = f"{tmp_path / 'cert.pem'}: no such file"
    elif breakage == "users-missing":
        (tmp_path / "passwd").unlink()
        expected = "does not exist"
    else:
        (tmp_path / "passwd").write_text("# users\nalice:{PLAIN}pw\n")
        expected = f"{tmp_path / 'passwd'}:2: user 'alice': password scheme {{PLAIN}}"
    r = run("check-config", "--config", str(path))
    assert r.returncode == 78
    assert expected in r.stderr
    assert r.stdout == ""


def test_check_config_reports_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text('[server]\nmode = "multi"\n[limits]\nmax_line = -1\n')
    r = run("check-config", "--config", str(path))
    assert r.returncode == 78
    lines = r.stderr.splitlines()
    assert any(line.startswith(f"{path}:2: server.mode:") for line in lines)
    assert any(line.startswith(f"{path}:4: limits.max_line:") for line in lines)
    assert any(": listen: no listeners" in line for line in lines)


def test_usage_errors_exit_64(tmp_path: Path) -> None:
    assert run("no-such-command").returncode == 64
    assert run("serve", "--listen", "http://x:1").returncode == 64
    assert run("serve", "--users", str(tmp_path / "p"), "--state-dir", str(tmp_path)).returncode == 64
    assert run("cert").returncode == 64


def test_version_and_help() -> None:
    r = run("version")
    assert (r.returncode, r.stdout) == (0, "maildird 0.1.0\n")
    r = run("--help")
    assert r.returncode == 0
    for command in ("serve", "check-config", "user", "hash-password", "cert", "version"):
        assert command in r.stdout


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl(1)")
def test_cert(tmp_path: Path) -> None:
    from maildird.transports.tls import make_server_context

    r = run("cert", "localhost", "--out", str(tmp_path / "tls"))
    assert r.returncode == 0, r.stderr
    cert, key = tmp_path / "tls" / "fullchain.pem", tmp_path / "tls" / "privkey.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert f'certificate = "{cert}"' in r.stdout
    make_server_context(cert, key)  # a usable pair
    text = subprocess.run(
        ["openssl", "x509", "-in", str(cert), "-noout", "-text"], capture_output=True, text=True
    )
    assert "DNS:localhost, IP Address:127.0.0.1" in text.stdout
    assert "TLS Web Server Authentication" in text.stdout
    r = run("cert", "localhost", "--out", str(tmp_path / "tls"))
    assert r.returncode == 1
    assert "--force" in r.stderr


# -- serve: which configuration (in-process, no server started) ------------------------------------------


def serve_args(**kw: object) -> argparse.Namespace:
    base: dict[str, object] = {
        "config": None,
        "maildir": None,
        "users": None,
        "listen": [],
        "state_dir": None,
    }
    return argparse.Namespace(**{**base, **kw})


@pytest.fixture
def no_etc_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for module in (cli_serve, cli_admin):  # where serve and the admin commands look for it
        monkeypatch.setattr(module, "DEFAULT_CONFIG_PATH", tmp_path / "etc-absent.toml")


def test_serve_maildir_single_user(
    tmp_path: Path, hasher: argon2.PasswordHasher, no_etc_config: None
) -> None:
    state = tmp_path / "state"
    maildir = tmp_path / "Maildir"
    plan = cli.serve_config(serve_args(maildir=maildir, state_dir=state), hasher=hasher)
    config = plan.config
    assert config.server.mode == "single-user"
    assert config.listeners == (Listener("127.0.0.1", 1430, "none"),)
    password_file = state / "password"
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((state / "passwd").stat().st_mode) == 0o600
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    password = password_file.read_text().strip()
    assert len(password) >= 20
    login = getpass.getuser()
    assert plan.notice is not None
    assert str(password_file) in plan.notice and repr(login) in plan.notice
    assert password not in plan.notice
    record = load_users(state / "passwd")[login]
    assert hasher.verify(record.password_hash, password)
    assert record.resolve_maildir(config.mail) == maildir
    # A second start keeps the same password and does not rewrite the users file.
    before = (state / "passwd").read_text()
    plan2 = cli.serve_config(serve_args(maildir=maildir, state_dir=state), hasher=hasher)
    assert password_file.read_text().strip() == password
    assert (state / "passwd").read_text() == before
    assert plan2.config.auth.users_file == state / "passwd"


def test_serve_no_arguments_makes_demo(
    tmp_path: Path, hasher: argon2.PasswordHasher, no_etc_config: None
) -> None:
    state = tmp_path / "state"
    plan = cli.serve_config(serve_args(state_dir=state), hasher=hasher)
    demo = state / "demo" / "Maildir"
    assert plan.config.mail.maildir_for(getpass.getuser()) == demo
    assert plan.notice is not None and "demo" in plan.notice
    assert len(list((demo / "cur").iterdir())) + len(list((demo / "new").iterdir())) == 5
    assert (demo / ".Sent" / "maildirfolder").exists() and (demo / ".Archive" / "cur").is_dir()


def test_serve_with_users_file(tmp_path: Path, hasher: argon2.PasswordHasher, no_etc_config: None) -> None:
    users = tmp_path / "users"
    add_user(users, "zed", "pw", hasher=hasher)
    plan = cli.serve_config(
        serve_args(maildir=tmp_path / "M", users=users, listen=["[::1]:2143"], state_dir=tmp_path / "s"),
        hasher=hasher,
    )
    assert plan.config.auth.users_file == users
    assert plan.config.listeners == (Listener("::1", 2143, "none"),)
    assert not (tmp_path / "s" / "password").exists()


def test_serve_config_file_with_overrides(tmp_path: Path, hasher: argon2.PasswordHasher) -> None:
    path = good_config(tmp_path, hasher)
    plan = cli.serve_config(
        serve_args(config=path, listen=["imaps://127.0.0.1:9994"], state_dir=tmp_path / "st"), hasher=hasher
    )
    assert plan.notice is None
    assert plan.config.listeners == (Listener("127.0.0.1", 9994, "implicit"),)
    assert plan.config.server.state_dir == tmp_path / "st"
    assert plan.config.tls == load_config(path).tls


@pytest.mark.parametrize(
    ("listen", "fragment"),
    [("imaps://127.0.0.1:993", "needs a certificate"), ("0.0.0.0:1430", "non-loopback")],
)
def test_serve_refuses_unsafe_listeners(
    tmp_path: Path, hasher: argon2.PasswordHasher, no_etc_config: None, listen: str, fragment: str
) -> None:
    with pytest.raises(cli.UsageError, match=fragment):
        cli.serve_config(
            serve_args(maildir=tmp_path / "M", listen=[listen], state_dir=tmp_path / "s"), hasher=hasher
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_end_to_end(tmp_path: Path) -> None:
    """`maildird serve` with no configuration: demo Maildir, generated password, real IMAP login."""
    pytest.importorskip("maildird.server", exc_type=ImportError)  # until the runtime lands
    import imaplib

    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_STATE_HOME": str(tmp_path / "xdg")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "maildird", "serve", "--listen", f"127.0.0.1:{port}"],
        stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        lines = [proc.stderr.readline() for _ in range(3)]
        assert "demo" in lines[0]
        assert f"imap://127.0.0.1:{port}" in lines[1]
        password_file = tmp_path / "xdg" / "maildird" / "password"
        assert str(password_file) in lines[2]
        client = None
        for _ in range(100):  # the port opens a moment after the notice
            try:
                client = imaplib.IMAP4("127.0.0.1", port, timeout=10)
                break
            except ConnectionRefusedError:
                if proc.poll() is not None:
                    pytest.fail(f"server exited: {proc.stderr.read()}")
                import time

                time.sleep(0.1)
        assert client is not None
        typ, _ = client.login(getpass.getuser(), password_file.read_text().strip())
        assert typ == "OK"
        typ, data = client.select("INBOX")
        assert (typ, data) == ("OK", [b"5"])
        client.logout()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
