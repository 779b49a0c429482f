"""RFC 9051 §6.4.4 SEARCH through the server's fast paths (snapshot filtering, batched reads with the
header-only and read-ahead paths, the raw-octet miss test in worker threads) answers what the exact
matcher answers for every message: a real server over a Maildir of the benchmark generator's messages
and the stdlib-built corpus, compared key by key with ``message.search.matches`` on each file."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime

import pytest

from benchmarks.generate import _people, _Writer
from maildird.imap.commands import (
    SearchAnd,
    SearchFlag,
    SearchHeader,
    SearchKey,
    SearchNot,
    SearchOr,
    SearchText,
)
from maildird.message.parse import ParsedMessage
from maildird.message.search import SearchContext, matches
from tests.conftest import RunningServer
from tests.message.corpus import corpus

SEEN = "\\Seen"


def _messages() -> list[tuple[bytes, bool]]:
    """(octets, seen) for each message; every message carries ``X-Test-Id: n``."""
    rng = random.Random(20240901)
    people = _people(rng)
    writer = _Writer(rng, people, people[0])
    raws = [writer.message("INBOX", i, 1_700_000_000 + i * 600) for i in range(120)]
    raws += [raw.replace(b"\r\n", b"\n") for raw in corpus(30, seed=5)]
    return [(b"X-Test-Id: %d\n" % n + raw, n % 3 != 0) for n, raw in enumerate(raws)]


def _queries(frequent: str) -> list[tuple[str, SearchKey]]:
    return [
        ('TEXT "quokkasaurus"', SearchText("quokkasaurus")),
        ('BODY "QUOKKASAURUS"', SearchText("QUOKKASAURUS", body_only=True)),
        ('TEXT "the meeting"', SearchText("the meeting")),
        ('TEXT "example.org"', SearchText("example.org")),
        (f'FROM "{frequent}"', SearchHeader("FROM", frequent)),
        (f'UNSEEN FROM "{frequent}"', SearchAnd((SearchFlag(SEEN, False), SearchHeader("FROM", frequent)))),
        ('SUBJECT "re:"', SearchHeader("SUBJECT", "re:")),
        ('HEADER X-Mailer "benchmail 3"', SearchHeader("X-Mailer", "benchmail 3")),
        ('TO "user5"', SearchHeader("TO", "user5")),
        ('OR FROM "user1" TEXT "attached"', SearchOr(SearchHeader("FROM", "user1"), SearchText("attached"))),
        ('OR SEEN BODY "report"', SearchOr(SearchFlag(SEEN, True), SearchText("report", body_only=True))),
        ('NOT TEXT "quokkasaurus"', SearchNot(SearchText("quokkasaurus"))),
        (
            'UNSEEN NOT SUBJECT "re"',
            SearchAnd((SearchFlag(SEEN, False), SearchNot(SearchHeader("SUBJECT", "re")))),
        ),
    ]


def _expected(messages: list[tuple[bytes, bool]], key: SearchKey) -> set[int]:
    found = set()
    for n, (raw, seen) in enumerate(messages):
        msg = ParsedMessage.parse(raw)
        ctx = SearchContext(
            seq=n + 1,
            uid=n + 1,
            flags=frozenset({SEEN}) if seen else frozenset(),
            size=msg.size,
            internaldate=datetime(2024, 1, 1, tzinfo=UTC),
            largest_seq=len(messages),
            largest_uid=len(messages),
            load=lambda msg=msg: msg,  # type: ignore[misc]
        )
        if matches(key, ctx):
            found.add(n)
    return found


@pytest.mark.maildir({"INBOX": []})
async def test_server_search_equals_exact_matcher(imap_server: RunningServer) -> None:
    messages = _messages()
    inbox = imap_server.maildir
    for n, (raw, seen) in enumerate(messages):
        name = f"{1_700_000_000 + n}.M{n}P1.test"
        target = inbox / "cur" / f"{name}:2,S" if seen else inbox / "new" / name
        target.write_bytes(raw)
    c = await imap_server.login()
    await c.cmd("s SELECT INBOX")
    lines = b"".join(await c.cmd("f UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (X-Test-Id)])"))
    test_id = {
        int(u): int(t) for u, t in re.findall(rb"UID (\d+) BODY\[[^\]]*\] \{\d+\}\r\nX-Test-Id: (\d+)", lines)
    }
    assert sorted(test_id.values()) == list(range(len(messages)))
    frequent = _people(random.Random(20240901))[0].address
    for i, (text, key) in enumerate(_queries(frequent)):
        reply = await c.cmd(f"q{i} UID SEARCH {text}")
        assert reply[-1].startswith(b"q%d OK" % i), reply
        (line,) = [r for r in reply if r.startswith(b"* SEARCH")]
        got = {test_id[int(u)] for u in line.split()[2:]}
        assert got == _expected(messages, key), text
