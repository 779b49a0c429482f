"""certs/make-dev-certs.sh: the seed's certs/server-{cert,key}.pem convention, for development only."""

from __future__ import annotations

import os
import shutil
import ssl
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl(1)")
def test_dev_certs_are_generated_with_a_private_key_mode_0600(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    shutil.copy(REPO / "certs" / "make-dev-certs.sh", certs)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    done = subprocess.run(
        ["sh", str(certs / "make-dev-certs.sh")], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    cert, key = certs / "server-cert.pem", certs / "server-key.pem"
    assert f'certificate = "{cert}"' in done.stdout and f'private_key = "{key}"' in done.stdout
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    text = subprocess.run(
        ["openssl", "x509", "-in", str(cert), "-noout", "-text"], capture_output=True, text=True
    ).stdout
    assert "DNS:localhost" in text and "IP Address:127.0.0.1" in text
    assert [p.name for p in certs.iterdir() if p.name.startswith(".tmp")] == []


def test_no_private_key_is_committed() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "certs"], cwd=REPO, capture_output=True, text=True
    ).stdout.split()
    assert not [name for name in tracked if name.endswith(".pem")]
