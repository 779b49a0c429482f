"""Proof that a watched folder is unchanged, drawn from the inotify queue instead of ``stat`` calls.

Theory of operation (maildir-format.md §5.3, §6.1, §6.3-6.5):

* The kernel queues an inotify event inside the very system call that changes a watched directory:
  a create, rename or unlink in new/ or cur/, a control file (``dovecot-uidlist``,
  ``dovecot-keywords``) created, renamed over, written or removed in the folder directory, new/ or
  cur/ itself removed or replaced. So once the folder directory, new/ and cur/ are all watched,
  "every event queued for this folder has been read, none touched it since moment M, and the queue
  holds nothing now" proves that nothing in the folder changed since M.
* ``treewatch.TreeWatch`` gives every folder it covers a *token*: a number drawn from one process-
  wide sequence (``next_token``) whenever an event touches the folder or a watch of it is added or
  removed, and again for every folder when the tree is rebuilt after a queue overflow. Equal tokens
  at two moments therefore mean "nothing happened in between", across overflows, rebuilds and
  restarted watchers (a number is never handed out twice).
* ``token(key)`` (Trio thread only) asks the folder's source, which first empties the queue (a
  zero-timeout ``poll``, then reads until nothing is left, passing the events to the change hub as
  the read loop would) and answers None unless all three watches of the folder are live. None is
  also the answer with no source at all: the watchdog fallback, polling, a store used without a
  server, a root not yet watched, a folder being created or deleted, and any thread but the one
  that published the source (a second Trio run in the process must not drain another's queue).
* ``sync.Folder`` keeps the token it drew BEFORE its last complete look at the disk (a full sync,
  or a ``stat`` check that found nothing changed); the same token now means the folder still is
  what memory says, with no ``stat``. Any other answer falls back to the stats. Changes that
  inotify cannot see (another NFS client, an overlay's lower layer) are caught by the stats again
  once a proof is ``TRUST_NS`` old.
* ``quiet(key)`` mutes a folder's message events around the server's own bulk renames (a STORE on
  10,000 messages): no token while muted, a fresh one after, and the folder reported changed, so
  the next look stats and lists it as after any change.

No I/O here: only the registry of sources, filled and emptied by ``TreeWatch`` in the Trio thread.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from typing import Protocol

__all__ = ["TRUST_NS", "WatchSource", "next_token", "publish", "quiet", "token", "withdraw"]

TRUST_NS = 1_000_000_000
"""How long a folder proven unchanged by its watch is trusted without a ``stat`` (module docstring);
the same second as Dovecot's ``MAILDIR_SYNC_SECS`` dirty window."""

_SEQUENCE = itertools.count(1)


def next_token() -> int:
    """A number never handed out before in this process (module docstring)."""
    return next(_SEQUENCE)


class WatchSource(Protocol):
    def token(self, key: str) -> int | None:
        """The folder's current token after draining the queue, or None when it is not fully watched."""
        ...

    def mute(self, key: str) -> bool:
        """Stop the events of the folder's new/ and cur/ until ``unmute``; False when it cannot."""
        ...

    def unmute(self, key: str) -> None:
        """Watch new/ and cur/ again, draw a fresh token and report the folder changed."""
        ...


_SOURCES: dict[str, WatchSource] = {}


def publish(key: str, source: WatchSource) -> None:
    """``source`` watches the folder ``key`` (a ``changehub.folder_key``) from now on."""
    _SOURCES[key] = source


def withdraw(key: str, source: WatchSource) -> None:
    """``source`` no longer watches ``key`` (another source that took it over keeps it)."""
    if _SOURCES.get(key) is source:
        del _SOURCES[key]


def token(key: str) -> int | None:
    """The folder's token (module docstring), or None when no live watch covers it. Trio thread."""
    source = _SOURCES.get(key)
    return None if source is None else source.token(key)


@contextlib.contextmanager
def quiet(key: str) -> Iterator[None]:
    """Mute the folder's message events for the block (Trio thread; ``TreeWatch.mute``): the
    server's own bulk renames, whose echo would cost more than the renames. No token meanwhile;
    afterwards a fresh one, and the folder reported changed. Without a source, nothing happens."""
    source = _SOURCES.get(key)
    if source is None or not source.mute(key):
        yield
        return
    try:
        yield
    finally:
        source.unmute(key)
