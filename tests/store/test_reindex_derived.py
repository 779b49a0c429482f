"""``maildird reindex`` rebuilds the caches derived from the messages as well as the header cache: the
ENVELOPE/BODY/BODYSTRUCTURE rows (``structcache``) and SEARCH's header texts (``searchcache``), so the
first FETCH of structures and the first header SEARCH after it open no message file; and SEARCH TEXT's
body rows (``message.search_bodies``)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from maildird.config import Config
from maildird.message.search_bodies import decode
from maildird.reindex import index_dir, reindex_user
from maildird.store.maildir.searchfile import CACHE_SUFFIX as SEARCH_SUFFIX
from maildird.store.maildir.searchfill import FILL_FIELDS
from maildird.store.maildir.structfile import CACHE_SUFFIX as STRUCT_SUFFIX
from tests.store.test_mailbox import deliver

MESSAGES = {
    "1700000000.M1P1.mda": b"From: Ann <a@example.org>\nTo: b@example.org\nSubject: one\n\nbody\n",
    "1700000001.M1P1.mda": (
        b"From: =?utf-8?q?J=C3=B6rg?= <j@example.org>\r\nSubject: two\r\n"
        b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\npart\r\n--x--\r\n"
    ),
    "1700000002.M1P1.mda": b"Subject: three, no body\n",
}


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as db:
        return list(db.execute(sql))


async def test_reindex_rebuilds_structures_and_search_texts(tmp_path: Path) -> None:
    maildir = tmp_path / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
    for base, raw in MESSAGES.items():
        deliver(maildir, base, raw, info=":2,S")
    config = Config.default_single_user(maildir, state_dir=tmp_path / "state")
    for _ in range(2):  # the second run starts from the first one's files and must rebuild them
        await reindex_user(config, "alice", maildir)
        (structs,) = index_dir(config, "alice").glob(f"*{STRUCT_SUFFIX}")
        (search,) = index_dir(config, "alice").glob(f"*{SEARCH_SUFFIX}")
        struct_rows = rows(structs, "SELECT uid, envelope, bodystructure FROM struct ORDER BY uid")
        assert [uid for uid, _, _ in struct_rows] == [1, 2, 3]
        assert all(envelope and bodystructure for _, envelope, bodystructure in struct_rows)
        assert b'"one"' in struct_rows[0][1] and b'"MIXED"' in struct_rows[1][2].upper()
        texts = rows(search, "SELECT field, uid, value FROM text ORDER BY field, uid")
        assert {(field, uid) for field, uid, _ in texts} == {(f, u) for f in FILL_FIELDS for u in (1, 2, 3)}
        values = {(field, uid): value for field, uid, value in texts}
        assert "ann" in str(values[("FROM", 1)]).lower() and "jörg" in str(values[("FROM", 2)]).lower()
        # SEARCH TEXT's body rows, one per message, each describing the whole file it came from.
        body_rows = rows(search, "SELECT uid, row FROM body ORDER BY uid")
        assert [uid for uid, _ in body_rows] == [1, 2, 3]
        decoded = [decode(bytes(row)) for _, row in body_rows]  # type: ignore[arg-type]
        sizes = sorted(len(raw) for raw in MESSAGES.values())
        assert all(r is not None for r in decoded)
        assert sorted(r.length for r in decoded if r is not None) == sizes
        # Poison both files: the next reindex must not keep anything from before.
        with sqlite3.connect(structs) as db:
            db.execute("UPDATE struct SET envelope = X'00'")
        with sqlite3.connect(search) as db:
            db.execute("UPDATE text SET value = 'poison'")
            db.execute("DELETE FROM body")
