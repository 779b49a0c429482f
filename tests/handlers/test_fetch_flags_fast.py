"""FETCH of snapshot items from the lines of the view's run (``handlers.fetch_flags``) against the general
path (``fetch_render.render`` + ``responses.serialize``): the same octets over random mailboxes and
histories (keywords, \\Recent, CONDSTORE/QRESYNC, CHANGEDSINCE, VANISHED, IMAP4rev2, EXAMINE, expunges
held back and sent, UID sets with holes, ``*``, ``$``, another session's and this session's STOREs),
through the direct, building and cached ways; and the kept lines never outlive what they show."""

from __future__ import annotations

import gc
import itertools
import os
import random
from array import array
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from maildird.handlers import fetch_flags
from maildird.handlers.fetch_flags import LinesCache, LineShape, RunLines
from maildird.handlers.fetch_lines import LinePlan
from maildird.imap import commands as cmd
from maildird.store.base import MessageInfo, Snapshot
from maildird.store.maildir.store import MaildirStore
from maildird.store.view import BadSequence, SelectedView
from maildird.store.view_runs import Run
from tests.support.maildirs import make_maildir

from .harness import Session, message
from .memstore import MemStore

FLAG_POOL = ["\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft", "$Forwarded", "$Junk", "Work", "zz"]
ITEM_LISTS = [
    "(UID FLAGS)",
    "(FLAGS)",
    "FLAGS",
    "(FLAGS UID)",
    "(MODSEQ FLAGS)",
    "(FLAGS MODSEQ UID)",
    "FAST",
    "(RFC822.SIZE FLAGS INTERNALDATE)",
    "(UID)",
    "(INTERNALDATE)",
    "(FLAGS FLAGS)",
]
SETUPS = [[], ["ENABLE CONDSTORE"], ["ENABLE QRESYNC"], ["ENABLE IMAP4rev2"], ["ENABLE CONDSTORE IMAP4rev2"]]
SEEDS = 200
"""Random histories per way (each a few FETCHes of up to 35 messages among changes)."""
WAYS = {
    # name: (BUILD_MIN_LINES, BUILD_FRACTION, FIRST_ROUND, ROUND)
    "direct": (10**9, 1, 256, 2048),
    "direct-rounds": (10**9, 1, 1, 4),
    "build": (1, 10**9, 3, 3),
    "build-rounds": (1, 10**9, 1, 5),
    "default": (
        fetch_flags.BUILD_MIN_LINES,
        fetch_flags.BUILD_FRACTION,
        fetch_flags.FIRST_ROUND,
        fetch_flags.ROUND,
    ),
    "build-one-round": (1, 10**9, 10**6, 10**6),
}


