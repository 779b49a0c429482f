"""Properties of the whole core (framer + real grammar + session), driven by core_driver.Driver:

- split invariance: a transcript fed whole, byte by byte, or cut anywhere gives the same events and
  the same output;
- random and mutated input never raises, never loops (bounded next_event calls per byte, checked in
  the driver) and never holds more than the limits (checked after every NEED_DATA).
"""

from __future__ import annotations

import itertools
import re

import pytest
from core_driver import Driver, bytewise, split_at, sync_points
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maildird.imap import commands as c
from maildird.imap.events import AuthResponse, CommandReceived, LiteralRequest, ProtocolViolation, Rejected
from maildird.imap.responses import Tagged
from maildird.imap.session import Limits

LIMITS = Limits(
    max_line=200,
    max_literal=30,
    max_command=1000,
    max_append=100,
    max_nonsync_literal=16,
    max_bad_commands=50,
)

SELECTED_SESSION = (
    b"a1 CAPABILITY\r\n"
    b"a2 LOGIN {3}\r\nbob {2+}\r\npw\r\n"
    b"a3 ENABLE CONDSTORE\r\n"
    b"a4 SELECT INBOX (CONDSTORE)\r\n"
    b"a5 APPEND INBOX (\\Seen) ~{12}\r\nhello\r\nworld\r\n\r\n"
    b"a6 APPEND INBOX {5+}\r\nabcde {3}\r\nfgh\r\n"
    b"a7 UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (FROM)])\r\n"
    b"a8 SEARCH CHARSET UTF-8 TEXT {8}\r\nx LOGOUT\r\n"
    b"a9 IDLE\r\nDONE\r\n"
    b"b1 AUTHENTICATE PLAIN\r\n"
    b"\r\n"
    b"zz FROB\r\n"
    b"a10 LOGIN {40+}\r\n" + b"x LOGOUT\r\n" * 4 + b"\r\n"
    b"a11 SEARCH TEXT {40}\r\n"
    b"a12 IDLE\r\nnot done\r\n"
    b"a13 STORE 1 +FLAGS.SILENT (\\Deleted $Junk)\r\n"
    b"a14 UID EXPUNGE 1:3\r\n"
    b"a15 " + b"x" * 300 + b" {4+}\r\nLOGO\r\n"
    b"a16 COPY 1 {5}\r\nTrash\r\n"
    b"a17 LOGOUT\r\n"
    b"a18 NOOP\r\n"
)

UNAUTH_SESSION = (
    b"a0 STARTTLS\r\n"
    b"a1 AUTHENTICATE PLAIN\r\n*\r\n"
    b"a2 AUTHENTICATE PLAIN\r\n%%%\r\n"
    b"a3 AUTHENTICATE PLAIN\r\nAHgAeQ==\r\n"
    b"a4 AUTHENTICATE PLAIN\r\nAHUAcA==\r\n"
    b"a5 AUTHENTICATE PLAIN AHUAcA==\r\n"
    b"a6 NAMESPACE\r\n"
    b'a7 LIST "" {1}\r\n*\r\n'
    b"a8 IDLE\r\ndone\r\n"
    b"a9 STATUS {5+}\r\nINBOX (MESSAGES UIDNEXT)\r\n"
)

TRANSCRIPTS = {"selected": SELECTED_SESSION, "unauth": UNAUTH_SESSION}


def literal_boundaries(data: bytes) -> list[int]:
    points = []
    for m in re.finditer(rb"\{(\d+)\+?\}\r\n", data):
        points += [m.end() - 2, m.end() - 1, m.end(), m.end() + int(m.group(1))]
    return points


def play(chunks: list[bytes], limits: Limits = LIMITS) -> tuple[list[object], bytes]:
    """Play the chunks, further cut where a conforming client waits for ``+``."""
    data = b"".join(chunks)
    offsets = list(itertools.accumulate(len(chunk) for chunk in chunks))
    d = Driver(limits=limits).feed_all(split_at(data, offsets + sync_points(data)))
    return d.log, bytes(d.out)


def play_raw(chunks: list[bytes], limits: Limits) -> list[object]:
    """Play the chunks exactly as given (a client that may not wait for ``+``)."""
    return Driver(limits=limits).feed_all(chunks).log


def assert_same_until_violation(a: list[object], b: list[object]) -> None:
    """Equal event logs, except that a ProtocolViolation for a client that did not wait for ``+``
    depends on what had arrived: the logs must agree up to the first violation in either."""

    def first(log: list[object]) -> int:
        return next((i for i, ev in enumerate(log) if isinstance(ev, ProtocolViolation)), len(log))

    if first(a) == len(a) and first(b) == len(b):
        assert a == b
    n = min(first(a), first(b))
    assert a[:n] == b[:n]


@pytest.mark.parametrize("literal_minus", [False, True])
@pytest.mark.parametrize("name", sorted(TRANSCRIPTS))
def test_split_invariance(name: str, literal_minus: bool) -> None:
    data = TRANSCRIPTS[name]
    limits = Limits(**{**_fields(LIMITS), "literal_minus": literal_minus})
    whole = play([data], limits)
    assert play(bytewise(data), limits) == whole
    assert play(split_at(data, literal_boundaries(data)), limits) == whole
    for cut in range(1, len(data)):
        assert play([data[:cut], data[cut:]], limits) == whole


def _fields(limits: Limits) -> dict[str, object]:
    return {f: getattr(limits, f) for f in limits.__dataclass_fields__}


