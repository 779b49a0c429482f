"""The ``subscriptions`` file (maildir-format.md §2.5, Dovecot ``subscription-file.c``).

Theory of operation:

* Version 2 (what Dovecot writes when it creates the file): the 5-byte header ``b"V\\t2\\n\\n"``, then
  one subscription per line, its hierarchy components separated by TAB and each component
  TAB-escaped (``\\001`` -> ``\\0011``, TAB -> ``\\001t``, LF -> ``\\001n``, CR -> ``\\001r``).
  Version 1 (no header): one full name per line, components joined by the hierarchy delimiter.
  An existing V1 file stays V1, like Dovecot.
* Names are storage names: modified UTF-7 components (raw UTF-8 with ``utf8_names``), INBOX upper
  case. This module speaks Unicode IMAP names joined by the layout's delimiter.
* Update: create ``subscriptions.lock`` with ``O_EXCL``, write the complete new content INTO the lock
  file, then ``rename`` it over ``subscriptions``. Unchanged content only removes the lock. A lock
  unchanged for ``LOCK_STALE_SECS`` is stale; we wait at most ``LOCK_TIMEOUT`` for a live one.
* Subscriptions to names that do not exist are legal and kept.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable
from pathlib import Path

from maildird.store.maildir.layout_common import INBOX, mutf7_decode, mutf7_encode
from maildird.store.maildir.lock import LockTimeout, adopt_dir_permissions, dir_file_mode, fsync_dir

SUBSCRIPTIONS_NAME = "subscriptions"
LOCK_NAME = "subscriptions.lock"
V2_HEADER = b"V\t2\n\n"
LOCK_TIMEOUT = 120.0
"""``SUBSCRIPTION_FILE_LOCK_TIMEOUT``: how long to wait for a live lock."""
LOCK_STALE_SECS = 30.0
"""``SUBSCRIPTION_FILE_CHANGE_TIMEOUT``: a lock unchanged this long is stale."""
LOCK_POLL = 0.05

_TAB_ESCAPES = {"\x01": "\x011", "\t": "\x01t", "\n": "\x01n", "\r": "\x01r"}
_TAB_UNESCAPES = {"1": "\x01", "t": "\t", "n": "\n", "r": "\r", "0": "\x00"}


def _tabescape(text: str) -> str:
    return "".join(_TAB_ESCAPES.get(c, c) for c in text)


def _tabunescape(text: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "\x01" and i + 1 < len(text) and text[i + 1] in _TAB_UNESCAPES:
            out.append(_TAB_UNESCAPES[text[i + 1]])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _decode_component(part: str, utf8_names: bool) -> str:
    if utf8_names:
        return part
    try:
        return mutf7_decode(part)
    except ValueError:
        return part


def _normalise(parts: list[str]) -> list[str]:
    if parts and parts[0].upper() == INBOX:
        return [INBOX, *parts[1:]]
    return parts


def parse_subscriptions(
    data: bytes, *, delimiter: str = ".", utf8_names: bool = False
) -> tuple[int, set[str]]:
    """(version, names) from the file's bytes."""
    text = data.decode("utf-8", "surrogateescape")
    version = 1
    if data.startswith(V2_HEADER[:2]):
        header, _, text = text.partition("\n")
        if header.startswith("V\t") and header[2:].isdigit():
            version = int(header[2:])
            _, _, text = text.partition("\n")  # the empty line after the header
    names: set[str] = set()
    for line in text.split("\n"):
        line = line.removesuffix("\r")
        if not line:
            continue
        raw_parts = [_tabunescape(p) for p in line.split("\t")] if version >= 2 else line.split(delimiter)
        parts = _normalise([_decode_component(p, utf8_names) for p in raw_parts])
        names.add(delimiter.join(parts))
    return version, names


def serialize_subscriptions(
    names: Iterable[str], *, version: int = 2, delimiter: str = ".", utf8_names: bool = False
) -> bytes:
    """The file's bytes, names sorted for a stable result."""
    lines: list[str] = []
    for name in sorted(set(names)):
        parts = _normalise(name.split(delimiter))
        enc = [p if utf8_names else mutf7_encode(p) for p in parts]
        lines.append("\t".join(_tabescape(p) for p in enc) if version >= 2 else delimiter.join(enc))
    body = "".join(line + "\n" for line in lines).encode("utf-8", "surrogateescape")
    return (V2_HEADER + body) if version >= 2 else body


def read_subscriptions(root: Path, *, delimiter: str = ".", utf8_names: bool = False) -> set[str] | None:
    """The subscribed names, or None when there is no ``subscriptions`` file."""
    try:
        data = (Path(root) / SUBSCRIPTIONS_NAME).read_bytes()
    except FileNotFoundError:
        return None
    return parse_subscriptions(data, delimiter=delimiter, utf8_names=utf8_names)[1]


def _create_lock(root: Path, timeout: float) -> int:
    path = root / LOCK_NAME
    deadline = time.monotonic() + timeout
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    while True:
        try:
            fd = os.open(path, flags, dir_file_mode(root))
        except FileExistsError:
            try:
                age = time.time() - os.stat(path).st_mtime
            except FileNotFoundError:
                continue
            if age >= LOCK_STALE_SECS:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
                continue
            if time.monotonic() >= deadline:
                raise LockTimeout(path, "") from None
            time.sleep(LOCK_POLL)
            continue
        adopt_dir_permissions(fd, root)
        return fd


def update_subscriptions(
    root: Path,
    *,
    add: Iterable[str] = (),
    remove: Iterable[str] = (),
    delimiter: str = ".",
    utf8_names: bool = False,
    timeout: float = LOCK_TIMEOUT,
) -> set[str]:
    """Add and remove names under ``subscriptions.lock`` and return the new set.

    A new file is written as V2; an existing V1 file stays V1.
    """
    root = Path(root)
    fd = _create_lock(root, timeout)
    lock = root / LOCK_NAME
    try:
        try:
            data: bytes | None = (root / SUBSCRIPTIONS_NAME).read_bytes()
        except FileNotFoundError:
            data = None
        version, names = (
            (2, set())
            if data is None
            else parse_subscriptions(data, delimiter=delimiter, utf8_names=utf8_names)
        )

        def canon(name: str) -> str:
            return delimiter.join(_normalise(name.split(delimiter)))

        new = (names | {canon(n) for n in add}) - {canon(n) for n in remove}
        if data is not None and new == names:
            os.close(fd)
            fd = -1
            os.unlink(lock)
            return new
        content = serialize_subscriptions(new, version=version, delimiter=delimiter, utf8_names=utf8_names)
        view = memoryview(content)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.rename(lock, root / SUBSCRIPTIONS_NAME)
        fsync_dir(root)
        return new
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(lock)
        raise
