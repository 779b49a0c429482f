"""Parse IMAP response lines into values and normalise what two correct servers may answer differently.

Theory of operation
-------------------
``parse_line`` turns one response line (literals inline, as ``tests.support.rawclient`` returns them) into a
tuple of values: ``Atom`` (atoms, numbers, flags, section labels such as ``BODY[HEADER.FIELDS (TO)]<0>``,
kept as one atom), ``bytes`` (a quoted string or a literal: the wire form is not compared, RFC 9051 §4.3
makes them equivalent), ``tuple`` (a parenthesised list). Status responses keep their response code as a
parsed tuple and drop the human-readable text after it.

``normalize_response(lines, state)`` maps the lines of one command's response to a list of canonical
strings. What it hides, and why each hiding is legitimate:

* free text after status responses and continuation requests (RFC 9051 §7.1: "human-readable");
* ``CAPABILITY`` lists and ``[CAPABILITY ...]`` codes, and ``* ID`` data (server-specific by design);
* UIDVALIDITY values: each distinct value becomes ``V(<mailbox>)`` after the mailbox it is first seen
  with, so "the same mailbox keeps its UIDVALIDITY" (and "two mailboxes differ") is still compared;
* the spelling of a BODY[HEADER.FIELDS (...)] label: quoted or atom field names, any case (astrings);
* MODSEQ/HIGHESTMODSEQ values become ``M`` (their ordering is checked separately by ``modseq_problems``);
* the order of untagged responses within one command, except EXPUNGE/VANISHED runs (their order defines
  the numbering); FETCH responses for one message between two EXPUNGEs are merged (RFC 9051 §7.5.2: the
  client must merge them), and FETCH items are sorted by name;
* the order of flags in flag lists, of numbers in SEARCH results, and the spelling of sequence sets
  (``1:3`` is ``1,2,3``);
* atom versus string for mailbox names (astring) and LIST extended item tags;
* INTERNALDATE values within an hour of now (an APPEND without a date: each server reads its clock).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import cast

CRLF = b"\r\n"
ATOM_STOP = b" ()\r\n"
_LITERAL = re.compile(rb"~?\{(\d+)\+?\}\r\n")
_NUMBER = re.compile(r"\d+\Z")
_SEQSET = re.compile(r"[\d:*,]+\Z")
STATUS_WORDS = frozenset({"OK", "NO", "BAD", "BYE", "PREAUTH"})
# Items whose values are server-specific by design (not compared).
OPAQUE_UNTAGGED = frozenset({"CAPABILITY", "ID"})
# Codes whose data is server-specific by design.
OPAQUE_CODES = frozenset({"CAPABILITY"})


class Atom(str):
    """An atom (or number, flag, section label) as sent."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class SortedLine:
    """A canonical line that sorts by ``key`` among the untagged responses of one command."""

    key: str
    text: str


class ParseError(ValueError):
    pass


def _parse_values(data: bytes, pos: int, *, closing: bytes | None) -> tuple[list[object], int]:
    values: list[object] = []
    n = len(data)
    while pos < n:
        ch = data[pos : pos + 1]
        if ch == b" ":
            pos += 1
            continue
        if data.startswith(CRLF, pos) and closing is None:
            return values, pos + 2
        if ch == b")":
            if closing != b")":
                raise ParseError(f"unexpected ) at {pos} in {data!r}")
            return values, pos + 1
        if ch == b"(":
            inner, pos = _parse_values(data, pos + 1, closing=b")")
            values.append(tuple(inner))
            continue
        if ch == b'"':
            pos += 1
            out = bytearray()
            while True:
                if pos >= n:
                    raise ParseError(f"unterminated quoted string in {data!r}")
                c = data[pos : pos + 1]
                if c == b"\\":
                    out += data[pos + 1 : pos + 2]
                    pos += 2
                elif c == b'"':
                    pos += 1
                    break
                else:
                    out += c
                    pos += 1
            values.append(bytes(out))
            continue
        literal = _LITERAL.match(data, pos)
        if literal is not None:
            start = literal.end()
            size = int(literal.group(1))
            values.append(data[start : start + size])
            pos = start + size
            continue
        # An atom; brackets may contain spaces and parentheses (BODY[HEADER.FIELDS (A B)], [CODE ...]).
        start = pos
        depth = 0
        while pos < n:
            c = data[pos : pos + 1]
            if c == b"[":
                depth += 1
            elif c == b"]":
                depth -= 1
            elif (depth == 0 and c in (b" ", b"(", b")")) or data.startswith(CRLF, pos):
                break
            pos += 1
        values.append(Atom(data[start:pos].decode("utf-8", "replace")))
    if closing is not None:
        raise ParseError(f"missing {closing!r} in {data!r}")
    return values, pos