def general_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither LinePlan nor fetch_flags: ``fetch`` renders every message on the general path."""
    monkeypatch.setattr(LinePlan, "for_items", classmethod(lambda cls, items: None))


class CountingCache(LinesCache):
    """The cache, counting the lines it was given and the lookups it answered."""

    def __init__(self) -> None:
        super().__init__()
        self.puts = 0
        self.hits = 0

    def get(self, run: Run, shape: LineShape) -> RunLines | None:
        found = super().get(run, shape)
        self.hits += found is not None
        return found

    def put(self, run: Run, shape: LineShape, lines: RunLines) -> None:
        self.puts += 1
        super().put(run, shape, lines)


def use_way(monkeypatch: pytest.MonkeyPatch, way: str) -> CountingCache:
    least, fraction, first, size = WAYS[way]
    monkeypatch.setattr(fetch_flags, "BUILD_MIN_LINES", least)
    monkeypatch.setattr(fetch_flags, "BUILD_FRACTION", fraction)
    monkeypatch.setattr(fetch_flags, "FIRST_ROUND", first)
    monkeypatch.setattr(fetch_flags, "ROUND", size)
    cache = CountingCache()
    monkeypatch.setattr(fetch_flags, "LINES", cache)
    return cache


def random_store(rng: random.Random) -> MemStore:
    store = MemStore()
    base = datetime(2024, 3, 5, 14, 7, 9, tzinfo=UTC)
    for n in range(rng.randrange(0, 30)):
        flags = frozenset(rng.sample(FLAG_POOL, rng.randrange(0, 4)))
        store.add("INBOX", message(f"m{n}"), flags, base + timedelta(hours=n * 7))
    # Most were delivered long ago: only some are \\Recent for the session that selects first.
    folder = store.folders["INBOX"]
    folder.unclaimed = {u for u in folder.unclaimed if rng.random() < 0.2}
    return store


def random_set(rng: random.Random, top: int) -> str:
    """A sequence set: single numbers, ranges either way round, ``*``, some past the end."""

    def number() -> str:
        return "*" if rng.random() < 0.2 else str(rng.randrange(1, top + 3))

    parts = []
    for _ in range(rng.randrange(1, 4)):
        parts.append(number() if rng.random() < 0.4 else f"{number()}:{number()}")
    return ",".join(parts)


def view_run(session: Session) -> Run:
    assert session.ctx.selected is not None
    return fetch_flags.view_parts(session.ctx.selected.view)[0]


class World:
    """One store and two sessions on it; ``general`` worlds answer FETCH on the general path."""

    def __init__(self, store: MemStore, general: bool, monkeypatch: pytest.MonkeyPatch) -> None:
        self.store = store
        self.general = general
        self.monkeypatch = monkeypatch
        self.sessions = {"a": Session(store), "b": Session(store)}

    async def cmd(self, who: str, line: str) -> bytes:
        if not self.general:
            return await self.sessions[who].cmd(line)
        with self.monkeypatch.context() as m:
            general_only(m)
            return await self.sessions[who].cmd(line)


def touch(store: MemStore, index: int) -> None:
    """Another process moves a message's INTERNALDATE (its file's mtime): a change in other fields than
    flags and modseq, which a view keeps its own info for until it reports the message again
    (``SelectedView._told``)."""
    folder = store.folders["INBOX"]
    if folder.messages:
        m = folder.messages[sorted(folder.messages)[index % len(folder.messages)]]
        m.internaldate += timedelta(days=1)
        folder.version += 1


def script(rng: random.Random, condstore: bool) -> list[tuple[str, str]]:
    """A random history: a's FETCHes (UID or not, CHANGEDSINCE, $) among both sessions' changes."""
    steps: list[tuple[str, str]] = []
    last: tuple[str, bool] | None = None
    for n in range(rng.randrange(4, 14)):
        roll = rng.random()
        top = 35
        if roll < 0.5:
            if last is None or rng.random() < 0.4:  # else the same lines again, another set
                last = (rng.choice(ITEM_LISTS), rng.random() < 0.6)
            items, uid = last
            where = "$" if rng.random() < 0.08 else random_set(rng, top)
            modifier = ""
            if condstore and rng.random() < 0.3:
                modifier = f" (CHANGEDSINCE {rng.randrange(1, 40)})"
                if uid and rng.random() < 0.5:
                    modifier = f" (CHANGEDSINCE {rng.randrange(1, 40)} VANISHED)"
            steps.append(("a", f"{'UID ' if uid else ''}FETCH {where} {items}{modifier}"))
        elif roll < 0.6:
            steps.append(
                ("a", f"SEARCH RETURN (SAVE) {rng.choice(['FLAGGED', 'UNSEEN', 'ALL', 'KEYWORD Work'])}")
            )
        elif roll < 0.75:
            who = rng.choice("ab")
            flags = " ".join(rng.sample(FLAG_POOL, rng.randrange(1, 3)))
            op = rng.choice(["+FLAGS", "-FLAGS", "FLAGS", "+FLAGS.SILENT"])
            steps.append(
                (who, f"{'UID ' if rng.random() < 0.3 else ''}STORE {random_set(rng, top)} {op} ({flags})")
            )
        elif roll < 0.82:
            steps.append((rng.choice("ab"), "EXPUNGE"))
        elif roll < 0.85:
            steps.append(("deliver", f"m-new-{n}"))
        elif roll < 0.88:
            steps.append(("touch", str(rng.randrange(0, 40))))
        elif roll < 0.94:
            steps.append(("b", "NOOP"))
        else:
            steps.append(("a", "NOOP"))
    return steps


async def play(monkeypatch: pytest.MonkeyPatch, seed: int) -> int:
    """Run one random history in a fast and a general world; every response must be the same. The
    number of FETCH lines compared."""
    rng = random.Random(seed)
    setup = rng.choice(SETUPS)
    select = "EXAMINE" if rng.random() < 0.15 else "SELECT"
    worlds = [World(random_store(random.Random(seed)), general, monkeypatch) for general in (False, True)]
    steps = [*((("a", s)) for s in setup), ("a", f"{select} INBOX")]
    if rng.random() < 0.7:
        steps.append(("b", "SELECT INBOX"))
    steps += script(rng, any("CONDSTORE" in s or "QRESYNC" in s for s in setup))
    lines = 0
    for n, (who, line) in enumerate(steps):
        outs = []
        for world in worlds:
            if who == "deliver":
                world.store.add("INBOX", message(line), frozenset({"$Junk"}) if n % 2 else frozenset())
                outs.append(b"")
            elif who == "touch":
                touch(world.store, int(line))
                outs.append(b"")
            else:
                outs.append(await world.cmd(who, f"t{n} {line}"))
        assert outs[0] == outs[1], (seed, line)
        if "FETCH" in line:
            lines += outs[0].count(b" FETCH (")
    return lines


@pytest.mark.parametrize("way", sorted(WAYS))
async def test_random_histories_give_the_same_octets(monkeypatch: pytest.MonkeyPatch, way: str) -> None:
    cache = use_way(monkeypatch, way)
    lines = 0
    for seed in range(SEEDS):
        lines += await play(monkeypatch, seed)
    assert lines > 2000  # not vacuous: many lines were compared
    if way.startswith("build"):
        assert cache.puts > 100 and cache.hits > 50  # lines were built, and answered from
    else:  # below BUILD_MIN_LINES (these mailboxes are small): formatted per FETCH
        assert cache.puts == 0


@pytest.mark.parametrize("way", sorted(WAYS))
async def test_recent_and_told_lines_are_the_views_own(monkeypatch: pytest.MonkeyPatch, way: str) -> None:
    """Messages delivered after the SELECT are \\Recent for the session whose refresh claimed them
    (their FETCH FLAGS say so, the run's lines do not); IMAP4rev2 has no \\Recent."""
    use_way(monkeypatch, way)
    for setup in ([], ["ENABLE IMAP4rev2"]):
        worlds = [World(random_store(random.Random(7)), general, monkeypatch) for general in (False, True)]
        outs: list[list[bytes]] = [[], []]
        for i, world in enumerate(worlds):
            await world.cmd("b", "b1 SELECT INBOX")  # claims the first messages' \\Recent
            for n, line in enumerate([*setup, "SELECT INBOX", "UID FETCH 1:* (UID FLAGS)"]):
                await world.cmd("a", f"s{n} {line}")
            for n in range(3):
                world.store.add("INBOX", message(f"late{n}"), frozenset({"\\Seen"}) if n else frozenset())
            for n, line in enumerate(
                ["NOOP", "UID FETCH 1:* (UID FLAGS)", "FETCH 2:* (FLAGS)", "FETCH * FLAGS"]
            ):
                outs[i].append(await world.cmd("a", f"r{n} {line}"))
        assert outs[0] == outs[1]
        recent = b"".join(outs[0][1:]).count(b"\\Recent")
        assert recent == (0 if setup else 7)


async def test_a_store_is_seen_by_the_next_fetch(monkeypatch: pytest.MonkeyPatch) -> None:
    """This session's STORE and another session's: the FETCH after them shows the new flags, not
    the kept lines of the run before (which the first FETCH built)."""
    cache = use_way(monkeypatch, "build")
    store = MemStore()
    for n in range(5):
        store.add("INBOX", message(f"m{n}"), frozenset({"\\Seen"}))
    a, b = Session(store), Session(store)
    await b.cmd("b1 SELECT INBOX")  # b claims \Recent: a's lines all come from its run
    await a.cmd("a1 SELECT INBOX")
    first = await a.cmd("a2 UID FETCH 1:* (UID FLAGS)")
    assert b"* 2 FETCH (UID 2 FLAGS (\\Seen))\r\n" in first
    assert cache.puts == 1 and len(cache) == 1
    # Kept alive (as another session's view could): its lines stay in the cache and must not be used.
    old_run = view_run(a)
    assert await a.cmd("a3 STORE 2 +FLAGS.SILENT (\\Flagged)") == b"a3 OK STORE completed.\r\n"
    second = await a.cmd("a4 UID FETCH 1:* (UID FLAGS)")
    assert b"* 2 FETCH (UID 2 FLAGS (\\Flagged \\Seen))\r\n" in second
    assert cache.puts == 2 and len(cache) == 2 and view_run(a) is not old_run
    await b.cmd("b2 STORE 3 FLAGS (Work)")
    # Before a's refresh its view still shows the old flags (the general path too); the update follows.
    third = await a.cmd("a5 UID FETCH 1:* (UID FLAGS)")
    assert cache.hits == 1
    assert third.startswith(second.replace(b"a4 OK UID FETCH completed.\r\n", b""))
    assert third.endswith(
        b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft Work)\r\n"
        b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft Work \\*)] Flags permitted.\r\n"
        b"* 3 FETCH (UID 3 FLAGS (Work))\r\n"
        b"a5 OK UID FETCH completed.\r\n"
    )
    fourth = await a.cmd("a6 FETCH 1:* (FLAGS)")
    assert b"* 3 FETCH (FLAGS (Work))\r\n" in fourth
    assert b"* 2 FETCH (FLAGS (\\Flagged \\Seen))\r\n" in fourth
    b_view = await b.cmd("b3 FETCH 1:* (FLAGS)")
    assert b"* 2 FETCH (FLAGS (\\Flagged \\Seen \\Recent))\r\n" in b_view  # b's own \Recent
    with monkeypatch.context() as m:
        general_only(m)
        assert await a.cmd("a6 FETCH 1:* (FLAGS)") == fourth
        assert await b.cmd("b3 FETCH 1:* (FLAGS)") == b_view


