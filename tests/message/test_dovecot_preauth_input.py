"""The PREAUTH runner's conversation: commands pipelined, LOGOUT only once they are answered, stdin open
until imap exits, and a reply that stops early is an error.

Dovecot takes end of input for a client that went away, and loses buffered output when it exits after
LOGOUT with its stdout pipe full: test_generated_corpus_same_as_dovecot failed now and then under CPU
load with a KeyError for a section of a command whose answer never arrived (tests/support/dovecot.py).
"""

from __future__ import annotations

import io
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.message.corpus import corpus
from tests.support.dovecot import PreauthSession, answered_to_the_end, dovecot_preauth, read_until_tagged

# Octets of the big answer the fake imap gives: more than a pipe holds.
BIG_ANSWER = 1 << 20

# A fake imap: answers "tag BIG" with a literal of BIG_ANSWER octets holding lines that look tagged, then,
# before its tagged response, looks (without waiting) what input is there: a LOGOUT or end of input there
# is too early. Answers "tag LOGOUT" with what it saw, and exits. A runner that sent LOGOUT at a look-alike
# line in the literal has sent it before this fake's write of the literal can complete (BIG_ANSWER is more
# than a pipe holds).
_FAKE_IMAP = f"""
import os, select, sys
buf, early = b"", []
while True:
    while b"\\r\\n" not in buf:
        chunk = os.read(0, 65536)
        if not chunk:
            sys.stdout.buffer.write(b"* BYE input closed before LOGOUT\\r\\n")
            sys.exit(0)
        buf += chunk
    line, _, buf = buf.partition(b"\\r\\n")
    tag, command = line.split()
    if command == b"BIG":
        body = (b"x" * 1000 + b"\\r\\n" + tag + b" OK not the end\\r\\n") * ({BIG_ANSWER} // 1000)
        head = b"* 1 FETCH (BODY[] {{%d}}\\r\\n" % len(body)
        sys.stdout.buffer.write(head + body + b")\\r\\n")
        sys.stdout.buffer.flush()
        # What the runner has sent before the tagged response: LOGOUT or end of input is too early.
        at_eof = False
        while not at_eof and select.select([0], [], [], 0)[0]:
            chunk = os.read(0, 65536)
            at_eof = not chunk
            buf += chunk
        early.append(at_eof or b"LOGOUT" in buf)
        sys.stdout.buffer.write(tag + b" OK done\\r\\n")
        sys.stdout.buffer.flush()
    elif command == b"LOGOUT":
        sys.stdout.buffer.write(b"* BYE early=%r\\r\\n%s OK bye\\r\\n" % (early, tag))
        sys.exit(0)
    else:
        sys.stdout.buffer.write(tag + b" OK\\r\\n")
"""


def run_fake(commands: list[bytes], logout: bytes) -> tuple[int, bytes, bytes]:
    return PreauthSession(commands, logout).run([sys.executable, "-c", _FAKE_IMAP], {}, 30.0)


def test_logout_waits_for_the_answers_and_input_stays_open() -> None:
    commands = [b"a NOOP\r\n", b"b BIG\r\n", b"c NOOP\r\n", b"d BIG\r\n"]
    code, out, err = run_fake(commands, b"ZZ LOGOUT\r\n")
    assert (code, err) == (0, b"")
    assert out.endswith(b"\r\n* BYE early=[False, False]\r\nZZ OK bye\r\n"), out[-200:]
    assert out.count(b"d OK done\r\n") == 1


def test_only_a_logout() -> None:
    assert run_fake([], b"ZZ LOGOUT\r\n") == (0, b"* BYE early=[]\r\nZZ OK bye\r\n", b"")


def test_stderr_and_exit_status_are_returned() -> None:
    child = "import sys; sys.stderr.write('oops'); print('partial'); sys.exit(3)"
    session = PreauthSession([b"a NOOP\r\n"], b"ZZ LOGOUT\r\n")
    assert session.run([sys.executable, "-c", child], {}, 30.0) == (3, b"partial\n", b"oops")


