"""UIDVALIDITY allocation through ``dovecot-uidvalidity`` (maildir-format.md §3.5, Dovecot
``mailbox_uidvalidity_next``).

Theory of operation: the Maildir root holds an empty, mode 0444 file ``dovecot-uidvalidity.<8 hex>``
whose NAME is the counter. Taking the next value is a ``rename()`` of ``.<cur>`` to ``.<cur+1>``:
exactly one process wins each step, without any lock; a loser sees ENOENT and tries the next value.
``dovecot-uidvalidity`` itself (8 lowercase hex digits, no newline) only remembers the last value
handed out so that the next caller knows where to start; when it is missing or wrong the directory
is scanned for the counter file. Every new mailbox (and every mailbox whose uidlist was lost) takes
a new value, so no two mailboxes of an account share one and a recreated one never reuses its old.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from pathlib import Path

from maildird.store.maildir.lock import dir_file_mode

UIDVALIDITY_NAME = "dovecot-uidvalidity"
RETRY_COUNT = 10
"""Dovecot's ``RETRY_COUNT``: attempts per rename/create loop."""
COUNTER_MODE = 0o444
HEX_DIGITS = 8
UINT32_MASK = 0xFFFFFFFF

_COUNTER_RE = re.compile(r"dovecot-uidvalidity\.([0-9a-fA-F]{1,8})")
_fallback_lock = threading.Lock()
_last_fallback = 0


def _next_value(value: int) -> int:
    """value + 1 as uint32, skipping 0 (UIDVALIDITY 0 is invalid)."""
    nxt = (value + 1) & UINT32_MASK
    return nxt or 1


def _counter_path(root: Path, value: int) -> Path:
    return root / f"{UIDVALIDITY_NAME}.{value:08x}"


def _fallback() -> int:
    """``time(NULL)``, made strictly increasing within the process."""
    global _last_fallback
    with _fallback_lock:
        _last_fallback = max(int(time.time()), _last_fallback + 1) & UINT32_MASK or 1
        return _last_fallback


def _read_current(root: Path) -> int | None:
    try:
        data = (root / UIDVALIDITY_NAME).read_bytes()
    except OSError:
        return None
    text = data[:HEX_DIGITS].decode("ascii", "replace")
    if len(text) != HEX_DIGITS or not re.fullmatch(r"[0-9a-fA-F]{8}", text):
        return None
    value = int(text, 16)
    return value or None


def _write_current(root: Path, value: int) -> None:
    """Store the last handed-out value: 8 hex digits at offset 0 (always 8 bytes, no truncate)."""
    path = root / UIDVALIDITY_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), dir_file_mode(root))
    except OSError:
        return  # only a hint: the counter file is the truth
    try:
        data = f"{value:08x}".encode()
        if os.pread(fd, HEX_DIGITS, 0) != data:
            os.pwrite(fd, data, 0)
    finally:
        os.close(fd)


def _rename_up(root: Path, value: int) -> int | None:
    """Step the counter from ``value``; return the value now owned, or None on a real error."""
    cur = value
    for _ in range(RETRY_COUNT):
        nxt = _next_value(cur)
        try:
            os.rename(_counter_path(root, cur), _counter_path(root, nxt))
        except FileNotFoundError:
            cur = nxt  # someone raced us (or the hint is old): try the next value
            continue
        except OSError:
            return None
        return nxt
    return None


def _rescan(root: Path) -> int:
    values: list[int] = []
    try:
        names = os.listdir(root)
    except OSError:
        return _fallback()
    for name in names:
        m = _COUNTER_RE.fullmatch(name)
        if m:
            values.append(int(m.group(1), 16))
    if not values:
        cur = _fallback()
        for _ in range(RETRY_COUNT):
            try:
                fd = os.open(_counter_path(root, cur), os.O_RDWR | os.O_CREAT | os.O_EXCL, COUNTER_MODE)
            except FileExistsError:
                cur = _next_value(cur)
                continue
            except OSError:
                return _fallback()
            os.close(fd)
            _write_current(root, cur)
            return cur
        return _fallback()
    lo, hi = min(values), max(values)
    if lo != hi:  # duplicate counters (a race between creators): drop the older one
        with contextlib.suppress(OSError):
            os.unlink(_counter_path(root, lo))
    got = _rename_up(root, hi)
    if got is None:
        return _fallback()
    _write_current(root, got)
    return got


def next_uidvalidity(root: Path) -> int:
    """Allocate the account's next UIDVALIDITY (``root`` = the Maildir root / control root)."""
    root = Path(root)
    cur = _read_current(root)
    if cur is None:
        return _rescan(root)
    got = _rename_up(root, cur)
    if got is None:
        return _rescan(root)
    _write_current(root, got)
    return got
