"""A thin ctypes binding of Linux inotify(7): one non-blocking descriptor, raw events, no threads.

Theory of operation (maildir-format.md §6.3-6.5): watchdog's observer pairs every ``IN_MOVED_FROM``
with its ``IN_MOVED_TO`` in a queue it searches linearly and hands each event across two threads,
which made a STORE on 10,000 messages spend half its CPU on the echo of its own renames. The change
hub needs none of that: identity is the base name, so an unpaired half of a move means the same as
a pair ("this folder changed"). So this module only opens the descriptor (``IN_NONBLOCK``), adds and
removes watches, and parses what ``read`` returns into ``RawEvent`` values; ``maildird.changes``
waits for readability in Trio and maps events to folders.

``struct inotify_event`` (inotify(7)): ``int wd; uint32_t mask, cookie, len; char name[len]``, the
name NUL-padded. ``IN_Q_OVERFLOW`` arrives with ``wd == -1``.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
import sys
from typing import NamedTuple

IN_MODIFY = 0x00000002
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_UNMOUNT = 0x00002000
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_EXCL_UNLINK = 0x04000000
IN_ISDIR = 0x40000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC

_HEADER = struct.Struct("iIII")
READ_SIZE = 256 * 1024
"""Bytes asked of one ``read``: room for several thousand events (each 16 bytes plus its name)."""


class RawEvent(NamedTuple):
    wd: int
    mask: int
    cookie: int
    name: bytes


class InotifyUnavailable(OSError):
    """No inotify here (not Linux, or the C library lacks it)."""


def _libc() -> ctypes.CDLL:
    if not sys.platform.startswith("linux"):
        raise InotifyUnavailable(errno.ENOSYS, "inotify exists on Linux only")
    lib = ctypes.CDLL(None, use_errno=True)
    if not hasattr(lib, "inotify_init1"):
        raise InotifyUnavailable(errno.ENOSYS, "the C library has no inotify_init1")
    lib.inotify_init1.argtypes = [ctypes.c_int]
    lib.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
    lib.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
    return lib


def parse_events(data: bytes) -> list[RawEvent]:
    """Split the bytes of one ``read`` into events (inotify(7) layout, module docstring)."""
    out: list[RawEvent] = []
    pos, end, size, unpack = 0, len(data), _HEADER.size, _HEADER.unpack_from
    while pos + size <= end:
        wd, mask, cookie, length = unpack(data, pos)
        pos += size
        out.append(RawEvent(wd, mask, cookie, data[pos : pos + length].rstrip(b"\0")))
        pos += length
    return out


class Inotify:
    """One inotify descriptor (non-blocking, close-on-exec). Not thread-safe."""

    def __init__(self) -> None:
        self._lib = _libc()
        fd = self._lib.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"inotify_init1: {os.strerror(err)}")
        self.fd: int = fd

    def add_watch(self, path: str, mask: int) -> int:
        """Watch a path; returns its watch descriptor (the same one again for a watched inode).
        Raises ``OSError`` (ENOSPC past ``max_user_watches``, ENOENT, ENOTDIR with IN_ONLYDIR)."""
        wd: int = self._lib.inotify_add_watch(self.fd, os.fsencode(path), mask)
        if wd < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"inotify_add_watch: {os.strerror(err)}", path)
        return wd

    def rm_watch(self, wd: int) -> None:
        """Stop a watch; a descriptor the kernel already dropped (IN_IGNORED) is no error."""
        self._lib.inotify_rm_watch(self.fd, wd)

    def read(self) -> list[RawEvent]:
        """The events queued now ([] when none: the descriptor never blocks)."""
        try:
            data = os.read(self.fd, READ_SIZE)
        except BlockingIOError:
            return []
        return parse_events(data)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
