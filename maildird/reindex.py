"""``maildird reindex``: rebuild a user's metadata cache from the Maildir itself.

The per-mailbox sidecar (``maildird.store.maildir.state``: sizes, INTERNALDATEs, mod-sequences, the
expunge log) and the caches beside it (``headercache``: each message's raw header block;
``sectioncache``: the header fields clients fetched, rendered; ``structcache``: ENVELOPE, BODY and
BODYSTRUCTURE; ``searchcache``: the decoded address and subject texts SEARCH compares, and the body
rows of SEARCH TEXT) live under
``<state_dir>/index/<user>`` and are only caches: everything in them can be rebuilt from the
Maildir. ``reindex`` removes that directory and opens every selectable mailbox read-only once, so
the rebuild (which reads every message file to learn its CRLF size where the file name carries no
``,W=``, every header for the header cache and the search texts, and parses every message for its
structures and body rows) happens now, not at the user's next SELECT, FETCH or SEARCH. The section cache is
refilled by the next header FETCH of each mailbox (which fields to render is the client's choice).
UIDs and UIDVALIDITY live in ``dovecot-uidlist`` and are not touched; mod-sequences restart from the
clock, so they still never go backwards (maildir-format.md §7.3).

Run it with the server stopped (or at least with the user logged out): a running server keeps
using the sidecar it had open until the folder is closed.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from maildird.config import Config
from maildird.store.base import MailboxInfo
from maildird.store.registry import Registry

if TYPE_CHECKING:
    from maildird.store.maildir.mailbox import MaildirMailbox

UNSELECTABLE = frozenset({"\\Noselect", "\\NonExistent"})

HEADER_BATCH = 256
"""Messages whose headers are read (and cached) per call while rebuilding the header cache."""

DERIVE_THREADS = trio.CapacityLimiter(1)
"""Worker threads deriving SEARCH TEXT's body rows (CPU-bound: one is enough beside the reads)."""


@dataclass(frozen=True, slots=True)
class Reindexed:
    """One mailbox rebuilt: its name and how many messages it holds."""

    mailbox: str
    messages: int


def index_dir(config: Config, user: str) -> Path:
    """Where a user's sidecar files live (the Maildir store plug-in's layout)."""
    return config.server.state_dir / "index" / user


async def _rebuild_derived(mailbox: MaildirMailbox, uids: list[int]) -> None:
    """Refill the caches derived from the messages: the search texts of the fields the fill-ahead
    keeps (``searchfill.FILL_FIELDS``, from the header blocks just cached), the ENVELOPE/BODY/
    BODYSTRUCTURE rows (``handlers.fetch_structs.prefill``: every message file is read and parsed
    once more, in worker threads) and, from the same reads, SEARCH TEXT's body rows
    (``message.search_bodies``), so a first SEARCH TEXT after a reindex opens only the files whose
    text is searched as stored."""
    from maildird.handlers.fetch_structs import prefill
    from maildird.message.search_bodies import derive_rows
    from maildird.message.search_fields import RECIPE
    from maildird.store.maildir.searchfill import FILL_FIELDS

    async def read_and_keep_rows(batch: list[int]) -> dict[int, bytes]:
        # The state directory was emptied first, so prefill reads every message: its reads are the
        # body rows' reads too (one read of each file instead of two).
        raws = await mailbox.read_messages(batch)
        ident, known = await mailbox.search_rows(batch, RECIPE)
        wanted = {uid: raw for uid, raw in raws.items() if raw and uid not in known}
        if wanted:
            rows = await trio.to_thread.run_sync(derive_rows, wanted, limiter=DERIVE_THREADS)
            await mailbox.keep_search_rows(ident, rows)
        return raws

    for i in range(0, len(uids), HEADER_BATCH):
        batch = uids[i : i + HEADER_BATCH]
        await mailbox.header_texts(FILL_FIELDS, batch, RECIPE)
        await prefill(mailbox.structures(), read_and_keep_rows, batch)


async def reindex_user(config: Config, user: str, maildir: Path) -> list[Reindexed]:
    """Drop ``user``'s cache and rebuild it for every selectable mailbox of ``maildir``."""
    from maildird.store.maildir.store import MaildirStore

    state_dir = index_dir(config, user)
    if state_dir.exists():
        shutil.rmtree(state_dir)
    store = MaildirStore(
        maildir,
        state_dir=state_dir,
        layout=config.mail.layout,
        special_use=dict(config.mail.special_use),
        subscriptions=config.mail.subscriptions,
        # Its own registry: folders another store of this process keeps open would hold the files
        # just removed (and skip the rebuild), and ours are closed when we are done.
        registry=Registry(),
    )
    done: list[Reindexed] = []
    try:
        boxes: list[MailboxInfo] = sorted(await store.list_mailboxes(), key=lambda info: info.name)
        for info in boxes:
            if info.attributes & UNSELECTABLE:
                continue
            mailbox = await store.open(info.name, readonly=True)
            try:
                snapshot = await mailbox.snapshot()
                uids = [m.uid for m in snapshot.messages]
                for i in range(0, len(uids), HEADER_BATCH):
                    await mailbox.read_messages(uids[i : i + HEADER_BATCH], header_only=True)
                await _rebuild_derived(mailbox, uids)
            finally:
                await mailbox.close()
            done.append(Reindexed(info.name, len(snapshot.messages)))
    finally:
        await store.close()
    return done