async def test_lines_of_a_run_are_dropped_with_it(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = use_way(monkeypatch, "build")
    store = MemStore()
    for n in range(4):
        store.add("INBOX", message(f"m{n}"))
    store.folders["INBOX"].unclaimed.clear()  # no \\Recent: every line from the run's lines
    a = Session(store)
    await a.cmd("a1 SELECT INBOX")
    await a.cmd("a2 FETCH 1:* (FLAGS)")
    assert len(cache) == 1 and cache.size > 0
    await a.cmd("a3 STORE 1 +FLAGS.SILENT (\\Seen)")  # a new snapshot, a new run: the old one goes
    gc.collect()
    assert len(cache) == 0 and cache.size == 0
    await a.cmd("a4 FETCH 1:* (FLAGS)")
    assert len(cache) == 1


async def test_a_file_renamed_on_disk_is_seen(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Another process (an MDA, Dovecot, a script) renames a message file to change its flags: the next
    refresh gives the view a new run, and the FETCH after it shows the flags the file name carries."""
    cache = use_way(monkeypatch, "build")
    files = {f"cur/{1700000000 + n}.M{n}P1.host,S=30:2,S": message(f"m{n}") for n in range(6)}
    root = make_maildir(tmp_path / "Maildir", {"INBOX": {"messages": [], "files": files}})
    mstore = MaildirStore(root, state_dir=tmp_path / "state", fsync=False)
    a = Session(mstore)
    await a.cmd("a1 SELECT INBOX")
    first = await a.cmd("a2 UID FETCH 1:* (UID FLAGS)")
    assert first.count(b"FLAGS (\\Seen))") == 6 and len(cache) == 1
    again = await a.cmd("a3 UID FETCH 1:* (UID FLAGS)")
    assert again.replace(b"a3", b"a2") == first
    old_run = view_run(a)  # kept alive: its lines stay in the cache and must not be used
    name = sorted(os.listdir(root / "cur"))[3]
    os.rename(root / "cur" / name, root / "cur" / (name.split(":")[0] + ":2,FS"))
    noop = await a.cmd("a4 NOOP")
    assert b"* 4 FETCH (FLAGS (\\Flagged \\Seen))\r\n" in noop
    after = await a.cmd("a5 UID FETCH 1:* (UID FLAGS)")
    assert b"* 4 FETCH (UID 4 FLAGS (\\Flagged \\Seen))\r\n" in after
    assert after.count(b"FLAGS (\\Seen))") == 5
    assert view_run(a) is not old_run and len(cache) == 2
    with monkeypatch.context() as m:
        general_only(m)
        assert await a.cmd("a5 UID FETCH 1:* (UID FLAGS)") == after
    await mstore.close()


async def test_held_back_expunges_keep_their_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    """During a non-UID FETCH the view keeps another session's expunged messages (RFC 9051 §7.5.1):
    their lines come from the view's own run, with the numbers the client knows."""
    use_way(monkeypatch, "build")
    outs = []
    for general in (False, True):
        store = MemStore()
        for n in range(6):
            store.add("INBOX", message(f"m{n}"), frozenset({"\\Deleted"}) if n in (1, 3) else frozenset())
        world = World(store, general, monkeypatch)
        out = [await world.cmd("a", "a1 SELECT INBOX"), await world.cmd("b", "b1 SELECT INBOX")]
        out.append(await world.cmd("b", "b2 EXPUNGE"))
        for n, line in enumerate(["FETCH 1:* (FLAGS)", "FETCH 2:5 (UID FLAGS)", "NOOP", "FETCH 1:* (FLAGS)"]):
            out.append(await world.cmd("a", f"a{n + 2} {line}"))
        outs.append(out)
    assert outs[0] == outs[1]
    assert outs[0][3].count(b" FETCH (FLAGS") == 6  # held back: still 6 messages
    assert b"* 4 FETCH (UID 4 FLAGS (\\Deleted \\Recent))\r\n" in outs[0][4]
    assert outs[0][5].startswith(b"* 4 EXPUNGE\r\n* 2 EXPUNGE\r\n")
    assert outs[0][6].count(b" FETCH (FLAGS") == 4


async def test_bad_message_numbers_are_refused_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    outs = []
    for general in (False, True):
        store = MemStore()
        store.create_sync("Empty")
        for n in range(3):
            store.add("INBOX", message(f"m{n}"))
        world = World(store, general, monkeypatch)
        out = [await world.cmd("a", "a1 SELECT INBOX")]
        lines = ["FETCH 4 (FLAGS)", "FETCH 1:9 FLAGS", "UID FETCH 9:* (FLAGS)", "UID FETCH 9:20 (FLAGS)"]
        for n, line in enumerate(lines):
            out.append(await world.cmd("a", f"b{n} {line}"))
        out.append(await world.cmd("a", "a2 SELECT Empty"))
        out.append(await world.cmd("a", "a3 FETCH 1:* (FLAGS)"))
        out.append(await world.cmd("a", "a4 UID FETCH 1:* (FLAGS)"))
        outs.append(out)
    assert outs[0] == outs[1]
    assert outs[0][1] == b"b0 BAD [CLIENTBUG] Invalid message number: no message 4 (EXISTS is 3)\r\n"
    assert outs[0][2] == b"b1 BAD [CLIENTBUG] Invalid message number: no message 9 (EXISTS is 3)\r\n"
    assert outs[0][3] == b"* 3 FETCH (UID 3 FLAGS (\\Recent))\r\nb2 OK UID FETCH completed.\r\n"
    assert outs[0][4] == b"b3 OK UID FETCH completed.\r\n"
    assert outs[0][6] == b"a3 BAD [CLIENTBUG] Invalid message number: no messages\r\n"
    assert outs[0][7] == b"a4 OK UID FETCH completed.\r\n"


# -- the pieces ----------------------------------------------------------------------------------------


def info(uid: int, flags: frozenset[str] = frozenset(), modseq: int = 1) -> MessageInfo:
    return MessageInfo(uid, flags, 100 + uid, datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), modseq)


def view_of(uids: list[int]) -> SelectedView:
    snapshot = Snapshot(
        uidvalidity=1,
        uidnext=(uids[-1] + 1) if uids else 1,
        highestmodseq=1,
        messages=tuple(info(u) for u in uids),
        keywords=frozenset(),
        can_create_keywords=True,
        recent=frozenset(),
        version=1,
    )
    return SelectedView(None, snapshot, readonly=False)  # type: ignore[arg-type]


def seqset(text: str) -> cmd.SequenceSet:
    ranges: list[tuple[int | None, int | None]] = []
    for part in text.split(","):
        low, _, high = part.partition(":")
        a = None if low == "*" else int(low)
        b = a if not high else (None if high == "*" else int(high))
        ranges.append((a, b))
    return cmd.SequenceSet(tuple(ranges))


def test_spans_name_the_messages_resolve_names() -> None:
    rng = random.Random(3)
    checked = 0
    for _ in range(400):
        uids = sorted(rng.sample(range(1, 60), rng.randrange(0, 25)))
        view = view_of(uids)
        text = random_set(rng, 62)
        for uid in (True, False):
            try:
                expected = [seq - 1 for seq, _info in view.resolve(seqset(text), uid=uid)]
            except BadSequence as exc:
                with pytest.raises(BadSequence) as raised:
                    fetch_flags.spans(view, seqset(text), uid=uid)
                assert raised.value.message == exc.message
                continue
            got = fetch_flags.spans(view, seqset(text), uid=uid)
            assert [p for lo, hi in got for p in range(lo, hi)] == expected, (uids, text, uid)
            assert all(lo < hi for lo, hi in got)
            assert all(a[1] < b[0] for a, b in itertools.pairwise(got))  # disjoint, not touching
            checked += len(expected)
    assert checked > 1000


def test_saved_set_spans() -> None:
    view = view_of([2, 4, 5, 6, 9])
    view.saved = [9, 5, 4, 7, 4]
    assert fetch_flags.spans(view, cmd.SequenceSet((), saved=True), uid=True) == [(1, 3), (4, 5)]


def test_group_and_changed() -> None:
    assert fetch_flags._group([]) == []
    assert fetch_flags._group([4]) == [(4, 5)]
    assert fetch_flags._group([0, 1, 2, 5, 7, 8]) == [(0, 3), (5, 6), (7, 9)]
    rng = random.Random(5)
    for _ in range(200):
        positions = sorted(rng.sample(range(40), rng.randrange(0, 40)))
        assert [p for lo, hi in fetch_flags._group(positions) for p in range(lo, hi)] == positions
    infos = [info(u, modseq=m) for u, m in enumerate([5, 9, 9, 2, 7, 1, 8], start=1)]
    assert fetch_flags._changed(infos, [(0, 3), (4, 7)], 6) == [(1, 3), (4, 5), (6, 7)]
    assert fetch_flags._changed(infos, [(0, 7)], 1) == [(0, 5), (6, 7)]
    assert fetch_flags._changed(infos, [(0, 7)], 9) == []


def test_rounds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fetch_flags, "FIRST_ROUND", 2)
    monkeypatch.setattr(fetch_flags, "ROUND", 5)
    assert list(fetch_flags._rounds(3, 15)) == [(3, 5), (5, 10), (10, 15)]
    assert list(fetch_flags._rounds(0, 1)) == [(0, 1)]
    assert list(fetch_flags._rounds(4, 4)) == []


