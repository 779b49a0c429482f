"""Logging to stderr, in journald's format when stderr is the journal (operations.md §8).

journald gives each stderr line of a unit a priority when it starts with ``<N>`` (syslog levels: 3 err,
4 warning, 6 info, 7 debug) and strips the prefix (``SyslogLevelPrefix=yes``, systemd.exec(5)); it also
stamps the time itself.  We know stderr *is* the journal when ``$JOURNAL_STREAM`` ("DEV:INODE") matches
``fstat(2)``: a redirected stderr keeps the variable but not the inode.  Elsewhere (a terminal, a file) lines
carry a timestamp and the level name.

Values that come from clients (user names, mailbox names, IDs) go through :func:`safe` before they reach a
log line: an IMAP literal can carry CR LF, which would otherwise forge a whole log line for fail2ban.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

__all__ = ["auth_failure_line", "journald_stream", "safe", "setup_logging"]

#: Longest user-supplied value written to a log line; the rest is elided.
MAX_LOGGED_VALUE = 200

_SYSLOG_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


def safe(value: object, limit: int = MAX_LOGGED_VALUE) -> str:
    """``value`` as one printable line: control characters (C0, DEL, C1), backslash and the line/paragraph
    separators become ``\\xNN``/``\\uNNNN`` escapes, and long values are cut at ``limit`` characters."""
    text = value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else str(value)
    out: list[str] = []
    for ch in text[:limit]:
        code = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif code < 0x20 or 0x7F <= code < 0xA0:
            out.append(f"\\x{code:02x}")
        elif code in (0x2028, 0x2029, 0x85):
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    if len(text) > limit:
        out.append("...")
    return "".join(out)


def auth_failure_line(rip: str, lip: str, method: str, reason: str, user: object) -> str:
    """The fail2ban-facing line (operations.md §3): ``rip`` first and ``user`` last, so a user name crafted
    to contain ``rip=...`` cannot move the address fail2ban extracts."""
    return (
        f"auth failed: rip={safe(rip)}, lip={safe(lip)}, method={safe(method)}, "
        f"reason={safe(reason)}, user=<{safe(user)}>"
    )


def journald_stream(stream: TextIO | None = None) -> bool:
    """True when ``stream`` (default stderr) is connected to the journal named by ``$JOURNAL_STREAM``."""
    expected = os.environ.get("JOURNAL_STREAM", "")
    dev, sep, ino = expected.partition(":")
    if not sep:
        return False
    try:
        st = os.fstat((stream or sys.stderr).fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return f"{st.st_dev}:{st.st_ino}" == f"{dev}:{ino}"


class _JournalFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        priority = _SYSLOG_PRIORITY.get(record.levelno, 6)
        text = super().format(record)
        # Continuation lines (tracebacks) would lose their priority; keep each one tagged.
        return "\n".join(f"<{priority}>{line}" for line in text.splitlines() or [""])


def setup_logging(level: str = "info", stream: TextIO | None = None) -> logging.Handler:
    """Install one stderr handler on the ``maildird`` logger (replacing any earlier one) and return it."""
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    if journald_stream(stream):
        handler.setFormatter(_JournalFormatter("%(name)s: %(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("maildird")
    for old in list(logger.handlers):
        if getattr(old, "_maildird", False):
            logger.removeHandler(old)
    handler._maildird = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False
    return handler
