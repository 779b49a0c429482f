"""maildird's ENVELOPE, BODYSTRUCTURE and BODY[section] against Dovecot's for the same files.

Dovecot's ``imap`` runs in PREAUTH mode over a pipe (tests.support.dovecot). Known, deliberate differences
are excluded and listed in ``KNOWN_DIFFERENCES``. Literals are compared as quoted strings (both forms are
the same string on the wire).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from maildird.imap.commands import (
    SearchDate,
    SearchHeader,
    SearchKey,
    SearchNot,
    SearchSize,
    SearchText,
    Section,
)
from maildird.imap.responses import Literal, serialize_value
from maildird.message import SearchContext, matches
from maildird.message.bodystructure import bodystructure
from maildird.message.envelope import envelope
from maildird.message.parse import ParsedMessage, Part
from maildird.message.sections import binary_section, body_section
from tests.message.corpus import corpus
from tests.message.samples import ALTERNATIVE, HEADER_ONLY, NO_TYPE, PLAIN
from tests.message.test_message_structure import ENVELOPE_CASES, STRUCTURE_CASES
from tests.support.dovecot import dovecot_preauth

pytestmark = pytest.mark.interop


@pytest.fixture
def dovecot_tmp() -> Iterator[Path]:
    """A fresh directory directly under the system temp dir. Not ``tmp_path``: Dovecot's mail process runs
    as another user and must traverse every ancestor, and pytest's ``pytest-of-<user>`` tree (0700, shared
    and pruned by concurrent pytest runs) made the chroot fail now and then."""
    with tempfile.TemporaryDirectory(prefix="maildird-msg-") as name:
        path = Path(name)
        path.chmod(0o755)
        yield path


KNOWN_DIFFERENCES = {
    # RFC 2046 §5.1.1 vs Dovecot's octet count after a nested close delimiter (see test_message_structure).
    "multipart/mixed with attachment and message/rfc822",
    # Dovecot 2.3 renames an extended parameter "t*" to "t*1*"; we keep "t*".
    "case kept, charset appended, RFC 2231 continuations joined",
    # We degrade to one text part holding the body; Dovecot shows a multipart with one empty part.
    "multipart without boundary",
    "multipart without any delimiter",
}

_LITERAL = re.compile(rb"\{(\d+)\}\r\n")


def literals_to_quoted(data: bytes) -> bytes:
    out, pos = [], 0
    while (m := _LITERAL.search(data, pos)) is not None:
        n = int(m.group(1))
        text = data[m.end() : m.end() + n]
        out += [data[pos : m.start()], b'"', text.replace(b"\\", b"\\\\").replace(b'"', b'\\"'), b'"']
        pos = m.end() + n
    out.append(data[pos:])
    return b"".join(out)


def fetch_from_dovecot(tmp_path: Path, messages: list[bytes], item: str) -> list[bytes]:
    """``item``'s value for each message, as Dovecot sends it (literals turned into quoted strings)."""
    maildir = tmp_path / "maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    for i, raw in enumerate(messages, 1):
        (maildir / "cur" / f"{1000 + i}.M{i}P1.test,S={len(raw)}:2,").write_bytes(raw)
    out = literals_to_quoted(dovecot_preauth(maildir, ["a SELECT INBOX", f"b FETCH 1:* ({item})"]))
    values = []
    for i in range(1, len(messages) + 1):
        start = out.index(b"* %d FETCH (%s " % (i, item.encode()))
        line_end = out.index(b"\r\n", start)
        values.append(out[start + len(f"* {i} FETCH ({item} ") : line_end - 1])
    return values


@pytest.mark.parametrize(
    ("item", "cases"),
    [("ENVELOPE", ENVELOPE_CASES), ("BODYSTRUCTURE", STRUCTURE_CASES), ("BODY", STRUCTURE_CASES)],
)
def test_same_as_dovecot(dovecot_tmp: Path, item: str, cases: list[tuple[str, bytes, bytes]]) -> None:
    chosen = [c for c in cases if c[0] not in KNOWN_DIFFERENCES]
    theirs = fetch_from_dovecot(dovecot_tmp, [c[1] for c in chosen], item)
    for (name, raw, _), expected in zip(chosen, theirs, strict=True):
        msg = ParsedMessage.parse(raw)
        value = (
            envelope(msg) if item == "ENVELOPE" else bodystructure(msg, extensible=item == "BODYSTRUCTURE")
        )
        assert literals_to_quoted(serialize_value(value)) == expected, name


SECTIONS = [
    "HEADER",
    "TEXT",
    "1",
    "1.MIME",
    "2",
    "2.MIME",
    "1.1",
    "3",
    "HEADER.FIELDS (SUBJECT FROM X-FOLDED)",
]
SECTIONS += ["HEADER.FIELDS.NOT (SUBJECT FROM)", "HEADER.FIELDS (NOPE)"]


def _section(spec: str) -> Section:
    head, _, rest = spec.partition(" (")
    tokens = head.split(".")
    numbers = [int(t) for t in tokens if t.isdigit()]
    text = ".".join(t for t in tokens if not t.isdigit()) or None
    return Section(tuple(numbers), text, tuple(rest.rstrip(")").split()))  # type: ignore[arg-type]


