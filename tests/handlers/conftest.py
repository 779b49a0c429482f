from __future__ import annotations

import pytest

from .harness import WHEN, message
from .memstore import MemStore


@pytest.fixture
def store() -> MemStore:
    """INBOX with three messages (the first seen), Sent, and a parent-only hierarchy Work.Projects."""
    s = MemStore()
    s.add("INBOX", message("one"), frozenset({"\\Seen"}), WHEN)
    s.add("INBOX", message("two"), frozenset(), WHEN)
    s.add("INBOX", message("three", "Third body.\nLine two.\n"), frozenset({"\\Flagged"}), WHEN)
    s.create_sync("Sent")
    s.create_sync("Work.Projects")
    return s
