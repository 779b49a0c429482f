"""Framing: the client byte stream cut into commands, literals decided before they are read.

Theory of operation
-------------------
An IMAP command is a line, unless the line ends with a literal announcement (RFC 9051 §4.3):
``{n}`` (synchronizing: the client waits for ``+``), ``{n+}`` (non-synchronizing, RFC 7888
LITERAL+/LITERAL-), or ``~{n}`` / ``~{n+}`` (literal8, RFC 3516 §4.1). Then ``n`` octets follow,
then the command goes on with another line, which may announce another literal, and so on. The
``Framer`` knows only this much of the grammar; it hands a complete command to the grammar as a
``RawCommand`` (lines and literal octets kept apart, raw.py) and knows nothing about what the
command means, except for the command *name*, which it peeks at to apply the APPEND limit. Its
limits, the fragments it yields and the peeks at a line's head and end live in frames.py.

The framer is a small state machine over a receive buffer (a ``bytearray``; CPython deletes from
its front in O(1), so the work is O(bytes read) however the bytes are split):

``LINE``      reading a line up to LF (CRLF, or a bare LF as Dovecot accepts). A line longer
              than ``max_line`` is refused *as soon as the buffer shows it*, never buffered whole.
``DECIDE``    a synchronizing literal was announced: ``next()`` has returned ``LiteralAnnounced``
              *before any literal octet was buffered*; the owner calls ``accept_literal()``
              (the client is told ``+``, we go to ``LITERAL``) or ``reject_literal()`` (the client
              got a tagged NO/BAD instead of ``+``, so it sends no octets: the command is over).
``LITERAL``   copying ``n`` octets into the command.
``SWALLOW``   counting off the octets of a refused non-synchronizing literal: the client sends them
              without waiting, so they are dropped unbuffered and never looked at. Then ``SKIP``.
``SKIP``      dropping the rest of a refused command up to the end of its line. Only a short tail
              of the line is kept, to see whether it announces a further literal: a
              non-synchronizing one is swallowed (then ``SKIP`` again); a synchronizing one, or none,
              ends the command (the client, refused, never sends a ``{n}`` literal's octets).

This is how literal octets can never be taken for commands (the imap-codec "fragmentizer"
argument, architecture.md §2.9): every octet is either part of a line, counted off as announced,
or dropped up to a line end that is judged the same way.

Decisions made at an announcement, in order:
1. under LITERAL- (``literal_minus``) a non-synchronizing literal over ``max_nonsync_literal``
   (4096, RFC 7888) is refused ``BAD [TOOBIG]`` and swallowed;
2. a literal over ``max_literal`` (``max_append`` in APPEND, RFC 7889), or one that would take the
   command past its budget (``max_command``; ``max_command + max_append`` for APPEND), is refused
   ``NO [TOOBIG]`` (and swallowed if non-synchronizing); APPEND's budget applies only while
   ``append_allowed`` (the session clears it before login, where APPEND cannot run);
   the literal past ``max_literals`` in one command is refused ``NO [LIMIT]`` the same way;
3. otherwise a non-synchronizing literal is read straight on, a synchronizing one is announced.

In *line mode* (the session's IDLE and AUTHENTICATE substates) lines are returned as they are,
without looking for literals: ``DONE`` and base64 never end in ``}``.

Memory: the receive buffer holds at most one partial line (``max_line`` + CR) once ``next()`` has
returned None, and the command being assembled at most its budget.
"""

from __future__ import annotations

import dataclasses

from .frames import (
    EndOfInput,
    Fragment,
    FramedCommand,
    FramedLine,
    Limits,
    LiteralAnnounced,
    Refusal,
    _announcement,
    _head,
)
from .raw import RawCommand

__all__ = ["Framer"]

_TAIL = 64
"""Octets of a skipped line kept to spot a literal announcement at its end."""


_LINE, _DECIDE, _LITERAL, _SWALLOW, _SKIP = range(5)