def parse_values(data: bytes) -> tuple[object, ...]:
    """Every value of ``data`` (a line with its CRLF, or a fragment without)."""
    if not data.endswith(CRLF):
        data += CRLF
    values, _ = _parse_values(data, 0, closing=None)
    return tuple(values)


@dataclass(frozen=True, slots=True)
class StatusLine:
    """``tag|* STATUS [code] text``: the text is dropped."""

    tag: str
    status: str
    code: tuple[object, ...] | None


def parse_status(tag: str, rest: bytes) -> StatusLine:
    status, _, after = rest.partition(b" ")
    code: tuple[object, ...] | None = None
    after = after.rstrip(b"\r\n")
    if after.startswith(b"["):
        end = _code_end(after)
        code = parse_values(after[1:end])
    return StatusLine(tag, status.decode().upper(), code)


def _code_end(text: bytes) -> int:
    """Index of the ``]`` closing a response code (skips quoted strings and literals)."""
    pos = 1
    while pos < len(text):
        c = text[pos : pos + 1]
        if c == b'"':
            pos += 1
            while pos < len(text) and text[pos : pos + 1] != b'"':
                pos += 2 if text[pos : pos + 1] == b"\\" else 1
        elif c == b"]":
            return pos
        pos += 1
    return len(text)


# --- canonical forms ----------------------------------------------------------------------------------


def expand_set(text: str) -> list[int]:
    """A sequence set without ``*`` as a sorted list of numbers."""
    out: set[int] = set()
    for part in text.split(","):
        if ":" in part:
            a, b = (int(x) for x in part.split(":"))
            out.update(range(min(a, b), max(a, b) + 1))
        elif part:
            out.add(int(part))
    return sorted(out)


def compress_set(numbers: Iterable[int]) -> str:
    nums = sorted(set(numbers))
    parts: list[str] = []
    i = 0
    while i < len(nums):
        j = i
        while j + 1 < len(nums) and nums[j + 1] == nums[j] + 1:
            j += 1
        parts.append(str(nums[i]) if i == j else f"{nums[i]}:{nums[j]}")
        i = j + 1
    return ",".join(parts)


def canonical_set(value: object) -> str:
    text = str(value)
    if "*" in text or not _SEQSET.match(text):
        return text
    return compress_set(expand_set(text))


@dataclass(slots=True)
class NormState:
    """Per-server state carried across one transcript: the UIDVALIDITY naming and the modseqs seen."""

    uidvalidities: dict[str, str] = field(default_factory=dict)
    # (mailbox, kind, value) of every MODSEQ/HIGHESTMODSEQ in order, for ``modseq_problems``.
    modseqs: list[tuple[str, str, int]] = field(default_factory=list)
    # The mailbox of the last SELECT/EXAMINE (set by the harness): FETCH MODSEQs and codes are about it.
    selected: str = "?"
    # Leave \Recent and RECENT out of the comparison (for scenarios about something else).
    drop_recent: bool = False

    # The mailbox the current command is about (SELECT/EXAMINE/APPEND target, COPY/MOVE destination),
    # set by the harness: a UIDVALIDITY is named after the mailbox it is first seen with.
    context: str = "?"

    def validity(self, value: object, mailbox: str | None = None) -> str:
        key = str(value)
        if key not in self.uidvalidities:
            self.uidvalidities[key] = f"V({mailbox or self.context})"
        return self.uidvalidities[key]

    def modseq(self, kind: str, value: object, mailbox: str | None = None) -> str:
        if _NUMBER.match(str(value)):
            self.modseqs.append((mailbox or self.selected, kind, int(str(value))))
        return "M"


