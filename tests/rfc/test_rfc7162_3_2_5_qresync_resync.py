"""RFC 7162 §3.2.5 (SELECT ... QRESYNC) and §3.2.10 (VANISHED (EARLIER)): a disconnected client resyncs.

Client A selects INBOX with CONDSTORE (§3.1.8) and keeps an offline cache: UIDVALIDITY, HIGHESTMODSEQ and
each UID's flags. While A is away, client B changes flags, adds keywords, expunges two messages and appends
one; an outside process (a local MUA) renames a file in cur/ to change its flags. A comes back with
``ENABLE QRESYNC`` and ``SELECT INBOX (QRESYNC (uidvalidity modseq known-uids))``; applying only the
``VANISHED (EARLIER)`` and ``FETCH`` responses of that SELECT to its cache, it must end with exactly the
server's state -- checked against a full ``UID FETCH 1:* (FLAGS)`` and against the Maildir on disk.

RFC 7162 §3.2.5: with known UIDs given, the server reports flag changes (FETCH with UID, FLAGS, MODSEQ)
and expunges (VANISHED (EARLIER)) only for those UIDs; messages added since the client's last visit are
learned from EXISTS and UIDNEXT, so the client fetches ``UID FETCH <old UIDNEXT>:* (FLAGS)`` for them
(RFC 7162 §6, "fetch the new messages"), as Thunderbird and Dovecot's own tools do.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import trio

from tests.conftest import RunningServer
from tests.support.maildirs import read_maildir_messages, read_maildir_state

SPEC = {
    "INBOX": [
        {"id": "<r1@example.org>", "flags": "S"},
        {"id": "<r2@example.org>", "flags": ""},
        {"id": "<r3@example.org>", "flags": "FS", "keywords": ["Work"]},
        {"id": "<r4@example.org>", "flags": "R"},
        {"id": "<r5@example.org>", "flags": ""},
        {"id": "<r6@example.org>", "flags": "S"},
        {"id": "<r7@example.org>", "flags": "D"},
    ]
}

FETCH_FLAGS = re.compile(rb"\* (\d+) FETCH \((.*)\)\r\n")
UID_ITEM = re.compile(rb"UID (\d+)")
FLAGS_ITEM = re.compile(rb"FLAGS \(([^)]*)\)")
MODSEQ_ITEM = re.compile(rb"MODSEQ \((\d+)\)")
VANISHED = re.compile(rb"\* VANISHED \(EARLIER\) ([0-9:,]+)\r\n")
MESSAGE_ID = re.compile(rb"Message-ID: (<[^>]+>)", re.IGNORECASE)
# Bounded wait for the server to notice the outside rename (its watcher), polled with NOOP.
OUTSIDE_CHANGE_POLLS = 200
POLL_INTERVAL = 0.05

Cache = dict[int, frozenset[str]]


def code_number(lines: list[bytes], name: bytes) -> int:
    match = re.search(rb"\[" + name + rb" (\d+)\]", b"".join(lines))
    assert match is not None, (name, lines)
    return int(match.group(1))


def parse_fetch_flags(lines: list[bytes]) -> tuple[Cache, dict[int, int]]:
    """{uid: flags} and {uid: modseq} from FETCH responses that carry UID and FLAGS (\\Recent dropped: it is
    session state, not part of the cache)."""
    flags: Cache = {}
    modseqs: dict[int, int] = {}
    for line in lines:
        match = FETCH_FLAGS.fullmatch(line)
        if match is None:
            continue
        items = match.group(2)
        uid = UID_ITEM.search(items)
        flag_list = FLAGS_ITEM.search(items)
        assert uid is not None, f"FETCH without UID under QRESYNC (RFC 7162 §3.2.4): {line!r}"
        if flag_list is not None:
            flags[int(uid.group(1))] = frozenset(flag_list.group(1).decode().split()) - {"\\Recent"}
        modseq = MODSEQ_ITEM.search(items)
        if modseq is not None:
            modseqs[int(uid.group(1))] = int(modseq.group(1))
    return flags, modseqs


def expand(uid_set: bytes) -> set[int]:
    uids: set[int] = set()
    for part in uid_set.decode().split(","):
        low, _, high = part.partition(":")
        uids.update(range(int(low), int(high or low) + 1))
    return uids


def uid_set(uids: list[int]) -> str:
    return ",".join(str(u) for u in sorted(uids))


def rename_flags_outside(maildir: Path, message_id: str, letters: str) -> None:
    """What a local MUA does: rename cur/<base>:2,<old> to cur/<base>:2,<letters> (maildir-format.md §1.5)."""
    (message,) = [m for m in read_maildir_messages(maildir)["INBOX"] if m.message_id == message_id]
    message.path.rename(message.path.with_name(f"{message.base}:2,{letters}"))


@pytest.mark.maildir(SPEC)
async def test_qresync_resync_after_changes_by_another_client_and_an_outside_process(
    imap_server: RunningServer,
) -> None:
    # --- A: first session, builds its cache with CONDSTORE (RFC 7162 §3.1.8, §3.1.4.1).
    a = await imap_server.login()
    selected = await a.cmd("a1 SELECT INBOX (CONDSTORE)")
    assert selected[-1] == b"a1 OK [READ-WRITE] SELECT completed.\r\n"
    uidvalidity = code_number(selected, b"UIDVALIDITY")
    highestmodseq = code_number(selected, b"HIGHESTMODSEQ")
    uidnext = code_number(selected, b"UIDNEXT")
    assert uidnext == 8
    fetched = await a.cmd("a2 UID FETCH 1:* (FLAGS)")
    cache, _ = parse_fetch_flags(fetched)
    assert sorted(cache) == [1, 2, 3, 4, 5, 6, 7]
    assert cache[3] == frozenset({"\\Flagged", "\\Seen", "Work"})
    ids = await a.cmd("a3 UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
    uid_of_id = {
        MESSAGE_ID.search(line).group(1).decode(): int(UID_ITEM.search(line).group(1))  # type: ignore[union-attr]
        for line in ids
        if line.startswith(b"* ")
    }
    assert (await a.cmd("a4 LOGOUT"))[-1] == b"a4 OK LOGOUT completed.\r\n"
    await a.aclose()

    # --- B: flags, keywords, expunges, an append.
    b = await imap_server.login()
    await b.cmd("b1 SELECT INBOX")
    assert (await b.cmd("b2 UID STORE 1 -FLAGS.SILENT (\\Seen)"))[-1].startswith(b"b2 OK")
    assert (await b.cmd("b3 UID STORE 2 +FLAGS.SILENT (\\Seen \\Answered)"))[-1].startswith(b"b3 OK")
    assert (await b.cmd("b4 UID STORE 4 +FLAGS.SILENT ($Forwarded Work)"))[-1].startswith(b"b4 OK")
    assert (await b.cmd("b5 UID STORE 7 FLAGS.SILENT (Personal)"))[-1].startswith(b"b5 OK")
    assert (await b.cmd("b6 UID STORE 3,5 +FLAGS.SILENT (\\Deleted)"))[-1].startswith(b"b6 OK")
    expunged = await b.cmd("b7 EXPUNGE")
    assert expunged == [
        b"* 5 EXPUNGE\r\n",
        b"* 3 EXPUNGE\r\n",
        b"b7 OK EXPUNGE completed.\r\n",
    ] or expunged == [
        b"* 3 EXPUNGE\r\n",
        b"* 4 EXPUNGE\r\n",
        b"b7 OK EXPUNGE completed.\r\n",
    ], expunged
    new = b"Message-ID: <r8@example.org>\r\nSubject: while A was away\r\n\r\nhello\r\n"
    appended = await b.cmd(b"b8 APPEND INBOX (\\Flagged Urgent) {%d}\r\n%s" % (len(new), new))
    match = re.fullmatch(rb"b8 OK \[APPENDUID (\d+) (\d+)\] APPEND completed\.\r\n", appended[-1])
    assert match is not None, appended
    assert int(match.group(1)) == uidvalidity
    new_uid = int(match.group(2))
    assert new_uid == 8
    await b.cmd("b9 LOGOUT")
    await b.aclose()

    # --- An outside process flags message 6 (S -> FS) by renaming its file in cur/.
    rename_flags_outside(imap_server.maildir, "<r6@example.org>", "FS")
    # B's view waits until the server has seen the rename, so A's SELECT cannot race the watcher.
    watcher = await imap_server.login()
    await watcher.cmd("w1 EXAMINE INBOX")
    for _ in range(OUTSIDE_CHANGE_POLLS):
        lines = await watcher.cmd("w2 UID FETCH 6 (FLAGS)")
        if b"\\Flagged" in b"".join(lines):
            break
        await trio.sleep(POLL_INTERVAL)
    else:
        raise AssertionError(f"the server never saw the outside rename: {lines!r}")
    await watcher.aclose()

    # --- A reconnects and resyncs with QRESYNC (RFC 7162 §3.2.3, §3.2.5).
    a = await imap_server.login()
    assert await a.cmd("a5 ENABLE QRESYNC") == [b"* ENABLED QRESYNC\r\n", b"a5 OK ENABLE completed.\r\n"]
    known = uid_set(list(cache))
    resync = await a.cmd(f"a6 SELECT INBOX (QRESYNC ({uidvalidity} {highestmodseq} {known}))")
    assert resync[-1] == b"a6 OK [READ-WRITE] SELECT completed.\r\n", resync
    assert code_number(resync, b"UIDVALIDITY") == uidvalidity
    new_highest = code_number(resync, b"HIGHESTMODSEQ")
    assert new_highest > highestmodseq, "modseqs never go backwards (RFC 7162 §3.1.1)"
    assert b"* 6 EXISTS\r\n" in resync

    # VANISHED (EARLIER) comes before the FETCHes (§3.2.5.2) and names exactly the expunged UIDs.
    vanished_lines = [i for i, line in enumerate(resync) if VANISHED.fullmatch(line)]
    fetch_lines = [i for i, line in enumerate(resync) if FETCH_FLAGS.fullmatch(line)]
    assert vanished_lines and fetch_lines, resync
    assert max(vanished_lines) < min(fetch_lines), resync
    vanished: set[int] = set()
    for i in vanished_lines:
        vanished |= expand(VANISHED.fullmatch(resync[i]).group(1))  # type: ignore[union-attr]
    assert vanished == {3, 5}

    changed, changed_modseqs = parse_fetch_flags(resync)
    # Known messages 1, 2, 4, 6 (outside) and 7 changed; nothing else is reported.
    assert set(changed) == {1, 2, 4, 6, 7}, resync
    assert all(highestmodseq < m <= new_highest for m in changed_modseqs.values()), resync

    for uid in vanished:
        cache.pop(uid, None)
    cache.update(changed)
    assert code_number(resync, b"UIDNEXT") == new_uid + 1
    fresh, fresh_modseqs = parse_fetch_flags(await a.cmd(f"a7 UID FETCH {uidnext}:* (FLAGS MODSEQ)"))
    assert set(fresh) == {new_uid}
    assert highestmodseq < fresh_modseqs[new_uid] <= new_highest
    cache.update(fresh)

    # --- The cache equals the server's state ...
    full, _ = parse_fetch_flags(await a.cmd("a8 UID FETCH 1:* (FLAGS)"))
    assert cache == full
    assert cache == {
        1: frozenset(),
        2: frozenset({"\\Seen", "\\Answered"}),
        4: frozenset({"\\Answered", "$Forwarded", "Work"}),
        6: frozenset({"\\Flagged", "\\Seen"}),
        7: frozenset({"Personal"}),
        new_uid: frozenset({"\\Flagged", "Urgent"}),
    }
    # ... and the Maildir on disk (Message-ID -> flags, keywords via dovecot-keywords).
    uid_of_id["<r8@example.org>"] = new_uid
    on_disk = read_maildir_state(imap_server.maildir)["INBOX"]
    assert {uid_of_id[mid]: flags for mid, flags in on_disk.items()} == cache
