"""The core's usual-command paths against the general ones: ``ServerConnection.next_command`` (the
connection loop's way in: a one-line command comes back unwrapped) yields what ``next_event`` yields,
and ``grammar.parse_line`` reads a line as ``parse_command`` reads it as a ``RawCommand``."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from maildird.imap import commands as c
from maildird.imap import grammar
from maildird.imap.events import NEED_DATA, CommandReceived
from maildird.imap.grammar_tokens import ParseError
from maildird.imap.raw import RawCommand
from maildird.imap.responses import Tagged
from maildird.imap.session import ServerConnection
from tests.imap.core_driver import SMALL, Driver, bytewise

PIECES = [
    b"a1 NOOP\r\n",
    b"a2 FETCH 1:3 (FLAGS)\r\n",
    b"a3 LOGIN user pass\r\n",
    b"a4 LOGIN {4}\r\nuser {4}\r\npass\r\n",
    b"a5 SELECT INBOX\r\n",
    b"a6 UID FETCH 1:* (UID FLAGS)\n",
    b"a7 IDLE\r\n",
    b"DONE\r\n",
    b"a8 APPEND INBOX {5+}\r\nhello\r\n",
    b"a9 BOGUS\r\n",
    b"\r\n",
    b"a10 NOOP {2}\r\n",
    b"x" * 70 + b"\r\n",
    b"a11 ENABLE UTF8=ACCEPT\r\n",
    b"a12 STARTTLS\r\n",
    b"a13 LOGOUT\r\n",
    b"a14 CLOSE\r\n",
    b"a15 AUTHENTICATE PLAIN\r\n",
    b"AHUAcA==\r\n",
    b"a16 noop\r\n",
]


class CommandDriver(Driver):
    """``Driver`` pumping ``next_command``; a bare command is logged as ``next_event`` gives it."""

    def pump(self, fed: int = 0) -> None:
        conn = self.conn
        while not self.closed:
            ev = conn.next_command()
            if ev is NEED_DATA:
                break
            if isinstance(ev, c.Command):
                ev = CommandReceived(ev)
            self.log.append(ev)
            self._answer(ev)


def _play(driver: Driver, data: bytes, cut: int) -> Driver:
    chunks = [data[i : i + cut] for i in range(0, len(data), cut)]
    return driver.feed_all(chunks)


@settings(max_examples=300)
@given(st.lists(st.sampled_from(PIECES), max_size=14), st.integers(1, 40), st.booleans())
def test_next_command_gives_what_next_event_gives(pieces: list[bytes], cut: int, preauth: bool) -> None:
    data = b"".join(pieces)
    plain = _play(Driver(ServerConnection(SMALL, preauth=preauth)), data, cut)
    quick = _play(CommandDriver(ServerConnection(SMALL, preauth=preauth)), data, cut)
    assert quick.log == plain.log
    assert bytes(quick.out) == bytes(plain.out)


def test_next_command_with_a_parser_of_its_own() -> None:
    """A core given its own parser gets every command as a ``RawCommand``, one-line ones included."""
    seen: list[RawCommand] = []

    def parser(raw: RawCommand, **_: object) -> c.Command:
        seen.append(raw)
        return c.Noop(raw.lines[0].split(b" ")[0].decode())

    driver = CommandDriver(ServerConnection(SMALL, preauth=True, parser=parser))
    driver.feed_all(bytewise(b"t1 ANYTHING\r\nt2 X {1}\r\ny\r\n"))
    assert seen == [RawCommand((b"t1 ANYTHING",)), RawCommand((b"t2 X {1}", b""), (b"y",), (False,))]
    assert bytes(driver.out) == b"t1 OK done\r\n+ Ready\r\nt2 OK done\r\n"


def test_the_usual_command_comes_back_unwrapped() -> None:
    conn = ServerConnection(SMALL, preauth=True)
    assert conn.next_command() is NEED_DATA
    conn.receive_data(b"a1 NOOP\r\na2 NOOP\r\n")
    assert conn.next_command() == c.Noop("a1")
    assert conn.next_command() is NEED_DATA  # a1 is in flight: a2 waits in the buffer
    conn.send(Tagged("a1", "OK", "done"))
    assert conn.next_command() == c.Noop("a2")


LINES = [
    b"a1 NOOP",
    b"a1 noop extra",
    b"a1 LOGIN user pass",
    b"a1 SELECT INBOX",
    b'a1 SELECT "Entw&APw-rfe"',
    "a1 SELECT Entwürfe".encode(),
    b"a1 FETCH 1:3 (FLAGS)",
    b"a1 UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE 4)",
    b"a1 XPLUGIN some args",
    b"a1 BOGUS",
    b"",
    b"a1",
    b"* NOOP",
]


def _read(parse: object, *args: object, **kwargs: object) -> object:
    try:
        return parse(*args, **kwargs)  # type: ignore[operator]
    except ParseError as exc:
        return ("error", exc.message, exc.tag, exc.code)


@given(st.sampled_from(LINES), st.booleans())
def test_parse_line_reads_as_parse_command(line: bytes, utf8: bool) -> None:
    ext = {"XPLUGIN"}
    got = _read(grammar.parse_line, line, utf8=utf8, extensions=ext)
    want = _read(grammar.parse_command, RawCommand((line,)), utf8=utf8, extensions=ext)
    assert got == want and type(got) is type(want)
