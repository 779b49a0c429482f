"""The Maildir tree the interop tests serve, and the state every peer must end up with."""

from __future__ import annotations

from typing import Any

# Three folders (one nested), system flags, a keyword, and one unseen message still in new/.
CORPUS: dict[str, Any] = {
    "INBOX": [
        {"id": "<inbox-1@example.org>", "flags": "S", "subject": "Seen"},
        {"id": "<inbox-2@example.org>", "flags": "FS", "keywords": ["Work"], "subject": "Flagged"},
        {"id": "<inbox-3@example.org>", "new": True, "subject": "Unseen, in new/"},
        {"id": "<inbox-4@example.org>", "flags": "RS", "subject": "Answered", "line_ending": "\r\n"},
    ],
    "Archive": [
        {"id": "<archive-1@example.org>", "flags": "S", "subject": "Archived"},
    ],
    "Archive.2024": [
        {"id": "<archive-2024-1@example.org>", "flags": "DS", "subject": "Draft in a nested folder"},
    ],
}

SEEN = "\\Seen"
FLAGGED = "\\Flagged"
ANSWERED = "\\Answered"
DRAFT = "\\Draft"

# System flags per folder and Message-ID (mbsync 1.4 and offlineimap do not carry keywords to a Maildir).
EXPECTED_SYSTEM_FLAGS: dict[str, dict[str, frozenset[str]]] = {
    "INBOX": {
        "<inbox-1@example.org>": frozenset({SEEN}),
        "<inbox-2@example.org>": frozenset({FLAGGED, SEEN}),
        "<inbox-3@example.org>": frozenset(),
        "<inbox-4@example.org>": frozenset({ANSWERED, SEEN}),
    },
    "Archive": {"<archive-1@example.org>": frozenset({SEEN})},
    "Archive.2024": {"<archive-2024-1@example.org>": frozenset({DRAFT, SEEN})},
}

ALL_MESSAGE_IDS = sorted(mid for folder in EXPECTED_SYSTEM_FLAGS.values() for mid in folder)
INBOX_MESSAGE_IDS = sorted(EXPECTED_SYSTEM_FLAGS["INBOX"])
