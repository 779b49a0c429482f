"""Fixtures for the Thunderbird tests: the programs they need (skip locally, fail under CI=true)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.support import require_program


@dataclass(frozen=True, slots=True)
class ThunderbirdPrograms:
    thunderbird: str
    certutil: str


@pytest.fixture
def tb_programs() -> ThunderbirdPrograms:
    """Debian's ``thunderbird`` and ``certutil`` (libnss3-tools); a sync fixture so a skip reads clearly."""
    return ThunderbirdPrograms(
        thunderbird=require_program("thunderbird", package="thunderbird"),
        certutil=require_program("certutil", package="libnss3-tools"),
    )
