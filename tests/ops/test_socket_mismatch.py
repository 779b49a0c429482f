"""A socket handed over by systemd that matches no ``[[listen]]`` entry is a configuration error:
``maildird serve`` exits 78 (EX_CONFIG, RestartPreventExitStatus=78) with a message, never a traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from maildird import auth

FDEXEC = Path(__file__).with_name("fdexec.py")


def test_an_unmatched_inherited_socket_exits_78(tmp_path: Path) -> None:
    users = tmp_path / "users"
    auth.add_user(users, "u", "p", hasher=auth.make_hasher(time_cost=1, memory_cost=8, parallelism=1))
    config = tmp_path / "maildird.toml"
    config.write_text(
        f'[server]\nstate_dir = "{tmp_path / "state"}"\nallow_root = true\n'
        f'[[listen]]\naddress = "127.0.0.1"\nport = 1\ntls = "none"\n'
        f'[auth]\nusers_file = "{users}"\n[mail]\nroot = "{tmp_path}"\n'
    )
    with socket.socket() as stray:
        stray.bind(("127.0.0.1", 0))  # not port 1: matches no listener
        stray.listen()
        done = subprocess.run(
            [
                sys.executable,
                str(FDEXEC),
                "--fds",
                str(stray.fileno()),
                "--",
                sys.executable,
                "-m",
                "maildird",
                "serve",
                "--config",
                str(config),
            ],
            pass_fds=(stray.fileno(),),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 78, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.strip(), "the reason must be printed"
