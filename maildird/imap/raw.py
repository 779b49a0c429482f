"""The hand-off between framing and grammar: one complete client message.

The framer (``framing.py``) cuts the byte stream into lines and literals, deciding on each literal
when it is announced and never buffering past the limits. What it hands to the grammar
(``grammar.py``) is a ``RawCommand``: the command's lines with the literal octets between them.
Because literal octets are kept apart from the lines, a literal can never be mistaken for command
text (the imap-codec "fragmentizer" idea, architecture.md §2.9).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RawCommand:
    """One complete client command.

    ``lines`` holds the command's lines without their CRLF. Every line but the last ends with the
    literal announcement exactly as sent (``{12}``, ``{12+}`` or ``~{12}``, RFC 9051 §4.3, RFC 7888,
    RFC 3516 §4.1); ``literals[i]`` is the octets announced at the end of ``lines[i]`` and
    ``binary[i]`` says whether it was a ``~{n}`` literal8. So ``len(lines) == len(literals) + 1``.
    """

    lines: tuple[bytes, ...]
    literals: tuple[bytes, ...] = ()
    binary: tuple[bool, ...] = ()

    def __post_init__(self) -> None:
        if len(self.lines) != len(self.literals) + 1 or len(self.binary) != len(self.literals):
            raise ValueError("RawCommand needs one more line than literals, and a binary bit per literal")

    @classmethod
    def single(cls, line: bytes) -> RawCommand:
        """A command with no literal (tests and the grammar's own examples)."""
        return cls((line,))
