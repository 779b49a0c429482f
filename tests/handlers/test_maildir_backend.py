"""The handlers over the real MaildirStore (a tmp Maildir), driven through ``handle()``.

The byte-exact tests elsewhere use the in-memory store, whose UIDVALIDITY and modseqs are small
and predictable; here the numbers the Maildir store picks are masked (``N``) and the files on disk
are checked.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from maildird.store.maildir.store import MaildirStore
from tests.support.maildirs import make_maildir, read_maildir_state

from .harness import Session

SPEC = {
    "INBOX": [
        {"id": "<m1@x>", "flags": "S", "subject": "one"},
        {"id": "<m2@x>", "new": True, "subject": "two"},
        {"id": "<m3@x>", "flags": "F", "subject": "three"},
    ],
    "Sent": [],
    "Work.Projects": [],
}


def mask(data: bytes) -> list[bytes]:
    return [re.sub(rb"\d{6,}", b"N", line) for line in data.split(b"\r\n")[:-1]]


@pytest.fixture
def maildir(tmp_path: Path) -> Path:
    return make_maildir(tmp_path / "Maildir", SPEC)


@pytest.fixture
def mstore(tmp_path: Path, maildir: Path) -> MaildirStore:
    return MaildirStore(maildir, state_dir=tmp_path / "state", fsync=False)


async def test_select_claims_new_and_fetch_sets_seen_on_disk(mstore: MaildirStore, maildir: Path) -> None:
    s = Session(mstore)
    assert mask(await s.cmd("a1 SELECT INBOX")) == [
        b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)",
        b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted.",
        b"* 3 EXISTS",
        b"* 1 RECENT",
        b"* OK [UNSEEN 2] First unseen is 2.",
        b"* OK [UIDVALIDITY N] UIDs valid.",
        b"* OK [UIDNEXT 4] Predicted next UID.",
        b"* OK [HIGHESTMODSEQ N] Highest.",
        b"a1 OK [READ-WRITE] SELECT completed.",
    ]
    assert not list((maildir / "new").iterdir())  # claimed: moved to cur/
    out = mask(await s.cmd("a2 FETCH 2 (FLAGS BODY[HEADER.FIELDS (SUBJECT)])"))
    assert out[0] == b"* 2 FETCH (FLAGS (\\Seen \\Recent) BODY[HEADER.FIELDS (SUBJECT)] {16}"
    assert read_maildir_state(maildir)["INBOX"]["<m2@x>"] == frozenset({"\\Seen"})


async def test_examine_leaves_new_alone(mstore: MaildirStore, maildir: Path) -> None:
    s = Session(mstore)
    # Recent (still in new/) is reported, not claimed: the file stays where it is (RFC 3501 §6.3.2).
    assert b"* 1 RECENT" in await s.cmd("a1 EXAMINE INBOX")
    assert len(list((maildir / "new").iterdir())) == 1
    await s.cmd("a2 FETCH 2 (BODY[])")
    assert read_maildir_state(maildir)["INBOX"]["<m2@x>"] == frozenset()
    assert len(list((maildir / "new").iterdir())) == 1
    await s.cmd("a3 STATUS INBOX (MESSAGES RECENT UNSEEN)")
    assert len(list((maildir / "new").iterdir())) == 1


async def test_store_expunge_copy_move_on_disk(mstore: MaildirStore, maildir: Path) -> None:
    s = Session(mstore)
    await s.cmd("a1 SELECT INBOX")
    assert mask(await s.cmd("a2 STORE 1 +FLAGS ($Forwarded \\Deleted)")) == [
        b"* 1 FETCH (FLAGS (\\Deleted \\Seen $Forwarded))",
        b"a2 OK STORE completed.",
    ]
    assert mask(await s.cmd("a3 COPY 1:2 Sent")) == [b"a3 OK [COPYUID N 1:2 1:2] COPY completed."]
    assert mask(await s.cmd("a4 EXPUNGE")) == [b"* 1 EXPUNGE", b"a4 OK EXPUNGE completed."]
    assert mask(await s.cmd("a5 UID MOVE 3 Work.Projects")) == [
        b"* OK [COPYUID N 3 1] Moved UIDs.",
        b"* 2 EXPUNGE",
        b"a5 OK UID MOVE completed.",
    ]
    state = read_maildir_state(maildir)
    assert set(state["INBOX"]) == {"<m2@x>"}
    assert state["Sent"]["<m1@x>"] == frozenset({"\\Seen", "\\Deleted", "$Forwarded"})
    assert state["Work.Projects"]["<m3@x>"] == frozenset({"\\Flagged"})


async def test_two_sessions_on_one_maildir(mstore: MaildirStore, tmp_path: Path, maildir: Path) -> None:
    other = MaildirStore(maildir, state_dir=tmp_path / "state", fsync=False)
    a, b = Session(mstore), Session(other)
    await a.cmd("a1 SELECT INBOX")
    await b.cmd("b1 SELECT INBOX")
    await a.cmd("a2 STORE 2 +FLAGS.SILENT (\\Deleted)")
    await a.cmd("a3 EXPUNGE")
    out = mask(await b.cmd("b2 FETCH 1:* (UID)"))
    assert out == [
        b"* 1 FETCH (UID 1)",
        b"* 2 FETCH (UID 2)",
        b"* 3 FETCH (UID 3)",
        b"b2 OK FETCH completed.",
    ]
    assert mask(await b.cmd("b3 NOOP")) == [b"* 2 EXPUNGE", b"b3 OK NOOP completed."]


async def test_append_list_status_search(mstore: MaildirStore, maildir: Path) -> None:
    s = Session(mstore)
    await s.cmd("a1 SELECT INBOX")
    data = b"Subject: added\r\n\r\nneedle in here\r\n"
    out = mask(await s.cmd(b"a2 APPEND INBOX (\\Draft) {%d}\r\n" % len(data) + data))
    assert out[0] == b"* 4 EXISTS"
    assert out[-1] == b"a2 OK [APPENDUID N 4] APPEND completed."
    assert mask(await s.cmd("a3 UID SEARCH BODY needle")) == [b"* SEARCH 4", b"a3 OK UID SEARCH completed."]
    assert mask(await s.cmd('a4 LIST "" *')) == [
        b'* LIST (\\HasNoChildren) "." INBOX',
        b'* LIST (\\HasNoChildren \\Sent) "." Sent',
        b'* LIST (\\Noselect \\HasChildren) "." Work',
        b'* LIST (\\HasNoChildren) "." Work.Projects',
        b"a4 OK LIST completed.",
    ]
    out = mask(await s.cmd("a5 STATUS INBOX (MESSAGES UNSEEN DELETED)"))
    assert out == [b"* STATUS INBOX (MESSAGES 4 UNSEEN 3 DELETED 0)", b"a5 OK STATUS completed."]


async def test_emptied_file_is_never_served_as_an_empty_body(mstore: MaildirStore, maildir: Path) -> None:
    """Thunderbird deletes mail it receives with a zero-length body (peers.md §5)."""
    s = Session(mstore)
    await s.cmd("a1 SELECT INBOX")
    victim = next(p for p in (maildir / "cur").iterdir() if ":2,F" in p.name)
    victim.write_bytes(b"")
    assert (
        await s.cmd("a2 FETCH 3 (BODY.PEEK[])") == b"a2 NO [SERVERBUG] Some messages could not be read.\r\n"
    )