def render(value: object) -> str:
    """A canonical text form of a parsed value (strings always quoted, bytes shown with repr escapes)."""
    if isinstance(value, tuple):
        return "(" + " ".join(render(v) for v in value) + ")"
    if isinstance(value, bytes):
        text = value.decode("utf-8", "backslashreplace")
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\r\n", "\\r\\n") + '"'
    return str(value)


def _astring(value: object) -> object:
    """A mailbox name compared as a string whichever wire form (atom, quoted, literal) it came in."""
    if isinstance(value, Atom) and value.upper() != "NIL":
        return value.encode() if value.upper() != "INBOX" else b"INBOX"
    if isinstance(value, bytes) and value.upper() == b"INBOX":
        return b"INBOX"
    return value


def _sorted_flags(value: object, *, drop_recent: bool = False) -> object:
    if isinstance(value, tuple):
        kept = [v for v in value if not (drop_recent and str(v).lower() == "\\recent")]
        return tuple(sorted(kept, key=lambda v: str(v).lower()))
    return value


def normalize_code(code: tuple[object, ...], state: NormState) -> str:
    name = str(code[0]).upper()
    args = list(code[1:])
    if name in OPAQUE_CODES:
        args = ["..."]
    elif name == "BADCHARSET":
        args = []  # the optional list of supported charsets is the server's own (RFC 9051 §7.1)
    elif name == "UIDVALIDITY" and args:
        args = [state.validity(args[0])]
    elif name in ("HIGHESTMODSEQ",) and args:
        args = [state.modseq("HIGHESTMODSEQ", args[0])]
    elif name == "APPENDUID" and len(args) == 2:
        args = [state.validity(args[0]), canonical_set(args[1])]
    elif name == "COPYUID" and len(args) == 3:
        args = [state.validity(args[0]), canonical_set(args[1]), canonical_set(args[2])]
    elif name == "MODIFIED" and args:
        args = [canonical_set(args[0])]
    elif name == "PERMANENTFLAGS" and args:
        args = [_sorted_flags(args[0])]
    return "[" + " ".join([name, *(render(a) for a in args)]) + "]"


# INTERNALDATE values this close to the test's clock are "the time of the APPEND" on either server.
NOW_TOLERANCE_SECONDS = 3600


def _is_recent_time(value: bytes) -> bool:
    try:
        moment = datetime.strptime(value.decode().strip(), "%d-%b-%Y %H:%M:%S %z")
    except ValueError:
        return False
    return abs((datetime.now(UTC) - moment).total_seconds()) < NOW_TOLERANCE_SECONDS


def _normalize_fetch_items(items: tuple[object, ...], state: NormState) -> dict[str, str]:
    out: dict[str, str] = {}
    for i in range(0, len(items) - 1, 2):
        key = str(items[i]).upper()
        if "[" in key:
            # Field names in a section label are astrings: "From" and FROM are the same (RFC 9051 §9).
            key = key.replace('"', "")
        value = items[i + 1]
        if key == "FLAGS":
            value = _sorted_flags(value, drop_recent=state.drop_recent)
        elif key == "INTERNALDATE" and isinstance(value, bytes) and _is_recent_time(value):
            value = Atom("<now>")  # an APPEND without a date: each server's own clock
        elif key == "MODSEQ" and isinstance(value, tuple) and value:
            value = (Atom(state.modseq("MODSEQ", value[0])),)
        out[key] = render(value)
    return out


