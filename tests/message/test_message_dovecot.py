"""maildird's ENVELOPE, BODYSTRUCTURE and BODY[section] against Dovecot's for the same files.

Dovecot's ``imap`` runs in PREAUTH mode over a pipe (tests.support.dovecot). Known, deliberate differences
are excluded and listed in ``KNOWN_DIFFERENCES``. Literals are compared as quoted strings (both forms are
the same string on the wire).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from maildird.imap.commands import Section
from maildird.imap.responses import serialize_value
from maildird.message.bodystructure import bodystructure
from maildird.message.envelope import envelope
from maildird.message.parse import ParsedMessage
from maildird.message.sections import body_section
from tests.message.samples import ALTERNATIVE, HEADER_ONLY, NO_TYPE, PLAIN
from tests.message.test_message_structure import ENVELOPE_CASES, STRUCTURE_CASES
from tests.support.dovecot import dovecot_preauth

pytestmark = pytest.mark.interop

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
def test_same_as_dovecot(tmp_path: Path, item: str, cases: list[tuple[str, bytes, bytes]]) -> None:
    chosen = [c for c in cases if c[0] not in KNOWN_DIFFERENCES]
    theirs = fetch_from_dovecot(tmp_path, [c[1] for c in chosen], item)
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
def test_sections_same_as_dovecot(tmp_path: Path, raw: bytes) -> None:
    items = " ".join(f"BODY.PEEK[{s}]" for s in SECTIONS)
    maildir = tmp_path / "maildir"
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


def test_header_only_message_same_size_as_dovecot(tmp_path: Path) -> None:
    (size,) = fetch_from_dovecot(tmp_path, [HEADER_ONLY], "RFC822.SIZE")
    assert int(size) == ParsedMessage.parse(HEADER_ONLY).size
