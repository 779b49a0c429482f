"""FETCH lines formatted straight to bytes (``handlers.fetch_lines``) against the general path
(``fetch._render`` + ``responses.serialize``): the same octets for every command, over many messages,
flags, keywords, \\Recent, CONDSTORE/QRESYNC, UTF8=ACCEPT, IMAP4rev2, EXAMINE, NUL and 8-bit headers,
partials, implicit \\Seen and the per-message section budget (RFC 9051 §6.4.5, §7.5.2)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from maildird.handlers import fetch as fetch_mod
from maildird.handlers.fetch_lines import LinePlan
from maildird.imap import commands as cmd
from maildird.store.maildir.store import MaildirStore
from tests.support.maildirs import make_maildir

from .harness import Session
from .memstore import MemStore

FLAG_SETS = [
    frozenset(),
    frozenset({"\\Seen"}),
    frozenset({"\\Seen", "\\Answered", "\\Flagged"}),
    frozenset({"\\Deleted", "\\Draft", "$Forwarded"}),
    frozenset({"\\Seen", "$Junk", "Work", "zz-last", "$label1"}),
    frozenset({"Work"}),
]

HEADERS = [
    b"From: Bob <bob@example.com>\nTo: alice@example.com\nSubject: plain\n"
    b"Date: Tue, 05 Mar 2024 14:07:09 +0000\nMessage-ID: <a@x>\n\nbody\n",
    b"Received: from a by b\n\tfolded\nFrom: x\r\nSubject: mixed line ends\n\nbody\n",
    b"Subject: nul\0in header\nFrom: y\n\nbody with nul \0\n",
    b"Subject: =?utf-8?q?caf=C3=A9?=\nFrom: \xc3\xa9l\xc3\xa8ve <e@x>\nX-8bit: \xff\xfe\n\nb\n",
    b"Subject: no blank line\nFrom: z",
    b"\nbody only, no header\n",
    b"",
    b"From foo Mon Jan 1 00:00:00 2024\nFrom: after mbox line\ngarbage\n cont\nSubject: s\n\nx\n",
    b"References: <a@x>\n <b@x>\nIn-Reply-To: <b@x>\nContent-Type: text/plain;\n charset=utf-8\n"
    b"Reply-To: r@x\nCc: c@x\nBcc: d@x\nPriority: 1\nX-Priority: 1\nNewsgroups: a.b\n\nbody\n",
    b'Subject: "quoted" \\ backslash\nFrom: q\n\n',
]

THUNDERBIRD = (
    "BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID Priority X-Priority References "
    "Newsgroups In-Reply-To Content-Type Reply-To)]"
)

COMMANDS = [
    "FETCH 1:* (FLAGS)",
    "UID FETCH 1:* (UID FLAGS)",
    "FETCH 1:* (UID FLAGS)",
    "FETCH 1:* FAST",
    "FETCH 2:5 (INTERNALDATE UID RFC822.SIZE)",
    "UID FETCH 3,5:7 (FLAGS)",
    f"UID FETCH 1:* (UID RFC822.SIZE FLAGS {THUNDERBIRD})",
    "FETCH 1:* (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (From Subject Date)])",
    "FETCH 1:* (BODY.PEEK[HEADER])",
    "FETCH 1:* (RFC822.HEADER)",
    "FETCH 1:* (BODY.PEEK[HEADER.FIELDS.NOT (Received Subject)] FLAGS)",
    'FETCH 1:* (BODY.PEEK[HEADER.FIELDS ("Subject" FROM "X Odd")])',
    "FETCH 1:* (BODY.PEEK[HEADER]<0.20> BODY.PEEK[HEADER.FIELDS (Subject)]<5.100000>)",
    "FETCH 1:* (BODY.PEEK[HEADER]<100000.5>)",
    "FETCH 1:* (FLAGS FLAGS UID)",
    "FETCH 1:* (MODSEQ FLAGS)",
    "UID FETCH 1:* (FLAGS) (CHANGEDSINCE 3)",
    "FETCH 1:* (INTERNALDATE BODY.PEEK[HEADER.FIELDS (Subject)] MODSEQ)",
    "FETCH 1:4 (BODY[HEADER.FIELDS (Subject)])",  # sets \Seen: FLAGS added
    "FETCH 5:8 (RFC822.SIZE BODY[HEADER])",
    "FETCH 1:* (FLAGS BODY[HEADER])",
    "FETCH 1:* (ENVELOPE)",  # the general path on both sides
    "FETCH 1:* (SAVEDATE FLAGS)",
    # One whole section: LinePlan._section_lines, in each shape it has a branch for.
    "FETCH 1:* (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (From Subject Date)])",
    "FETCH 2:6 (RFC822.SIZE BODY.PEEK[HEADER.FIELDS (Subject)] FLAGS INTERNALDATE)",
    "UID FETCH 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From)]) (CHANGEDSINCE 1)",
    "FETCH 1:* (BODY.PEEK[HEADER.FIELDS.NOT (Received)] MODSEQ UID)",
]

SETUPS = [
    [],
    ["ENABLE CONDSTORE"],
    ["ENABLE QRESYNC"],
    ["ENABLE UTF8=ACCEPT"],
    ["ENABLE IMAP4rev2"],
]


def build_store() -> MemStore:
    store = MemStore()
    base = datetime(2024, 3, 5, 14, 7, 9, tzinfo=UTC)
    zones = [UTC, timezone(timedelta(hours=-7)), timezone(timedelta(hours=5, minutes=30))]
    for n, (header, flags) in enumerate(itertools.product(HEADERS, FLAG_SETS)):
        when = (base + timedelta(days=n, seconds=n)).astimezone(zones[n % len(zones)])
        store.add("INBOX", header, flags, when)
    store.create_sync("Sent")
    return store


def general_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(LinePlan, "for_items", classmethod(lambda cls, items: None))


async def run_both(
    monkeypatch: pytest.MonkeyPatch, setup: list[str], commands: list[str], *, select: str = "SELECT"
) -> list[tuple[bytes, bytes]]:
    fast, general = Session(build_store()), Session(build_store())
    out: list[tuple[bytes, bytes]] = []
    for n, line in enumerate([*setup, f"{select} INBOX", *commands]):
        a = await fast.cmd(f"a{n} {line}")
        with monkeypatch.context() as m:
            general_only(m)
            b = await general.cmd(f"a{n} {line}")
        out.append((a, b))
    return out


@pytest.mark.parametrize("setup", SETUPS, ids=lambda s: s[0] if s else "plain")
async def test_every_command_gives_the_same_octets(monkeypatch: pytest.MonkeyPatch, setup: list[str]) -> None:
    pairs = await run_both(monkeypatch, setup, COMMANDS)
    for (a, b), command in zip(pairs[len(setup) + 1 :], COMMANDS, strict=True):
        assert a == b, command
    # The comparison is not vacuous: the header fetch sent every message's fields.
    thunderbird = pairs[
        len(setup) + 1 + COMMANDS.index(f"UID FETCH 1:* (UID RFC822.SIZE FLAGS {THUNDERBIRD})")
    ]
    assert thunderbird[0].count(b" FETCH (UID ") == len(HEADERS) * len(FLAG_SETS)


async def test_examine_gives_the_same_octets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read-only: no implicit \\Seen, no \\Recent claimed."""
    for a, b in await run_both(monkeypatch, [], COMMANDS, select="EXAMINE"):
        assert a == b


