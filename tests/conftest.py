"""Fixtures shared by the server-level tests.

``imap_server`` starts a real maildird (``maildird.server.serve``) inside the test's Trio nursery,
listening on 127.0.0.1 port 0 with STARTTLS (trustme certificate) and a second implicit-TLS
listener, over a real tmp Maildir built with ``tests.support.maildirs.make_maildir``. It yields a
``RunningServer`` that knows the ports, the user, the password and the Maildir, and can open raw
clients. Parametrise the Maildir with ``@pytest.mark.maildir({...})`` (a make_maildir spec).

The users file uses tiny argon2 parameters so logins cost microseconds, not 150 ms; the production
parameters are tested in tests/auth.
"""

from __future__ import annotations

import dataclasses
import logging
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trio
import trustme

from tests.support.maildirs import make_maildir
from tests.support.rawclient import RawClient

USER = "alice"
PASSWORD = "correct horse battery staple"

DEFAULT_SPEC: dict[str, Any] = {
    "INBOX": [
        {"id": "<m1@example.org>", "flags": "S", "subject": "First message"},
        {"id": "<m2@example.org>", "flags": "", "subject": "Second message"},
        {"id": "<m3@example.org>", "flags": "FS", "subject": "Third message"},
    ],
    "Sent": [{"id": "<s1@example.org>", "flags": "S", "subject": "Sent one"}],
    "Archive.2024": [],
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "maildir(spec): the make_maildir spec for imap_server")
    config.addinivalue_line("markers", "server_config(**changes): limits fields, or section=dict(fields)")


@pytest.fixture(autouse=True)
def _restore_maildird_logger() -> Iterator[None]:
    """Tests that call ``setup_logging`` replace the ``maildird`` logger's handlers and stop it
    propagating; put it back so later tests' caplog sees records and no handler writes to a
    stream a finished test closed."""
    logger = logging.getLogger("maildird")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:] = saved[0]
    logger.setLevel(saved[1])
    logger.propagate = saved[2]


@dataclass
class RunningServer:
    host: str
    port: int
    tls_port: int
    user: str
    password: str
    maildir: Path
    state_dir: Path
    ca: trustme.CA
    config: Any
    cancel_scope: trio.CancelScope
    state: Any

    def client_ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        self.ca.configure_trust(ctx)
        return ctx

    async def connect(self, *, tls: bool = False) -> RawClient:
        if tls:
            return await RawClient.connect(
                self.host, self.tls_port, ssl_context=self.client_ssl_context(), server_hostname="localhost"
            )
        return await RawClient.connect(self.host, self.port)

    async def login(self, *, tls: bool = False) -> RawClient:
        client = await self.connect(tls=tls)
        lines = await client.cmd(f'L1 LOGIN {self.user} "{self.password}"')
        assert lines[-1].startswith(b"L1 OK"), lines
        return client


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[trustme.CA, Path, Path]:
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    cert_path = tmp_path / "cert.pem"
    key_path = tmp_path / "key.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_path))
    cert.private_key_pem.write_to_path(str(key_path))
    return ca, cert_path, key_path


@pytest.fixture
async def imap_server(
    request: pytest.FixtureRequest, tmp_path: Path, nursery: trio.Nursery, tls_files: Any
) -> AsyncIterator[RunningServer]:
    from maildird import auth
    from maildird.config import AuthConfig, Config, Listener, MailConfig, ServerConfig, TlsConfig
    from maildird.server import serve

    marker = request.node.get_closest_marker("maildir")
    spec = marker.args[0] if marker else DEFAULT_SPEC
    maildir = tmp_path / "Maildir"
    make_maildir(maildir, spec)
    state_dir = tmp_path / "state"
    users = tmp_path / "users"
    hasher = auth.make_hasher(time_cost=1, memory_cost=8, parallelism=1)
    auth.add_user(users, USER, PASSWORD, maildir=maildir, hasher=hasher)
    ca, cert, key = tls_files
    config = Config(
        server=ServerConfig(hostname="localhost", mode="virtual", state_dir=state_dir),
        listeners=(
            Listener("127.0.0.1", 0, tls="starttls"),
            Listener("127.0.0.1", 0, tls="implicit"),
        ),
        tls=TlsConfig(certificate=cert, private_key=key),
        auth=AuthConfig(users_file=users, failure_delay=0.0),
        mail=MailConfig(root=tmp_path),
    )
    changes = request.node.get_closest_marker("server_config")
    if changes:
        # Section names (auth=..., mail=..., server=...) take a dict of that section's fields;
        # any other keyword is a field of [limits].
        sections = {k: v for k, v in changes.kwargs.items() if isinstance(v, dict)}
        limits = {k: v for k, v in changes.kwargs.items() if not isinstance(v, dict)}
        for name, fields in sections.items():
            config = dataclasses.replace(
                config, **{name: dataclasses.replace(getattr(config, name), **fields)}
            )
        config = dataclasses.replace(config, limits=dataclasses.replace(config.limits, **limits))
    authenticator = auth.Authenticator(users, hasher=hasher)
    authenticator.load()
    from maildird.connection_state import ServerState

    state = ServerState()
    scope = trio.CancelScope()

    async def run(task_status: trio.TaskStatus[list[tuple[str, int]]] = trio.TASK_STATUS_IGNORED) -> None:
        with scope:
            await serve(
                config,
                authenticator=authenticator,
                handle_signals=False,
                state=state,
                task_status=task_status,
            )

    addresses = await nursery.start(run)
    (host, port), (_, tls_port) = addresses[0], addresses[1]
    yield RunningServer(host, port, tls_port, USER, PASSWORD, maildir, state_dir, ca, config, scope, state)
    scope.cancel()