@pytest.mark.parametrize("raw", [PLAIN, ALTERNATIVE, NO_TYPE], ids=["plain", "alternative", "no-type"])
def test_sections_same_as_dovecot(dovecot_tmp: Path, raw: bytes) -> None:
    items = " ".join(f"BODY.PEEK[{s}]" for s in SECTIONS)
    maildir = dovecot_tmp / "maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    (maildir / "cur" / "1001.M1P1.test:2,").write_bytes(raw)
    out = dovecot_preauth(maildir, ["a SELECT INBOX", f"b FETCH 1 ({items})"])
    msg = ParsedMessage.parse(raw)
    for spec in SECTIONS:
        mine = body_section(msg, _section(spec))
        label = b"BODY[" + spec.encode() + b"] "
        at = out.index(label) + len(label)
        if out.startswith(b'"', at):
            theirs = out[at + 1 : out.index(b'"', at + 1)]
        else:
            m = _LITERAL.match(out, at)
            assert m is not None, spec
            theirs = out[m.end() : m.end() + int(m.group(1))]
        assert mine == theirs, spec


def test_header_only_message_same_size_as_dovecot(dovecot_tmp: Path) -> None:
    (size,) = fetch_from_dovecot(dovecot_tmp, [HEADER_ONLY], "RFC822.SIZE")
    assert int(size) == ParsedMessage.parse(HEADER_ONLY).size


# -- a generated corpus: every part's sections, BINARY, structure and a set of searches ----------------

CORPUS_SIZE = 40
_STRING_OR_LITERAL = re.compile(rb'"((?:[^"\\]|\\.)*)"|~?\{(\d+)\}\r\n')
_FETCH_START = re.compile(rb"\* (\d+) FETCH \(")
_ITEM_LABEL = re.compile(rb"[A-Z0-9.]+(?:\[[^\]]*\])?(?:<\d+>)?")
_BARE = re.compile(rb"[^ ()\r\n]+")


def _scan(buf: bytes, i: int) -> tuple[bytes, int]:
    """One IMAP value at ``buf[i:]`` in a canonical form (strings quoted and escaped), and the next index."""
    if buf[i : i + 1] == b"(":
        out, i = [b"("], i + 1
        while buf[i : i + 1] != b")":
            if buf[i : i + 1] == b" ":
                out.append(b" ")
                i += 1
                continue
            value, i = _scan(buf, i)
            out.append(value)
        return b"".join(out) + b")", i + 1
    m = _STRING_OR_LITERAL.match(buf, i)
    if m is not None:
        if m.group(2) is None:
            data, end = re.sub(rb"\\(.)", rb"\1", m.group(1)), m.end()
        else:
            data, end = buf[m.end() : m.end() + int(m.group(2))], m.end() + int(m.group(2))
        return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"', end
    bare = _BARE.match(buf, i)
    assert bare is not None, buf[i : i + 40]
    return bare.group(0), bare.end()


def parse_fetch_responses(buf: bytes) -> dict[int, dict[str, bytes]]:
    """``* n FETCH (...)`` responses as {seq: {item label: canonical value}}, merged per message."""
    result: dict[int, dict[str, bytes]] = {}
    for m in _FETCH_START.finditer(buf):
        i, items = m.end(), result.setdefault(int(m.group(1)), {})
        while buf[i : i + 1] != b")":
            if buf[i : i + 1] == b" ":
                i += 1
                continue
            label = _ITEM_LABEL.match(buf, i)
            assert label is not None
            items[label.group(0).decode()], i = _scan(buf, label.end() + 1)
    return result


def _canonical(value: object) -> bytes:
    return _scan(serialize_value(value), 0)[0]  # type: ignore[arg-type]


def _quoted(data: bytes) -> bytes:
    return _scan(serialize_value(data), 0)[0]


def _part_paths(msg: ParsedMessage) -> list[tuple[tuple[int, ...], Part]]:
    """Every addressable part number of ``msg`` (by walking our own tree)."""
    out: list[tuple[tuple[int, ...], Part]] = []

    def inside(part: Part, prefix: tuple[int, ...], as_message: bool) -> None:
        if part.is_multipart:
            for k, child in enumerate(part.children, 1):
                out.append(((*prefix, k), child))
                inside(child, (*prefix, k), False)
        elif as_message:
            out.append(((*prefix, 1), part))
            inside(part, (*prefix, 1), False)
        elif part.is_message and part.message is not None:
            inside(part.message, prefix, True)

    inside(msg.root, (), True)
    return out


def _write_maildir(tmp_path: Path, messages: list[bytes]) -> Path:
    maildir = tmp_path / "maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    for i, raw in enumerate(messages, 1):
        (maildir / "cur" / f"{1000 + i}.M{i}P1.test:2,").write_bytes(raw)
    return maildir


