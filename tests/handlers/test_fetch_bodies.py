"""FETCH of body sections written straight to bytes (``handlers.fetch_bodies``) against the general path
(``fetch_render.render`` + ``serialize``): the same octets over a varied corpus (LF and CRLF files, NUL and
8-bit octets, bare CR, no blank line, an empty file, a multi-megabyte message, partials at every edge,
BODY vs BINARY, unknown encodings), in every mode, from the file and from the body cache; a vanished file
gives the same NO as before; a non-PEEK BODY[] still sets \\Seen with the FLAGS update (RFC 9051 §6.4.5)."""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pytest

from maildird.handlers import fetch_bodies
from maildird.store.maildir import mailbox as mailbox_mod
from maildird.store.maildir.store import MaildirStore
from maildird.store.registry import Registry
from tests.message.corpus import corpus
from tests.message.samples import ALTERNATIVE, HEADER_ONLY, MIXED, NO_TYPE, PLAIN
from tests.support.maildirs import make_maildir

from .harness import Session

BIG = b"From: big@example.org\nSubject: big\n\n" + b"".join(
    b"line %07d of a big body\n" % i for i in range(160_000)
)
EXTRA = [
    b"",
    b"Subject: no blank line\nFrom: z",
    b"\nbody only, no header\n",
    b"Subject: crlf\r\nFrom: c@x\r\n\r\nbody\r\nline two\r\n",
    b"Subject: mixed\r\nFrom: m@x\n\r\nbody with bare\rCR\nand \x00 NUL and \xff\xfe 8-bit\r\n",
    b"Subject: nul\0in header\nFrom: n@x\n\nbody \0\0\n",
    b"From: a@b\nSubject: parts\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=q\n\n"
    b"--q\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\naGVsbG8AAHdvcmxk\n"
    b"--q\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: x-unknown\n\nzzz\n"
    b"--q\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n"
    b"caf=C3=A9 =00 end\n--q--\n",
    b"From: a@b\nSubject: fwd\nContent-Type: message/rfc822\n\nFrom: inner@x\nSubject: inner\n"
    b"Content-Type: multipart/alternative; boundary=q\n\n--q\nContent-Type: text/plain\n\nt\n"
    b"--q\nContent-Type: text/html\n\n<p>h</p>\n--q--\n",
    BIG,
]
LETTERS = ["", "S", "FRS", "T", "a"]
PEEK_ITEMS = [
    "(UID RFC822.SIZE FLAGS BODY.PEEK[])",  # Thunderbird opening a message
    "BODY.PEEK[]",
    "(BODY.PEEK[TEXT] BODY.PEEK[HEADER])",
    "(BODY.PEEK[1] BODY.PEEK[1.MIME] BODY.PEEK[2] BODY.PEEK[3] BODY.PEEK[1.1] BODY.PEEK[9])",
    "(BODY.PEEK[1.HEADER] BODY.PEEK[1.TEXT] BODY.PEEK[1.HEADER.FIELDS (Subject)] BODY.PEEK[2.1.MIME])",
    "(BINARY.PEEK[1] BINARY.SIZE[1] BINARY.PEEK[] BINARY.SIZE[3])",
    "(BINARY.PEEK[3]<0.10> BINARY.PEEK[1]<2.3>)",
    "(BINARY.PEEK[2])",  # the unknown encoding: NO [UNKNOWN-CTE] after the earlier messages' lines
    "(BODY.PEEK[]<0.2048> RFC822.SIZE)",  # a preview
    "(BODY.PEEK[]<0.1> BODY.PEEK[]<5.1> BODY.PEEK[]<100000000.5> BODY.PEEK[TEXT]<3.100000000>)",
    "(INTERNALDATE FLAGS BODY.PEEK[]<1.2> MODSEQ RFC822.HEADER)",
    "(RFC822.HEADER BODY.PEEK[HEADER.FIELDS.NOT (Subject)] BODY.PEEK[] BODY.PEEK[TEXT] BODY.PEEK[1])",
    "(" + " ".join(["BODY.PEEK[]"] * 3 + [f"BODY.PEEK[]<{n}.99999999>" for n in range(3)]) + ")",  # LIMIT
]
SEEN_ITEMS = ["BODY[]", "(RFC822)", "(RFC822.TEXT FLAGS)", "(BINARY[1] UID)", "(BODY[1.MIME] MODSEQ)"]
SETUPS = [[], ["ENABLE UTF8=ACCEPT"], ["ENABLE IMAP4rev2"], ["ENABLE CONDSTORE"]]


def messages() -> list[bytes]:
    return [*corpus(12), PLAIN, ALTERNATIVE, MIXED, NO_TYPE, HEADER_ONLY, *EXTRA]


