"""The header cache's memory layer bound and ``maildird reindex`` rebuilding the cache files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from maildird.config import Config
from maildird.message.parse import header_block
from maildird.reindex import index_dir, reindex_user
from maildird.store.maildir.headercache import CACHE_SUFFIX, ENTRY_OVERHEAD, MemoryLayer
from tests.store.test_mailbox import deliver


def test_memory_layer_stays_within_its_bound_and_drops_the_oldest() -> None:
    block = b"x" * 100
    cost = len(block) + ENTRY_OVERHEAD
    mem = MemoryLayer(limit=3 * cost)
    for uid in (1, 2, 3):
        mem.put((1, "g", 5, uid), block)
    assert mem.get((1, "g", 5, 1)) == block  # 1 is now the most recently used
    mem.put((1, "g", 5, 4), block)
    assert (len(mem), mem.used) == (3, 3 * cost)
    assert mem.get((1, "g", 5, 2)) is None  # the least recently used went
    assert [mem.get((1, "g", 5, u)) for u in (1, 3, 4)] == [block] * 3
    assert mem.get((2, "g", 5, 1)) is None and mem.get((1, "g", 6, 1)) is None  # other folder/incarnation
    mem.put((1, "g", 5, 9), b"y" * (3 * cost))  # larger than the whole bound: not kept
    assert mem.get((1, "g", 5, 9)) is None and mem.used == 3 * cost
    mem.put((1, "g", 5, 4), b"z")  # replacing an entry re-counts it
    assert mem.used == 2 * cost + 1 + ENTRY_OVERHEAD
    mem.pop((1, "g", 5, 4))
    mem.pop((1, "g", 5, 4))
    assert (len(mem), mem.used) == (2, 2 * cost)


MESSAGES = {
    "1700000000.M1P1.mda": b"From: a@example.org\nSubject: one\n\nbody\n",
    "1700000001.M1P1.mda": b"From: b@example.org\r\nSubject: two\r\n\r\nbody\r\n",
    "1700000002.M1P1.mda": b"Subject: three, no body\n",
}


async def test_reindex_drops_and_refills_the_header_cache(tmp_path: Path) -> None:
    maildir = tmp_path / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
        (maildir / ".Sent" / sub).mkdir(parents=True)
    for base, raw in MESSAGES.items():
        deliver(maildir, base, raw, info=":2,S")
    deliver(maildir / ".Sent", "1700000003.M1P1.mda", b"Subject: sent\n\nx\n", info=":2,S")
    (maildir / ".Sent" / "maildirfolder").touch()
    config = Config.default_single_user(maildir, state_dir=tmp_path / "state")
    await reindex_user(config, "alice", maildir)
    files = sorted(index_dir(config, "alice").glob(f"*{CACHE_SUFFIX}"))
    assert len(files) == 2
    rows = []
    for path in files:
        with sqlite3.connect(path) as db:
            rows.append(dict(db.execute("SELECT uid, data FROM header")))
            # Poison the cache: a reindex must not keep anything from before.
            db.execute("UPDATE header SET data = ?", (b"Subject: stale\n\n",))
    assert sorted(sorted(r.values()) for r in rows) == sorted(
        [sorted(header_block(raw) for raw in MESSAGES.values()), [b"Subject: sent\n\n"]]
    )
    await reindex_user(config, "alice", maildir)
    again = []
    for path in sorted(index_dir(config, "alice").glob(f"*{CACHE_SUFFIX}")):
        with sqlite3.connect(path) as db:
            again.append(dict(db.execute("SELECT uid, data FROM header")))
    assert sorted(again, key=len) == sorted(rows, key=len)