def _normalize_untagged(values: tuple[object, ...], state: NormState) -> tuple[str, object]:
    """``(kind, canonical)`` for an untagged data response; kind drives ordering and merging."""
    if len(values) >= 2 and isinstance(values[0], Atom) and _NUMBER.match(values[0]):
        number = int(values[0])
        word = str(values[1]).upper()
        if word == "FETCH" and len(values) >= 3 and isinstance(values[2], tuple):
            return "FETCH", (number, _normalize_fetch_items(values[2], state))
        return word, f"* {number} {word}"
    word = str(values[0]).upper() if values else ""
    rest = list(values[1:])
    if word in OPAQUE_UNTAGGED:
        return word, f"* {word} ..."
    if word in ("FLAGS",) and rest:
        rest[0] = _sorted_flags(rest[0])
    elif word in ("LIST", "LSUB") and len(rest) >= 3:
        rest[0] = _sorted_flags(rest[0])
        rest[2] = _astring(rest[2])
        if len(rest) >= 4 and isinstance(rest[3], tuple):
            # Extended item tags are astrings (RFC 5258 §6): CHILDINFO and "CHILDINFO" are the same tag.
            items = list(rest[3])
            items[0::2] = [_astring(tag) for tag in items[0::2]]
            rest[3] = tuple(_sorted_pairs(tuple(items)))
        # Sorted by name (not attributes) so that the two servers' lines pair up.
        return word, SortedLine(
            f"{word} {render(rest[2])}", "* " + " ".join([word, *(render(v) for v in rest)])
        )
    elif word == "STATUS" and len(rest) >= 2 and isinstance(rest[1], tuple):
        rest[0] = _astring(rest[0])
        pairs = list(rest[1])
        for i in range(0, len(pairs) - 1, 2):
            item = str(pairs[i]).upper()
            if item == "UIDVALIDITY":
                pairs[i + 1] = Atom(state.validity(pairs[i + 1], render(rest[0])))
            elif item == "HIGHESTMODSEQ":
                pairs[i + 1] = Atom(state.modseq("HIGHESTMODSEQ", pairs[i + 1], render(rest[0])))
        rest[1] = tuple(_sorted_pairs(tuple(pairs)))
    elif word in ("SEARCH", "SORT"):
        numbers = [v for v in rest if not isinstance(v, tuple)]
        modseq = [v for v in rest if isinstance(v, tuple)]
        if word == "SEARCH":
            numbers = sorted(numbers, key=lambda v: int(str(v)))
        tail = [(Atom(str(m[0])), Atom(state.modseq("MODSEQ", m[1]))) for m in modseq if len(m) == 2]
        rest = [*numbers, *tail]
    elif word == "ESEARCH":
        rest = _normalize_esearch(rest, state)
    elif word == "VANISHED":
        rest = [canonical_set(v) if not isinstance(v, tuple) else v for v in rest]
    return word, "* " + " ".join([word, *(render(v) for v in rest)])


def _sorted_pairs(values: tuple[object, ...]) -> list[object]:
    pairs = [(values[i], values[i + 1]) for i in range(0, len(values) - 1, 2)]
    pairs.sort(key=lambda p: str(p[0]).upper())
    return [x for p in pairs for x in p]


def _normalize_esearch(rest: list[object], state: NormState) -> list[object]:
    out: list[object] = []
    i = 0
    if rest and isinstance(rest[0], tuple):
        out.append(rest[0])
        i = 1
    if i < len(rest) and str(rest[i]).upper() == "UID":
        out.append(Atom("UID"))
        i += 1
    pairs: list[tuple[str, object]] = []
    while i + 1 < len(rest):
        name = str(rest[i]).upper()
        value = rest[i + 1]
        if name == "ALL":
            value = Atom(canonical_set(value))
        elif name == "MODSEQ":
            value = Atom(state.modseq("MODSEQ", value))
        pairs.append((name, value))
        i += 2
    pairs.sort(key=lambda p: p[0])
    for name, value in pairs:
        out += [Atom(name), value]
    return out