def test_generated_corpus_same_as_dovecot(dovecot_tmp: Path) -> None:
    messages = corpus(CORPUS_SIZE)
    parsed = [ParsedMessage.parse(raw) for raw in messages]
    commands = ["a SELECT INBOX"]
    commands.append(
        "b FETCH 1:* (RFC822.SIZE ENVELOPE BODYSTRUCTURE BODY BODY.PEEK[] BODY.PEEK[HEADER] BODY.PEEK[TEXT])"
    )
    expected: list[dict[str, bytes]] = []
    for seq, msg in enumerate(parsed, 1):
        mine = {
            "RFC822.SIZE": b"%d" % msg.size,
            "ENVELOPE": _canonical(envelope(msg)),
            "BODYSTRUCTURE": _canonical(bodystructure(msg, extensible=True)),
            "BODY": _canonical(bodystructure(msg, extensible=False)),
            "BODY[]": _quoted(body_section(msg, Section())),
            "BODY[HEADER]": _quoted(body_section(msg, Section(text="HEADER"))),
            "BODY[TEXT]": _quoted(body_section(msg, Section(text="TEXT"))),
        }
        for path, part in _part_paths(msg):
            spec = ".".join(map(str, path))
            mine[f"BODY[{spec}]"] = _quoted(body_section(msg, Section(path)))
            mine[f"BODY[{spec}.MIME]"] = _quoted(body_section(msg, Section(path, "MIME")))
            if part.is_message:
                mine[f"BODY[{spec}.HEADER]"] = _quoted(body_section(msg, Section(path, "HEADER")))
                mine[f"BODY[{spec}.TEXT]"] = _quoted(body_section(msg, Section(path, "TEXT")))
            elif not part.is_multipart:
                decoded = binary_section(msg, path)
                # BINARY data with NUL goes as literal8, like handlers.fetch sends it (RFC 3516 §4.2).
                binary = Literal(decoded, binary=b"\0" in decoded)
                mine[f"BINARY[{spec}]"] = _scan(serialize_value(binary), 0)[0]  # type: ignore[assignment]
                mine[f"BINARY.SIZE[{spec}]"] = b"%d" % len(decoded)
        wanted = [
            k.replace("BODY[", "BODY.PEEK[").replace("BINARY[", "BINARY.PEEK[") for k in mine if "[" in k
        ]
        commands.append(f"c{seq} FETCH {seq} ({' '.join(wanted)})")
        expected.append(mine)
    theirs = parse_fetch_responses(dovecot_preauth(_write_maildir(dovecot_tmp, messages), commands))
    for seq, mine in enumerate(expected, 1):
        for label, value in mine.items():
            assert theirs[seq][label] == value, (seq, label)


SEARCHES: list[tuple[str, SearchKey]] = [
    ('CHARSET UTF-8 FROM "bjørn"', SearchHeader("FROM", "bjørn")),
    ('FROM "user1"', SearchHeader("FROM", "user1")),
    ('CHARSET UTF-8 SUBJECT "grüße"', SearchHeader("SUBJECT", "grüße")),
    ('SUBJECT "subject re:"', SearchHeader("SUBJECT", "subject re:")),
    ('TO "smith"', SearchHeader("TO", "smith")),
    ('CC "example.net"', SearchHeader("CC", "example.net")),
    ('CHARSET UTF-8 BODY "façade"', SearchText("façade", body_only=True)),
    ('CHARSET UTF-8 BODY "NAÏVE"', SearchText("NAÏVE", body_only=True)),
    ('BODY "see attached"', SearchText("see attached", body_only=True)),
    ('BODY "col1"', SearchText("col1", body_only=True)),
    ('BODY "user5"', SearchText("user5", body_only=True)),  # not in attached messages' headers
    ('TEXT "user5"', SearchText("user5")),  # but TEXT finds them there
    ('CHARSET UTF-8 TEXT "李雷"', SearchText("李雷")),
    ("SENTON 1-Apr-2025", SearchDate("on", date(2025, 4, 1), sent=True)),
    ("LARGER 2000", SearchSize(True, 2000)),
    ('NOT BODY "indented"', SearchNot(SearchText("indented", body_only=True))),
]


def test_generated_corpus_search_same_as_dovecot(dovecot_tmp: Path) -> None:
    messages = corpus(CORPUS_SIZE, seed=7)
    commands = ["a SELECT INBOX"] + [f"s{i} SEARCH {text}" for i, (text, _) in enumerate(SEARCHES)]
    out = dovecot_preauth(_write_maildir(dovecot_tmp, messages), commands)
    theirs = [sorted(map(int, r.split())) for r in re.findall(rb"\* SEARCH([ 0-9]*)\r\n", out)]
    assert len(theirs) == len(SEARCHES)
    parsed = [ParsedMessage.parse(raw) for raw in messages]
    for (text, key), expected in zip(SEARCHES, theirs, strict=True):
        found = [
            seq
            for seq, msg in enumerate(parsed, 1)
            if matches(
                key,
                SearchContext(
                    seq=seq,
                    uid=seq,
                    flags=frozenset(),
                    size=msg.size,
                    internaldate=datetime.now(UTC),
                    largest_seq=len(parsed),
                    largest_uid=len(parsed),
                    load=lambda msg=msg: msg,  # type: ignore[misc]
                ),
            )
        ]
        assert found == expected, text
