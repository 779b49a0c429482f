"""Test support: run real IMAP peers (Dovecot, mbsync, offlineimap, neomutt, fetchmail) on loopback.

Modules:
  dovecot    -- a private Dovecot: the master on 127.0.0.1:<free port>, or ``imap`` PREAUTH on a pipe
  rawclient  -- a literal-aware raw IMAP client (trio streams and a blocking socket variant) for transcripts
  maildirs   -- build Maildirs from small dicts and read their state back for assertions
  peers      -- config writers and one-shot runners for mbsync, offlineimap, neomutt and fetchmail

This module holds what they share: the endpoint value a server fixture hands to tests, and the rule for a
missing peer program (skip locally, fail under ``CI=true``, where .ci/run has installed every peer).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import pytest

# Loopback only: the test suite never talks to anything else.
LOOPBACK_V4 = "127.0.0.1"
LOOPBACK_V6 = "::1"

# Seconds a peer program may run before the runner kills it and fails the test.
DEFAULT_PEER_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class ImapEndpoint:
    """Where a test finds an IMAP server and how to log in to it (plaintext on loopback)."""

    host: str
    port: int
    user: str
    password: str
    maildir: Path

    @property
    def url(self) -> str:
        """``imap://user:pass@host:port/`` (RFC 5092); IPv6 hosts are bracketed."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"imap://{self.user}:{self.password}@{host}:{self.port}/"


# Serves an existing Maildir tree over IMAP on loopback for the duration of a ``with`` block.
ServeMaildir = Callable[[Path], AbstractContextManager[ImapEndpoint]]


def in_ci() -> bool:
    """True when running under CI (``CI=true``), where every peer must be present."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def require_program(name: str, *, package: str | None = None) -> str:
    """Return the absolute path of ``name``; skip the test if absent, or fail it under ``CI=true``."""
    path = shutil.which(name)
    if path is None and name.startswith("/") and os.access(name, os.X_OK):
        path = name
    if path is not None:
        return path
    hint = f" (Debian package {package!r})" if package else ""
    message = f"{name} is not installed{hint}"
    if in_ci():
        pytest.fail(f"{message}; .ci/run must install it", pytrace=False)
    pytest.skip(message)
