from __future__ import annotations

import argon2
import pytest

from maildird.passwd import make_hasher


@pytest.fixture
def hasher() -> argon2.PasswordHasher:
    """Tiny argon2 parameters so the suite stays fast (production uses auth.ARGON2_PARAMETERS)."""
    return make_hasher(time_cost=1, memory_cost=64, parallelism=2)


@pytest.fixture
def dovecot_hasher() -> argon2.PasswordHasher:
    """The shape `doveadm pw -s ARGON2ID` produces: p=1 (operations.md §3), here with tiny t and m."""
    return make_hasher(time_cost=1, memory_cost=8, parallelism=1)
