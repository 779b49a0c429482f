"""Fixtures for the interop tests: the IMAP server under test is a parameter.

``serve_maildir(maildir)`` is a context manager that serves an existing Maildir tree and yields the
``ImapEndpoint`` to connect to. Today the only server is a private Dovecot; adding maildird means adding
one entry to ``SERVERS`` (a function from a Maildir path to such a context manager).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import ImapEndpoint, ServeMaildir
from tests.support.dovecot import DovecotServer, dovecot  # noqa: F401  (fixture re-exported for tests)


@contextlib.contextmanager
def serve_with_dovecot(maildir: Path) -> Iterator[ImapEndpoint]:
    with DovecotServer(maildir) as server:
        yield server.endpoint


SERVERS: dict[str, ServeMaildir] = {
    "dovecot": serve_with_dovecot,
}


@pytest.fixture(params=sorted(SERVERS))
def serve_maildir(request: pytest.FixtureRequest) -> ServeMaildir:
    """A function serving a Maildir tree over IMAP on loopback, once per server kind."""
    serve: ServeMaildir = SERVERS[request.param]
    return serve
