"""RFC822.SIZE and INTERNALDATE of many message files at once (a folder's first open).

Theory of operation (maildir-format.md §1.4, §1.8, §5.2 rule 4):

* A file the sidecar does not know yet needs its INTERNALDATE (its mtime) and its RFC822.SIZE (the
  octets in CRLF form, RFC 9051 §6.4.5). A folder opened for the first time (no sidecar, or a
  Dovecot Maildir with only its ``dovecot-uidlist``) needs both for every message, so this module
  does it for a whole list in one pass instead of one ``Folder._measure`` call per file.
* Every file is named relative to an open descriptor of new/ or cur/ (``dir_fd``): the kernel
  walks the folder's path once per directory instead of once per file.
* A name with ``,W=`` gives the size (§1.4): one ``stat`` for the mtime. Any other file is opened
  (``O_NOFOLLOW``: a symbolic link is no message, ``listing``), ``fstat``-ed on that descriptor
  (the mtime, and the length to read) and read in chunks of at most ``READ_CHUNK``. A chunk
  without CR (an LF-only file, what Maildirs mostly hold) has its length plus its LF count as
  RFC822.SIZE; only a chunk holding a CR also counts its CRLF pairs, and a CRLF split between two
  chunks is counted once, as ``listing.file_vsize`` does. The ``in`` test finds a CR by
  ``memchr``; counting CRLF pairs costs about twice as much as counting LFs.
* Reading is what costs, when the files are not in the page cache above all: with
  ``READ_POOL_MIN`` files or more to read, the threads of a small process-wide pool read them
  while the calling thread ``stat``s the others (both release the GIL in their system calls).
  Measured on the 10k preset's INBOX (2 cores, load 4.3): page cache warm 91 -> 71 ms, file data
  evicted 0.37-0.44 -> 0.15 s.
* A file that cannot be measured here (renamed or removed by another program since the listing,
  a symbolic link, any other error) is answered ``None``: the caller takes it through the
  per-file path (``files.FolderFiles._measure``), which follows renames and raises what it
  raises, so the result is the same as before, only cheaper for the files that are where the
  listing saw them.

Blocking; the sync runs it in its worker thread, under the folder's locks.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait

from maildird.store.maildir.filenames import vsize_of
from maildird.store.maildir.listing import READ_CHUNK, Entry

__all__ = ["Measured", "chunk_vsize", "measure_entries"]

Measured = tuple[int, int]
"""(RFC822.SIZE, mtime_ns) of one file."""

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
_SUBDIRS = (("new", True), ("cur", False))

READ_THREADS = 4
"""Threads of the process-wide pool that reads files without ``,W=`` (module docstring)."""
READ_POOL_MIN = 32
"""Files to read from which the pool reads them; fewer are read by the calling thread."""
_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def chunk_vsize(chunk: bytes) -> int:
    """RFC822.SIZE of a run of octets: every bare LF counts as CRLF (``listing.crlf_size``), with
    the CRLF count skipped when the run holds no CR at all (module docstring)."""
    if b"\r" in chunk:
        return len(chunk) + chunk.count(b"\n") - chunk.count(b"\r\n")
    return len(chunk) + chunk.count(b"\n")


def fd_vsize(fd: int, length: int) -> int:
    """RFC822.SIZE of an open file, read to its end; ``length`` (its ``st_size``) sizes the first
    read, so a file up to ``READ_CHUNK`` octets long takes one ``read`` of its own length."""
    total = 0
    prev_cr = False
    want = min(length + 1, READ_CHUNK)  # one octet more than fstat said: a short read is the end
    while True:
        chunk = os.read(fd, want)
        if not chunk:
            return total
        total += chunk_vsize(chunk)
        if prev_cr and chunk[0] == 0x0A:
            total -= 1  # a CRLF split between two chunks was counted as a bare LF
        prev_cr = chunk[-1] == 0x0D
        if len(chunk) < want:
            return total  # a short read of a regular file: its end
        want = READ_CHUNK


def measure_entries(folder: str, entries: Sequence[Entry], sized: Sequence[bool]) -> list[Measured | None]:
    """For each entry (a file in ``folder``'s new/ or cur/): (RFC822.SIZE, mtime_ns), or None when
    the caller must measure it itself (module docstring). Where ``sized`` is false the size is
    already known to the caller and only the mtime is taken (the size answered is 0).

    With ``READ_POOL_MIN`` files or more to read, they are read by the ``READ_THREADS`` threads
    of a process-wide pool while this thread ``stat``s the others (module docstring).
    Raises ``FileNotFoundError`` only when new/ or cur/ itself cannot be opened."""
    fds: dict[bool, int] = {}
    futures: list[Future[list[Measured | None]]] = []
    try:
        for sub, in_new in _SUBDIRS:
            fds[in_new] = os.open(os.path.join(folder, sub), _DIR_FLAGS)
        vsizes = [vsize_of(e.name) if want else 0 for e, want in zip(entries, sized, strict=True)]
        unread = [i for i, v in enumerate(vsizes) if v is None]
        jobs = [unread[k::READ_THREADS] for k in range(READ_THREADS)] if len(unread) >= READ_POOL_MIN else []
        try:
            for job in jobs:
                futures.append(_pool().submit(_read_many, [_at(entries[i], fds) for i in job]))
        except RuntimeError:  # the pool is shut down (the interpreter is exiting): read them here
            jobs = []
        out: list[Measured | None] = [
            None if vsize is None else _stat_one(entry.name, fds[bool(entry.in_new)], vsize)
            for entry, vsize in zip(entries, vsizes, strict=True)
        ]
        if not jobs:
            jobs, found = [unread], [_read_many([_at(entries[i], fds) for i in unread])]
        else:
            found = [f.result() for f in futures]
        for job, measured in zip(jobs, found, strict=True):
            for i, m in zip(job, measured, strict=True):
                out[i] = m
        return out
    finally:
        wait(futures)  # the reads use the directory descriptors closed here
        for fd in fds.values():
            os.close(fd)


def _at(entry: Entry, fds: dict[bool, int]) -> tuple[str, int]:
    return entry.name, fds[bool(entry.in_new)]


def _pool() -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=READ_THREADS, thread_name_prefix="maildird measure")
        return _POOL


def _stat_one(name: str, dir_fd: int, vsize: int) -> Measured | None:
    try:
        return vsize, os.stat(name, dir_fd=dir_fd).st_mtime_ns
    except OSError:
        return None  # gone or renamed: the per-file path follows it


def _read_many(files: list[tuple[str, int]]) -> list[Measured | None]:
    return [_read_one(name, dir_fd) for name, dir_fd in files]


def _read_one(name: str, dir_fd: int) -> Measured | None:
    try:
        fd = os.open(name, _OPEN_FLAGS, dir_fd=dir_fd)
        try:
            st = os.fstat(fd)
            return fd_vsize(fd, st.st_size), st.st_mtime_ns
        finally:
            os.close(fd)
    except OSError:
        return None  # gone, renamed, a symbolic link, unreadable: the per-file path decides