def test_cut_and_pieces() -> None:
    assert fetch_flags._cut([(0, 5), (7, 9)], [0, 3, 6, 8]) == [(1, 3), (4, 5), (7, 8)]
    assert fetch_flags._cut([(2, 4)], [4, 9]) == [(2, 4)]

    def source(lo: int, hi: int) -> bytes:
        return b"[%d:%d]" % (lo, hi)

    def special(pos: int) -> bytes:
        return b"<%d>" % pos

    plain = [(1, 3), (4, 5), (7, 8)]
    specials = [0, 3, 6, 8]
    assert b"".join(fetch_flags._pieces(0, 10, plain, specials, source, special)) == (
        b"<0>[1:3]<3>[4:5]<6>[7:8]<8>"
    )
    assert b"".join(fetch_flags._pieces(2, 7, plain, specials, source, special)) == b"[2:3]<3>[4:5]<6>"
    assert fetch_flags._pieces(9, 12, plain, specials, source, special) == []


def test_format_lines_match_the_plan_formats() -> None:
    plan = LinePlan.for_items(
        (cmd.FetchAtt("FLAGS"), cmd.FetchAtt("RFC822.SIZE"), cmd.FetchAtt("INTERNALDATE"))
    )
    assert plan is not None
    shape = fetch_flags.shape_of(plan, uid_first=True, wants_modseq=True)
    assert shape.kinds == ("FLAGS", "RFC822.SIZE", "INTERNALDATE", "MODSEQ")
    infos = [info(7, frozenset({"\\Seen", "Work"}), 12), info(9)]
    assert fetch_flags.format_lines(shape, 3, infos) == [
        b'* 3 FETCH (UID 7 FLAGS (\\Seen Work) RFC822.SIZE 107 INTERNALDATE "02-Jan-2024 03:04:05 +0000" '
        b"MODSEQ (12))\r\n",
        b'* 4 FETCH (UID 9 FLAGS () RFC822.SIZE 109 INTERNALDATE "02-Jan-2024 03:04:05 +0000" '
        b"MODSEQ (1))\r\n",
    ]
    assert fetch_flags.format_lines(shape, 1, infos[1:], recent=True)[0].startswith(
        b"* 1 FETCH (UID 9 FLAGS (\\Recent) "
    )


