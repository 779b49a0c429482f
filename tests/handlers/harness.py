"""Drive ``handlers.handle`` with a real Context, as the runtime does, and collect the wire bytes.

Commands are written as the client sends them (``b'a1 APPEND INBOX {5}\\r\\nhello'``) and parsed by
the real grammar; responses are serialized by the real ``responses.serialize``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from maildird.config import Config
from maildird.handlers import handle
from maildird.handlers.context import Context, Services, TransportInfo
from maildird.imap.commands import Command
from maildird.imap.grammar import parse_command
from maildird.imap.raw import RawCommand
from maildird.imap.responses import Response, serialize_many

LOOPBACK = TransportInfo("tcp", False, "127.0.0.1:5000", "127.0.0.1:143", True, False)
REMOTE_PLAIN = TransportInfo("tcp", False, "192.0.2.7:5000", "192.0.2.1:143", False, True)
REMOTE_TLS = TransportInfo("tls", True, "192.0.2.7:5000", "192.0.2.1:993", False, False)

WHEN = datetime(2024, 3, 5, 14, 7, 9, tzinfo=UTC)

_LITERAL = re.compile(rb"(~?)\{(\d+)\+?\}\r\n")


def parse(wire: bytes | str, *, utf8: bool = False) -> Command:
    """One command from its wire form; ``{n}`` literals inline, as a client sends them."""
    data = wire.encode() if isinstance(wire, str) else wire
    lines: list[bytes] = []
    literals: list[bytes] = []
    binary: list[bool] = []
    pos = 0
    while True:
        m = _LITERAL.search(data, pos)
        if m is None:
            lines.append(data[pos:])
            break
        size = int(m.group(2))
        lines.append(data[pos : m.start()] + data[m.start() : m.end() - 2])
        literals.append(data[m.end() : m.end() + size])
        binary.append(bool(m.group(1)))
        pos = m.end() + size
    return parse_command(RawCommand(tuple(lines), tuple(literals), tuple(binary)), utf8=utf8)


class Session:
    """One client connection's handler side. ``store`` None means "not logged in yet"."""

    def __init__(
        self,
        store: Any = None,
        *,
        transport: TransportInfo = LOOPBACK,
        config: Config | None = None,
        authenticator: Any = None,
    ) -> None:
        self.sent: list[Response] = []

        async def store_for(record: Any) -> Any:
            return store

        services = Services(config or Config(), authenticator, store_for)
        self.ctx = Context(services, transport, self._send)
        if store is not None:
            self.ctx.user = "alice"
            self.ctx.store = store

    async def _send(self, response: Response) -> None:
        self.sent.append(response)

    async def cmd(self, wire: bytes | str) -> bytes:
        """Run one command; every response it produced, tagged last, as wire bytes."""
        return await self.run(parse(wire, utf8=self.ctx.utf8))

    async def run(self, command: Command) -> bytes:
        """Run a command value (for inputs the grammar already refuses)."""
        self.sent = []
        tagged = await handle(self.ctx, command)
        return serialize_many([*self.sent, tagged], utf8=self.ctx.utf8)

    async def lines(self, wire: bytes | str) -> list[bytes]:
        return (await self.cmd(wire)).split(b"\r\n")[:-1]


def message(subject: str = "Hello", body: str = "Hi there.\n", *, sender: str = "bob@example.com") -> bytes:
    """A small LF-only message, as Maildir files usually are."""
    return (
        f"From: Bob <{sender}>\nTo: alice@example.com\nSubject: {subject}\n"
        f"Date: Tue, 05 Mar 2024 14:07:09 +0000\nMessage-ID: <{subject}@example.com>\n\n{body}"
    ).encode()
