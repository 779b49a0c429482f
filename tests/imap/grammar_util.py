"""Helpers for the grammar tests: build a RawCommand from wire bytes, as the framer would."""

from __future__ import annotations

import re

from maildird.imap.commands import Command
from maildird.imap.grammar import ParseError, parse_command
from maildird.imap.raw import RawCommand

_ANNOUNCE = re.compile(rb"(~?)\{([0-9]+)\+?\}\Z")


def wire(data: bytes) -> RawCommand:
    """Cut ``data`` (one command as sent, CRLF-terminated lines, literals inline) into a RawCommand.

    A line ending in ``{n}``, ``{n+}`` or ``~{n}`` is followed by n literal octets, then the rest of
    the command continues with the next line. A missing final CRLF is tolerated.
    """
    lines: list[bytes] = []
    literals: list[bytes] = []
    binary: list[bool] = []
    pos = 0
    while True:
        end = data.find(b"\r\n", pos)
        if end < 0:
            lines.append(data[pos:])
            break
        line = data[pos:end]
        lines.append(line)
        pos = end + 2
        m = _ANNOUNCE.search(line)
        if m is None:
            assert pos == len(data), f"CRLF inside a line: {data!r}"
            break
        size = int(m.group(2))
        literals.append(data[pos : pos + size])
        binary.append(bool(m.group(1)))
        pos += size
    return RawCommand(tuple(lines), tuple(literals), tuple(binary))


def parse(data: bytes, *, utf8: bool = False) -> Command:
    return parse_command(wire(data), utf8=utf8)


def error(data: bytes, *, utf8: bool = False) -> ParseError:
    try:
        result = parse_command(wire(data), utf8=utf8)
    except ParseError as exc:
        return exc
    raise AssertionError(f"{data!r} parsed as {result!r}")