def build(root: Path, raws: list[bytes] | None = None, *, new_every: int = 5) -> Path:
    files = {
        (
            f"new/{1700000000 + n}.M{n}P1.host"
            if n % new_every == new_every - 1
            else f"cur/{1700000000 + n}.M{n}P1.host:2,{letters}"
        ): raw
        for n, (raw, letters) in enumerate(zip(raws or messages(), itertools.cycle(LETTERS)))
    }
    return make_maildir(root / "Maildir", {"INBOX": {"messages": [], "files": files}})


def open_store(root: Path) -> MaildirStore:
    return MaildirStore(root / "Maildir", state_dir=root / "state", fsync=False, registry=Registry())


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    fetch_bodies.CACHE.clear()
    yield
    fetch_bodies.CACHE.clear()


async def slow(s: Session, monkeypatch: pytest.MonkeyPatch, line: str) -> bytes:
    """``line`` answered by the general path."""
    with monkeypatch.context() as m:
        m.setattr(fetch_bodies.BodyPlan, "for_items", classmethod(lambda cls, items: None))
        return await s.cmd(line)


@pytest.mark.parametrize("setup", SETUPS, ids=lambda s: s[0] if s else "plain")
async def test_same_octets_from_file_and_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, setup: list[str]
) -> None:
    build(tmp_path)
    s = Session(open_store(tmp_path))
    for n, line in enumerate([*setup, "SELECT INBOX"]):
        await s.cmd(f"s{n} {line}")
    await s.cmd("m0 FETCH 1 (MODSEQ)")  # the first MODSEQ announces HIGHESTMODSEQ once
    count = len(messages())
    seqs = ["1:*", "3", str(count), "2,5:7"]
    for n, (items, seqset) in enumerate(itertools.product(PEEK_ITEMS, seqs)):
        for verb in ("FETCH", "UID FETCH"):
            line = f"c{n} {verb} {seqset} {items}"
            expected = await slow(s, monkeypatch, line)
            fetch_bodies.CACHE.clear()
            cold = await s.cmd(line)
            warm = await s.cmd(line)  # the bodies now come from the cache
            assert cold == expected, line
            assert warm == expected, line
    assert len(fetch_bodies.CACHE) > 0
    # The corpus exercised what it is meant to: a refusal for the budget and the unknown encoding.
    assert b"BAD [LIMIT]" in await s.cmd(f"x1 FETCH 1:* {PEEK_ITEMS[-1]}")
    assert b"NO [UNKNOWN-CTE]" in await s.cmd("x2 FETCH 1:* (BINARY.PEEK[2])")


async def test_big_message_and_nul_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build(tmp_path, [BIG, EXTRA[4]], new_every=99)
    s = Session(open_store(tmp_path))
    await s.cmd("a0 EXAMINE INBOX")
    big = BIG.replace(b"\n", b"\r\n")
    got = await s.cmd("a1 FETCH 1 (BODY.PEEK[] BINARY.PEEK[]<0.10>)")
    assert got.startswith(b"* 1 FETCH (BODY[] {%d}\r\n%s BINARY[]<0> {10}\r\n" % (len(big), big))
    assert got == await slow(s, monkeypatch, "a1 FETCH 1 (BODY.PEEK[] BINARY.PEEK[]<0.10>)")
    assert len(fetch_bodies.CACHE) == 0  # past BODY_CACHE_MESSAGE: never kept
    nul = await s.cmd("a2 FETCH 2 (BODY.PEEK[] BINARY.PEEK[])")
    assert b"and \x80 NUL" in nul and b"BINARY[] ~{" in nul and b"and \x00 NUL" in nul
    assert nul == await slow(s, monkeypatch, "a2 FETCH 2 (BODY.PEEK[] BINARY.PEEK[])")


@pytest.mark.parametrize("items", SEEN_ITEMS)
async def test_seen_is_set_with_the_flags_update(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, items: str
) -> None:
    """RFC 9051 §6.4.5: BODY[] (not PEEK), RFC822, RFC822.TEXT and BINARY[] set \\Seen, and the response
    carries the new FLAGS (UID and MODSEQ too under CONDSTORE): the same octets as the general path,
    each run on a fresh copy of the same Maildir."""
    answers = []
    raws = messages()  # once: the corpus's MIME boundaries are random
    for fast in (True, False):
        root = tmp_path / str(fast)
        build(root, raws)
        s = Session(open_store(root))
        await s.cmd("a0 ENABLE CONDSTORE")
        await s.cmd("a1 SELECT INBOX")
        line = f"a2 FETCH 1:* {items}"
        answers.append(await s.cmd(line) if fast else await slow(s, monkeypatch, line))
        answers.append(await s.cmd("a3 FETCH 1:* (FLAGS)"))
    # MODSEQs come from the clock and differ between the two copies; everything else must not.
    answers = [re.sub(rb"MODSEQ (\(|)\d+", rb"MODSEQ \1n", a) for a in answers]
    assert answers[0] == answers[2] and answers[1] == answers[3]
    assert b"UID " in answers[0] and answers[1].count(b"\\Seen") == len(messages())
    assert b"FLAGS (\\Seen)" in answers[0] and b"MODSEQ (n)" in answers[0]