class Framer:
    """Bytes in (``feed``), fragments out (``next``); see the module docstring."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._take_bound = min(limits.max_line, limits.max_command)  # ``take_line``'s longest line
        self.line_mode = False
        self.append_allowed = True
        """APPEND gets ``max_append`` per literal (and on top of ``max_command``) only while this is
        true; the session clears it before login, where APPEND is refused anyway."""
        self._buf = bytearray()
        self._scan = 0  # where the LF search resumes in LINE state
        self._eof = False
        self._eof_reported = False
        self._state = _LINE
        self._remaining = 0  # octets left in LITERAL / SWALLOW
        self._tail = b""  # end of the line being skipped
        self._skip_line_mode = False  # the skipped line is a line-mode line: no announcements
        self._reset_command()

    def _reset_command(self) -> None:
        self._lines: list[bytes] = []
        self._literals: list[bytes] = []
        self._binary: list[bool] = []
        self._literal = bytearray()
        self._size = 0
        self._tag: str | None = None
        self._name = ""
        self._pending: tuple[int, bool] | None = None  # the announced (size, binary) in DECIDE

    # -- input -------------------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Add received bytes; ``b""`` means end of input."""
        if not data:
            self._eof = True
        elif not self._eof:
            self._buf += data

    @property
    def unprocessed(self) -> int:
        """Octets received but not yet framed."""
        return len(self._buf)

    @property
    def held(self) -> int:
        """All octets held: the receive buffer plus the command being assembled."""
        return len(self._buf) + len(self._literal) + self._size

    @property
    def in_command(self) -> bool:
        """True between a command's first line and its end (or while a refused one is skipped)."""
        return bool(self._lines) or self._state != _LINE

    def take_unprocessed(self) -> bytes:
        """Hand over the bytes not yet framed (the start of a COMPRESS stream, RFC 4978 §3)."""
        data = bytes(self._buf)
        self._buf.clear()
        self._scan = 0
        return data

    # -- decisions on a synchronizing literal ---------------------------------------------------------

    @property
    def awaiting_decision(self) -> bool:
        return self._state == _DECIDE

    def accept_literal(self) -> None:
        assert self._pending is not None and self._state == _DECIDE
        size, binary = self._pending
        self._start_literal(size, binary)

    def reject_literal(self) -> None:
        """The client was refused instead of ``+``: it sends no literal, the command is over."""
        assert self._state == _DECIDE
        self._reset_command()
        self._state = _LINE

    # -- output ------------------------------------------------------------------------------------

    def next(self) -> Fragment | None:
        """The next fragment, or None when more input is needed."""
        while True:
            step = self._step()
            if step is True:
                continue
            if step is False:
                return EndOfInput() if self._eof else None
            return step

    def take_line(self) -> bytes | bool | None:
        """The usual case of ``next``, taken in one step: the next command when it is one whole line
        without a literal announcement, within every limit (the line, CRLF stripped); False when no
        whole line has arrived (``next`` would return None); None otherwise (then call ``next``:
        line mode, a command being assembled or skipped, a literal, a line too long, end of input)."""
        if self._state != _LINE or self.line_mode or self._lines or self._eof:
            return None
        buf = self._buf
        idx = buf.find(b"\n", self._scan)
        if idx < 0:
            if len(buf) > self.limits.max_line + 1:
                return None  # ``next`` refuses it
            self._scan = len(buf)
            return False
        end = idx - 1 if idx > 0 and buf[idx - 1] == 0x0D else idx
        if end > self._take_bound or (end and buf[end - 1] == 0x7D):
            return None  # too long, or a literal announcement ("}"): ``next`` decides
        line = bytes(buf[:end])
        del buf[: idx + 1]
        self._scan = 0
        return line

    def _step(self) -> Fragment | bool:
        """One move of the state machine: a fragment, True (progress made) or False (need data)."""
        state = self._state
        if state == _LINE:
            return self._read_line()
        if state == _LITERAL:
            return self._read_literal()
        if state == _SWALLOW:
            return self._swallow()
        if state == _SKIP:
            return self._skip()
        raise AssertionError("next() while a literal decision is pending")

    def _consume(self, n: int) -> None:
        del self._buf[:n]
        self._scan = 0

    def _read_line(self) -> Fragment | bool:
        buf = self._buf
        idx = buf.find(b"\n", self._scan)
        max_line = self.limits.max_line
        if idx < 0:
            if len(buf) > max_line + 1:  # + 1: a CR may still precede the LF
                return self._too_long()
            self._scan = len(buf)
            return False
        end = idx - 1 if idx > 0 and buf[idx - 1] == 0x0D else idx
        if end > max_line:
            return self._too_long()
        line = bytes(buf[:end])
        self._consume(idx + 1)
        if self.line_mode and not self._lines:
            return FramedLine(line)
        return self._command_line(line)

    def _too_long(self) -> Refusal:
        """Refuse the line in the buffer now, and drop it (and its command) as it arrives."""
        tag = self._tag if self._lines else _head(self._buf[: self.limits.max_line])[0]
        in_line_mode = self.line_mode and not self._lines
        self._reset_command()
        self._state = _SKIP
        self._tail = b""
        self._skip_line_mode = in_line_mode
        return Refusal(tag, "BAD", "TOOBIG", "Command line too long")

    def _command_line(self, line: bytes) -> Fragment | bool:
        if not self._lines:
            if not line.endswith(b"}") and len(line) <= self.limits.max_command:
                # The usual command: one line, no literal, within every budget; no state to reset.
                return FramedCommand(RawCommand((line,)), *_head(line))
            self._tag, self._name = _head(line)
        self._size += len(line)
        announced = _announcement(line)
        if self._size > self._budget():
            sync_literal = announced is not None and announced[1]
            refusal = Refusal(self._tag, "BAD", "TOOBIG", "Command too long", sync_literal)
            self._reset_command()
            if announced is not None and not announced[1]:
                self._state = _SWALLOW
                self._remaining = announced[0]
            return refusal
        if announced is None:
            raw = RawCommand((*self._lines, line), tuple(self._literals), tuple(self._binary))
            framed = FramedCommand(raw, self._tag, self._name)
            self._reset_command()
            return framed
        self._lines.append(line)
        size, sync, binary = announced
        return self._announce(size, sync, binary)

    def _announce(self, size: int, sync: bool, binary: bool) -> Fragment | bool:
        limits = self.limits
        append = self._is_append()
        per_literal = limits.max_append if append else limits.max_literal
        budget = self._budget()
        refusal: Refusal | None = None
        tag = self._tag
        if tag is None:
            refusal = Refusal(None, "BAD", "PARSE", "Literal in a line without a tag and command name")
        elif not sync and limits.literal_minus and size > limits.max_nonsync_literal:
            # RFC 7888 (LITERAL-): such a command fails with a tagged BAD; TOOBIG says why.
            refusal = Refusal(self._tag, "BAD", "TOOBIG", "Non-synchronizing literal too large (LITERAL-)")
        elif size > per_literal or self._size + size > budget:
            what = "Message" if append else "Literal"
            refusal = Refusal(self._tag, "NO", "TOOBIG", f"{what} too large")
        elif len(self._literals) >= limits.max_literals:
            what = "messages" if append else "literals"
            refusal = Refusal(self._tag, "NO", "LIMIT", f"Too many {what} in one command")
        if refusal is not None:
            self._reset_command()
            if sync:
                refusal = dataclasses.replace(refusal, sync_literal=True)
                self._state = _LINE
            else:
                self._state = _SWALLOW
                self._remaining = size
            return refusal
        if not sync:
            self._start_literal(size, binary)
            return True
        assert tag is not None  # a tagless line was refused above
        self._state = _DECIDE
        self._pending = (size, binary)
        return LiteralAnnounced(tag, size, binary, self._name)

    def _budget(self) -> int:
        """Octets one command may hold: lines and literals; APPEND adds room for its messages."""
        limits = self.limits
        return limits.max_command + (limits.max_append if self._is_append() else 0)

    def _is_append(self) -> bool:
        return self._name == "APPEND" and self.append_allowed

    def _start_literal(self, size: int, binary: bool) -> None:
        self._pending = None
        self._state = _LITERAL
        self._remaining = size
        self._binary.append(binary)
        self._literal = bytearray()

    def _read_literal(self) -> bool:
        take = min(self._remaining, len(self._buf))
        if take == 0 and self._remaining:
            return False
        if take == self._remaining and not self._literal:
            data = bytes(self._buf[:take])  # the whole literal is here already: one copy
        else:
            self._literal += self._buf[:take]
            data = b""
        self._consume(take)
        self._remaining -= take
        if self._remaining == 0:
            if self._literal:
                data = bytes(self._literal)
                self._literal = bytearray()
            self._literals.append(data)
            self._size += len(data)
            self._state = _LINE
        return True

    def _swallow(self) -> bool:
        take = min(self._remaining, len(self._buf))
        if take == 0 and self._remaining:
            return False
        self._consume(take)
        self._remaining -= take
        if self._remaining == 0:
            self._state = _SKIP
            self._tail = b""
            self._skip_line_mode = False
        return True

    def _skip(self) -> bool:
        buf = self._buf
        idx = buf.find(b"\n")
        if idx < 0:
            if not buf:
                return False
            self._tail = (self._tail + bytes(buf[-_TAIL:]))[-_TAIL:]
            buf.clear()
            self._scan = 0
            return False
        tail = (self._tail + bytes(buf[max(0, idx - _TAIL) : idx]))[-_TAIL:]
        self._consume(idx + 1)
        self._tail = b""
        tail = tail.removesuffix(b"\r")
        announced = None if self._skip_line_mode else _announcement(tail)
        self._skip_line_mode = False
        if announced is not None and not announced[1]:
            self._state = _SWALLOW
            self._remaining = announced[0]
        else:
            self._state = _LINE
        return True