def original_positions(expunges: list[int]) -> list[int]:
    """The message numbers, before the first expunge, of a run of ``* n EXPUNGE`` responses."""
    removed: list[int] = []
    for n in expunges:
        orig = n
        for r in sorted(removed):
            if r <= orig:
                orig += 1
        removed.append(orig)
    return sorted(removed)


def normalize_response(lines: list[bytes], state: NormState) -> list[str]:
    """Canonical text lines for the response of one command (see the module docstring)."""
    segments: list[list[tuple[str, object]]] = [[]]
    tail: list[str] = []
    for line in lines:
        if line.startswith(b"<"):  # the harness's own marker (a closed connection)
            tail.append(line.decode().strip())
            continue
        if line.startswith(b"+"):
            tail.append("+")
            continue
        tag, _, rest = line.partition(b" ")
        if tag != b"*":
            status = parse_status(tag.decode(), rest)
            code = "" if status.code is None else " " + normalize_code(status.code, state)
            tail.append(f"{status.tag} {status.status}{code}")
            continue
        word = rest.split(b" ", 1)[0].rstrip(b"\r\n").upper()
        if word.decode(errors="replace") in STATUS_WORDS:
            status = parse_status("*", rest)
            code = "" if status.code is None else " " + normalize_code(status.code, state)
            segments[-1].append(("STATUS", f"* {status.status}{code}"))
            continue
        kind, canon = _normalize_untagged(parse_values(rest), state)
        if kind in ("EXPUNGE", "VANISHED"):
            segments.append([(kind, canon)])
            segments.append([])
        else:
            segments[-1].append((kind, canon))
    out: list[str] = []
    pending_expunges: list[int] = []

    def flush_expunges() -> None:
        if pending_expunges:
            out.append(f"* EXPUNGE (original numbers) {compress_set(original_positions(pending_expunges))}")
            pending_expunges.clear()

    for segment in segments:
        if len(segment) == 1 and segment[0][0] == "EXPUNGE":
            pending_expunges.append(int(str(segment[0][1]).split()[1]))
            continue
        if not segment:
            continue
        flush_expunges()
        fetches: dict[int, dict[str, str]] = {}
        others: list[tuple[str, str]] = []
        for kind, canon in segment:
            if kind == "FETCH":
                number, items = cast(tuple[int, dict[str, str]], canon)
                fetches.setdefault(number, {}).update(items)
            elif isinstance(canon, SortedLine):
                others.append((canon.key, canon.text))
            elif not (state.drop_recent and kind == "RECENT"):
                others.append((str(canon), str(canon)))
        out.extend(line for _, line in sorted(others))
        for number in sorted(fetches):
            items = fetches[number]
            out.append(f"* {number} FETCH (" + " ".join(f"{k} {items[k]}" for k in sorted(items)) + ")")
    flush_expunges()
    out.extend(tail)
    return out


def modseq_problems(state: NormState) -> list[str]:
    """Modseq sanity for one transcript (RFC 7162 §3.1.1, §7): no value is 0, and per mailbox a
    HIGHESTMODSEQ never goes below an earlier HIGHESTMODSEQ. (It may go below a MODSEQ already seen: a
    server restates it from before an expunge it still holds back, and RFC 7162 §6 tells the client to
    take the code "even if it has seen higher mod-sequences"; Dovecot and maildird both do.)"""
    problems = []
    floor: dict[str, int] = {}
    for mailbox, kind, value in state.modseqs:
        if value == 0:
            problems.append(f"{mailbox}: {kind} 0")
        if kind != "HIGHESTMODSEQ":
            continue
        if value < floor.get(mailbox, 0):
            problems.append(f"{mailbox}: HIGHESTMODSEQ {value} after HIGHESTMODSEQ {floor[mailbox]}")
        floor[mailbox] = max(value, floor.get(mailbox, 0))
    return problems