def test_cache_budget_and_identity() -> None:
    shape = LineShape(True, ("FLAGS",), b"* %d FETCH (UID %d FLAGS %s)\r\n")
    other_shape = LineShape(False, ("FLAGS",), b"* %d FETCH (FLAGS %s)\r\n")
    runs = [Run((info(1), info(2))) for _ in range(3)]
    cache = LinesCache(budget=150)  # two of the 60-octet entries below

    def lines(run: Run, data: bytes) -> RunLines:
        return RunLines(cache.ref(run, shape), data, array("I", [len(data)]))  # one line: 20 octets more

    cache.put(runs[0], shape, lines(runs[0], b"a" * 40))
    assert cache.get(runs[0], shape) is not None
    assert cache.get(runs[0], other_shape) is None
    assert cache.get(runs[1], shape) is None  # another run, the same shape
    cache.put(runs[1], shape, lines(runs[1], b"b" * 40))
    cache.get(runs[0], shape)  # runs[0] used last: runs[1] goes first
    cache.put(runs[2], shape, lines(runs[2], b"c" * 40))
    assert cache.get(runs[1], shape) is None
    assert cache.get(runs[0], shape) is not None and cache.get(runs[2], shape) is not None
    assert cache.size <= 150
    cache.put(runs[1], shape, lines(runs[1], b"d" * 200))  # over the budget alone: not kept
    assert cache.get(runs[1], shape) is None
    cache.put(runs[1], shape, lines(runs[0], b"e"))  # lines of another run: refused
    assert cache.get(runs[1], shape) is None
    size = cache.size
    del runs[2]
    gc.collect()
    assert len(cache) == 1 and cache.size < size


def test_a_noted_death_drops_only_dead_lines() -> None:
    """The weak reference's callback only notes the key (it may run in any thread, inside any
    allocation); the entry goes at the next call, and only if its run is dead: under a reused id a
    later run's lines stay."""
    shape = LineShape(True, ("FLAGS",), b"* %d FETCH (UID %d FLAGS %s)\r\n")
    cache = LinesCache()
    live, doomed = Run((info(1),)), Run((info(2),))
    for run in (live, doomed):
        cache.put(run, shape, RunLines(cache.ref(run, shape), b"x" * 10, array("I", [10])))
    assert cache._entries.keys() == {(id(live), shape), (id(doomed), shape)}
    del doomed, run
    gc.collect()
    assert len(cache._entries) == 2  # noted, not yet dropped
    cache._dead.append((id(live), shape))  # as if a dead run had had the live one's id
    assert len(cache) == 1 and cache.get(live, shape) is not None
    assert cache.size == 10 + 4 + 2 * 8  # the data, one length, two offsets