async def test_vanished_file_gives_the_same_no(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = build(tmp_path, [PLAIN, MIXED, ALTERNATIVE], new_every=99)
    s = Session(open_store(tmp_path))
    await s.cmd("a0 SELECT INBOX")
    victim = next(p for p in (root / "cur").iterdir() if ".M1P1" in p.name)
    os.unlink(victim)
    fast = await s.cmd("a1 FETCH 1:3 (UID BODY.PEEK[])")
    assert fast == await slow(s, monkeypatch, "a1 FETCH 1:3 (UID BODY.PEEK[])")
    assert fast.count(b" FETCH (") == 2
    assert fast.endswith(b"a1 NO [EXPUNGEISSUED] Some of the requested messages no longer exist.\r\n")


async def test_cache_is_per_mailbox_handle_and_uidvalidity(tmp_path: Path) -> None:
    """A message of the same UID, size and date in another folder (or a folder created again) is never
    answered from the first one's cached body."""
    one = b"Subject: one\n\nAAAA\n"
    two = b"Subject: two\n\nBBBB\n"
    for name, raw in (("a", one), ("b", two)):
        build(tmp_path / name, [raw])
        os.utime(next((tmp_path / name / "Maildir" / "cur").iterdir()), (1700000000, 1700000000))
    first = Session(open_store(tmp_path / "a"))
    await first.cmd("a0 SELECT INBOX")
    assert b"AAAA" in await first.cmd("a1 FETCH 1 BODY.PEEK[]")
    other = Session(open_store(tmp_path / "b"))
    await other.cmd("b0 SELECT INBOX")
    assert b"BBBB" in await other.cmd("b1 FETCH 1 BODY.PEEK[]")
    assert b"AAAA" in await first.cmd("a2 FETCH 1 BODY.PEEK[]")


def test_body_cache_is_bounded() -> None:
    cache = fetch_bodies.BodyCache(capacity=100)
    when = fetch_bodies.datetime(2024, 1, 1)
    for uid in range(1, 6):
        cache.put((1, 1, uid, 40, when), b"x" * 40)
    assert len(cache) == 2  # 80 octets of 100
    assert cache.get((1, 1, 5, 40, when)) == b"x" * 40 and cache.get((1, 1, 1, 40, when)) is None
    cache.put((1, 1, 9, 1, when), b"y" * (fetch_bodies.BODY_CACHE_MESSAGE + 1))
    assert cache.get((1, 1, 9, 1, when)) is None


async def test_cached_body_opens_no_file_until_the_message_changes_handle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A preview then the whole message (or parts in separate commands) read the file once; a new
    SELECT is a new handle and reads it again."""
    build(tmp_path, [MIXED, PLAIN], new_every=99)
    opened: list[str] = []
    real = mailbox_mod.open_message

    def counting(path: Path | str) -> BinaryIO:
        opened.append(str(path))
        return real(path)

    monkeypatch.setattr(mailbox_mod, "open_message", counting)
    s = Session(open_store(tmp_path))
    await s.cmd("a0 SELECT INBOX")
    preview = await s.cmd("a1 UID FETCH 1 (UID BODY.PEEK[]<0.20>)")
    assert len(opened) == 1
    whole = await s.cmd("a2 UID FETCH 1 (UID RFC822.SIZE FLAGS BODY.PEEK[])")
    parts = await s.cmd("a3 FETCH 1 (BODY.PEEK[1] BODY.PEEK[1.MIME] BINARY.PEEK[2])")
    assert len(opened) == 1
    assert whole == await slow(s, monkeypatch, "a2 UID FETCH 1 (UID RFC822.SIZE FLAGS BODY.PEEK[])")
    assert parts == await slow(s, monkeypatch, "a3 FETCH 1 (BODY.PEEK[1] BODY.PEEK[1.MIME] BINARY.PEEK[2])")
    assert preview.startswith(b"* 1 FETCH (UID 1 BODY[]<0> {20}\r\n")
    await s.cmd("a4 SELECT INBOX")
    opened.clear()
    assert await s.cmd("a2 UID FETCH 1 (UID RFC822.SIZE FLAGS BODY.PEEK[])") == whole
    assert len(opened) == 1