async def test_condstore_seen_change_adds_uid_and_modseq(monkeypatch: pytest.MonkeyPatch) -> None:
    pairs = await run_both(monkeypatch, ["ENABLE CONDSTORE"], ["FETCH 1 (BODY[HEADER.FIELDS (Subject)])"])
    fast, general = pairs[-1]
    assert fast == general
    assert fast.startswith(b"* 1 FETCH (UID 1 BODY[HEADER.FIELDS (SUBJECT)] {18}\r\nSubject: plain\r\n\r\n")
    assert b" FLAGS (\\Seen \\Recent) MODSEQ (" in fast


async def test_section_budget_is_refused_at_the_same_message(monkeypatch: pytest.MonkeyPatch) -> None:
    """Twice the header plus 64 KiB of section data per message, then BAD [LIMIT]; the lines of the
    messages before the one that overflowed still go out."""
    big = b"Subject: big\nX-Pad: " + b"p" * 70_000 + b"\n\nbody\n"

    def store() -> MemStore:
        s = MemStore()
        s.add("INBOX", b"Subject: small\n\n", frozenset(), None)
        s.add("INBOX", big, frozenset(), None)
        return s

    command = (
        "a1 FETCH 1:2 (BODY.PEEK[HEADER]<0.70100> BODY.PEEK[HEADER]<1.70100> BODY.PEEK[HEADER]<2.70100>)"
    )
    fast, general = Session(store()), Session(store())
    await fast.cmd("a0 SELECT INBOX")
    await general.cmd("a0 SELECT INBOX")
    a = await fast.cmd(command)
    with monkeypatch.context() as m:
        general_only(m)
        b = await general.cmd(command)
    assert a == b
    assert a.startswith(b"* 1 FETCH (")
    assert b"* 2 FETCH" not in a
    assert a.endswith(
        b"a1 BAD [LIMIT] FETCH asks for more message data than twice the message; ask in fewer pieces.\r\n"
    )