class Trickle(io.RawIOBase):
    """A stream that hands out ``data`` a few octets per read, as a pipe may."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data, self.pos, self.step = data, 0, step

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        chunk = self.data[self.pos : self.pos + min(self.step, size if size >= 0 else self.step)]
        self.pos += len(chunk)
        return chunk


READS = [
    (b"* 1 FETCH (FLAGS ())\r\nt1 OK Fetch completed.\r\nrest", b"t1", b"t1 OK Fetch completed.\r\n"),
    (b"* 1 FETCH (BODY[] {12}\r\nt1 OK fake\r\n)\r\nt1 OK real\r\n", b"t1", b"t1 OK real\r\n"),
    (b"* 1 FETCH (BINARY[1] ~{12}\r\nt1 OK fake\r\n BODY[2] {0}\r\n)\r\nt1 NO x\r\n", b"t1", b"t1 NO x\r\n"),
    (b"t10 OK first\r\nt1 BAD second\r\n", b"t1", b"t1 BAD second\r\n"),
    (b"* 1 FETCH (BODY[] {3}\r\nab", b"t1", None),  # the literal is cut off
    (b"* 1 EXISTS\r\nt1 OK no line end", b"t1", None),
]


@pytest.mark.parametrize("step", [1, 7, 4096])
@pytest.mark.parametrize(("data", "tag", "ends_with"), READS)
def test_read_until_tagged(data: bytes, tag: bytes, ends_with: bytes | None, step: int) -> None:
    out = bytearray()
    found = read_until_tagged(Trickle(data, step).read, out, tag)
    assert found is (ends_with is not None)
    if ends_with is None:
        assert out == data
    else:
        assert bytes(out[: data.index(ends_with) + len(ends_with)]).endswith(ends_with)
        assert data.startswith(out)


@pytest.mark.parametrize(
    ("output", "tag", "expected"),
    [
        (
            b"* PREAUTH hi\r\n* BYE Logging out\r\nZZ OK Logout completed (0.001 + 0.000 secs).\r\n",
            b"ZZ",
            True,
        ),
        (b"ZZ OK Logout completed.\r\n", b"ZZ", True),
        (b"* 1 FETCH (BODY[1] {3}\r\nabc)\r\nc1 OK Fetch completed.\r\n", b"ZZ", False),  # stopped early
        (b"* BYE Logging out\r\nZZ OK Logout completed.", b"ZZ", False),  # no line end: cut off
        (b"ZZ OK Logout completed.\r\n* 1 EXISTS\r\n", b"ZZ", False),  # something after it
        (b"xZZ OK Logout completed.\r\n", b"ZZ", False),
        (b"* OK\r\nd9 NO [TRYCREATE] Mailbox doesn't exist\r\n", b"d9", True),
        (b"* OK\r\nd9 BAD Error in IMAP command\r\n", b"d9", True),
        (b"* OK\r\nd9 OKAY\r\n", b"d9", False),
    ],
)
def test_answered_to_the_end(output: bytes, tag: bytes, expected: bool) -> None:
    assert answered_to_the_end(output, tag) is expected


@pytest.fixture
def maildir() -> Iterator[Path]:
    """A Maildir directly under the system temp dir (see test_message_dovecot.dovecot_tmp)."""
    with tempfile.TemporaryDirectory(prefix="maildird-msg-") as name:
        path = Path(name)
        path.chmod(0o755)
        for sub in ("cur", "new", "tmp"):
            (path / "maildir" / sub).mkdir(parents=True)
        yield path / "maildir"


@pytest.mark.interop
def test_every_pipelined_command_is_answered(maildir: Path) -> None:
    """Many pipelined FETCHes with replies larger than the stdout pipe: each gets its tagged response."""
    for i, raw in enumerate(corpus(20), 1):
        (maildir / "cur" / f"{1000 + i}.M{i}P1.test:2,").write_bytes(raw)
    commands = ["a SELECT INBOX"] + [f"c{seq} FETCH {seq} (BODY.PEEK[] BODY.PEEK[1])" for seq in range(1, 21)]
    out = dovecot_preauth(maildir, commands * 5)
    for seq in range(1, 21):
        assert out.count(b"\r\nc%d OK Fetch completed" % seq) == 5, seq
    assert answered_to_the_end(out, b"ZZ")