def test_selected_transcript_events() -> None:
    """What the transcript above means, so that split invariance is not invariance of nonsense."""
    log, out = play([SELECTED_SESSION])
    commands = [e.command for e in log if isinstance(e, CommandReceived)]
    tags = [cmd.tag for cmd in commands]
    assert tags == ["a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9", "a12", "a13", "a14", "a16", "a17"]
    assert commands[1] == c.Login("a2", "bob", "pw")
    assert commands[4] == c.Append(
        "a5", "INBOX", (c.AppendMessage(b"hello\r\nworld", ("\\Seen",), binary=True),)
    )
    assert isinstance(commands[7], c.Search)
    assert not any(isinstance(cmd, c.Logout) and cmd.tag == "x" for cmd in commands)
    assert [e.tag for e in log if isinstance(e, LiteralRequest)] == ["a2", "a5", "a6", "a8", "a16"]
    rejected = {
        e.response.tag: e.response for e in log if isinstance(e, Rejected) and hasattr(e.response, "tag")
    }
    assert rejected["b1"].code is not None and rejected["b1"].code.name == "CLIENTBUG"
    assert rejected["zz"].code is not None and rejected["zz"].code.name == "PARSE"
    assert rejected["a10"].code is not None and rejected["a10"].code.name == "TOOBIG"
    assert rejected["a11"].code is not None and rejected["a11"].code.name == "TOOBIG"
    assert rejected["a12"].text == "Expected DONE."
    assert rejected["a15"].text == "Command line too long"
    assert b"* BAD [PARSE]" in out  # the empty line has no tag
    assert out.endswith(b"* BYE bye\r\na17 OK LOGOUT completed\r\n")
    assert b"a18" not in out


def test_unauth_transcript_events() -> None:
    log, out = play([UNAUTH_SESSION])
    assert log[:8] == [
        CommandReceived(c.StartTLS("a0")),
        CommandReceived(c.Authenticate("a1", "PLAIN")),
        AuthResponse(None),
        CommandReceived(c.Authenticate("a2", "PLAIN")),
        Rejected(Tagged("a2", "BAD", "Invalid base64 data in AUTHENTICATE response.")),
        CommandReceived(c.Authenticate("a3", "PLAIN")),
        AuthResponse(b"\0x\0y"),
        CommandReceived(c.Authenticate("a4", "PLAIN")),
    ]
    assert out.startswith(
        b"a0 NO done\r\n+ \r\na1 NO done\r\n+ \r\na2 BAD Invalid base64 data in AUTHENTICATE response.\r\n"
        b"+ \r\na3 NO done\r\n+ \r\na4 OK done\r\n"
    )
    # a4 logged in, so a5 is AUTHENTICATE in the wrong state
    assert b"a5 BAD [CLIENTBUG]" in out
    assert b"a6 OK done\r\n+ Ready\r\na7 OK done\r\n+ idling\r\na8 OK done\r\na9 OK done\r\n" in out


# -- hypothesis: random and mutated input ------------------------------------------------------------

TOKENS = [
    b"a1 ",
    b"b ",
    b"LOGIN ",
    b"SELECT ",
    b"APPEND INBOX ",
    b"FETCH 1:* ",
    b"UID ",
    b"IDLE",
    b"DONE",
    b"AUTHENTICATE PLAIN",
    b"STARTTLS",
    b"LOGOUT",
    b"NOOP",
    b"SEARCH TEXT ",
    b"{3}",
    b"{5+}",
    b"~{2}",
    b"{0}",
    b"{99999999999999999999999}",
    b"{17+}",
    b"\r\n",
    b"\n",
    b"\r",
    b'"',
    b"\\",
    b"(",
    b")",
    b"[",
    b"*",
    b" ",
    b"x" * 70,
    b"AHUAcA==",
    b"\x00",
    b"\xff",
]

_input = st.lists(st.sampled_from(TOKENS) | st.binary(max_size=6), max_size=60).map(b"".join)


def _limits(literal_minus: bool) -> Limits:
    return Limits(
        max_line=64,
        max_literal=16,
        max_command=128,
        max_append=64,
        literal_minus=literal_minus,
        max_bad_commands=8,
        max_nonsync_literal=8,
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_input, st.lists(st.integers(min_value=0, max_value=400), max_size=12), st.booleans())
def test_random_input(data: bytes, cuts: list[int], literal_minus: bool) -> None:
    limits = _limits(literal_minus)
    whole = play([data], limits)
    assert play(split_at(data, cuts), limits) == whole
    assert_same_until_violation(play_raw([data], limits), play_raw(split_at(data, cuts), limits))


_mutation = st.tuples(
    st.sampled_from(["delete", "insert", "replace", "duplicate"]),
    st.integers(min_value=0, max_value=2000),
    st.integers(min_value=1, max_value=40),
    st.sampled_from(TOKENS),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(sorted(TRANSCRIPTS)),
    st.lists(_mutation, min_size=1, max_size=4),
    st.lists(st.integers(min_value=0, max_value=2000), max_size=8),
    st.booleans(),
)
def test_mutated_transcripts(
    name: str, mutations: list[tuple[str, int, int, bytes]], cuts: list[int], literal_minus: bool
) -> None:
    data = bytearray(TRANSCRIPTS[name])
    for kind, pos, length, token in mutations:
        pos %= len(data) + 1
        if kind == "delete":
            del data[pos : pos + length]
        elif kind == "insert":
            data[pos:pos] = token
        elif kind == "replace":
            data[pos : pos + len(token)] = token
        else:
            data[pos:pos] = data[pos : pos + length]
    limits = Limits(**{**_fields(LIMITS), "literal_minus": literal_minus})
    raw = bytes(data)
    whole = play([raw], limits)
    assert play(split_at(raw, cuts), limits) == whole
    assert_same_until_violation(play_raw([raw], limits), play_raw(split_at(raw, cuts), limits))