def test_plan_covers_only_snapshot_and_top_level_header_items() -> None:
    body = cmd.FetchBody
    assert LinePlan.for_items((cmd.FetchAtt("UID"), cmd.FetchAtt("FLAGS"))) is not None
    assert LinePlan.for_items((body(cmd.Section((), "HEADER.FIELDS", ("From",)), peek=True),)) is not None
    assert LinePlan.for_items((cmd.FetchAtt("RFC822.HEADER"),)) is not None
    for item in [
        cmd.FetchAtt("ENVELOPE"),
        cmd.FetchAtt("SAVEDATE"),
        cmd.FetchAtt("RFC822"),
        body(cmd.Section(), peek=True),
        body(cmd.Section((), "TEXT"), peek=True),
        body(cmd.Section((1,), "HEADER"), peek=True),
        cmd.FetchBinary((1,), peek=True),
    ]:
        assert LinePlan.for_items((cmd.FetchAtt("UID"), item)) is None, item


async def test_maildir_store_header_blocks_give_the_same_octets(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Over the real Maildir store, whose ``read_messages(header_only=True)`` serves header blocks."""
    files = {
        f"cur/{1700000000 + n}.M{n}P1.host,S={len(h)}:2,{letters}": h
        for n, (h, letters) in enumerate(itertools.product(HEADERS, ["", "S", "FRS", "T"]))
    }
    root = make_maildir(tmp_path / "Maildir", {"INBOX": {"messages": [], "files": files}})
    mstore = MaildirStore(root, state_dir=tmp_path / "state", fsync=False)
    s = Session(mstore)
    await s.cmd("a0 ENABLE CONDSTORE")  # the first MODSEQ would announce HIGHESTMODSEQ once only
    await s.cmd("a1 SELECT INBOX")
    for n, line in enumerate(c for c in COMMANDS if ("BODY[" not in c and "HEADER]" not in c) or "PEEK" in c):
        a = await s.cmd(f"b{n} {line}")
        with monkeypatch.context() as m:
            general_only(m)
            b = await s.cmd(f"b{n} {line}")
        assert a == b, line
        if "RFC822.SIZE FLAGS BODY.PEEK" in line:
            assert a.count(b"FETCH (UID") == len(files)
    assert fetch_mod.LinePlan is LinePlan


async def test_recent_on_some_messages_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Another session claimed the first messages' \\Recent: only the later ones show it here."""
    store = build_store()
    other = Session(store)
    await other.cmd("o1 SELECT INBOX")
    for n in range(3):
        store.add("INBOX", HEADERS[n], FLAG_SETS[n], None)
    s = Session(store)
    await s.cmd("a0 SELECT INBOX")
    for n, line in enumerate(["UID FETCH 1:* (UID FLAGS)", "FETCH 1:* (FLAGS RFC822.SIZE)", COMMANDS[6]]):
        a = await s.cmd(f"b{n} {line}")
        with monkeypatch.context() as m:
            general_only(m)
            b = await s.cmd(f"b{n} {line}")
        assert a == b, line
        assert a.count(b"\\Recent") == 3, line


async def test_a_store_without_a_section_cache_renders_from_the_blocks() -> None:
    """A store without ``read_sections`` (this in-memory one) has its header blocks rendered per
    FETCH: a message whose stored octets change is answered with the new ones."""
    store = build_store()
    s = Session(store)
    await s.cmd("a0 SELECT INBOX")
    before = await s.cmd("a1 FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject)])")
    assert b"Subject: plain\r\n" in before
    message = store.folders["INBOX"].messages[1]
    message.data = message.data.replace(b"Subject: plain", b"Subject: other")
    after = await s.cmd("a2 FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject)])")
    assert b"Subject: other\r\n" in after


def test_plans_are_remembered_by_the_items_tuple() -> None:
    items = (cmd.FetchAtt("UID"), cmd.FetchAtt("FLAGS"))
    plan = LinePlan.for_items(items)
    assert plan is not None and LinePlan.for_items(items) is plan
    twin = tuple(list(items))
    assert twin is not items
    other = LinePlan.for_items(twin)  # an equal list in another tuple: planned again, the same way
    assert other is not None and other.items == plan.items
    general = (cmd.FetchAtt("UID"), cmd.FetchAtt("ENVELOPE"))
    assert LinePlan.for_items(general) is None and LinePlan.for_items(general) is None
