"""One shared object per folder path per process, reference-counted, with a few kept warm.

Theory of operation: every session that opens a folder gets its own light handle, but all handles on
one directory share one heavy state object (the Maildir ``sync.Folder``: its cached records, its
``trio.Lock``, its sidecar connection). So 20 sessions on one INBOX share a single rescan, and the
per-folder lock really serializes all of this process's work on that folder (architecture.md §4.5).

The registry hands the object out with a reference count. When the last user releases it, it is
kept *idle* (up to ``keep_idle`` objects, least recently used first out) so that a client polling
STATUS on its folders finds them warm instead of reloading every folder's state; ``release`` returns
the objects that fell out and must now be closed. RENAME and DELETE ``forget`` a path (and its
children): idle objects are returned for closing at once; objects still in use stay with their
handles, which find their directory gone, and are closed by their last ``release``.

No I/O, and not thread-safe: call it from the Trio thread only. The key is whatever the caller uses
to name a folder (its resolved path).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

KEEP_IDLE = 32
"""Folders kept open after their last handle closed (per process, by default)."""


class Registry(Generic[T]):
    """Shared objects by key, each with a reference count, plus an LRU of idle ones."""

    def __init__(self, *, keep_idle: int = 0) -> None:
        self.keep_idle = keep_idle
        self._items: dict[str, tuple[T, int]] = {}
        self._idle: OrderedDict[str, T] = OrderedDict()

    def acquire(self, key: str, factory: Callable[[], T]) -> T:
        """The object for ``key`` (an idle one revived, or made by ``factory``); one more user."""
        item = self._items.get(key)
        if item is not None:
            self._items[key] = (item[0], item[1] + 1)
            return item[0]
        obj = self._idle.pop(key, None)
        if obj is None:
            obj = factory()
        self._items[key] = (obj, 1)
        return obj

    def release(self, key: str, obj: T) -> list[T]:
        """One user less. Returns the objects to close now: ``obj`` itself when it was forgotten
        (or idling is off), or whatever the idle list pushed out."""
        item = self._items.get(key)
        if item is None or item[0] is not obj:
            return [obj]
        if item[1] > 1:
            self._items[key] = (obj, item[1] - 1)
            return []
        del self._items[key]
        if self.keep_idle <= 0:
            return [obj]
        self._idle[key] = obj
        out: list[T] = []
        while len(self._idle) > self.keep_idle:
            out.append(self._idle.popitem(last=False)[1])
        return out

    def forget(self, key: str, *, child_prefixes: tuple[str, ...] = ()) -> list[T]:
        """Drop ``key`` and every key starting with one of ``child_prefixes``. Returns the idle
        objects among them, to close now; objects in use are closed by their last ``release``."""

        def matches(k: str) -> bool:
            return k == key or any(k.startswith(p) for p in child_prefixes)

        for k in [k for k in self._items if matches(k)]:
            del self._items[k]
        return [self._idle.pop(k) for k in [k for k in self._idle if matches(k)]]

    def drain(self) -> list[T]:
        """Forget every idle object (returned, to close), e.g. at shutdown."""
        out = list(self._idle.values())
        self._idle.clear()
        return out

    def get(self, key: str) -> T | None:
        item = self._items.get(key)
        return item[0] if item is not None else self._idle.get(key)

    def users(self, key: str) -> int:
        item = self._items.get(key)
        return 0 if item is None else item[1]

    def idle(self) -> int:
        return len(self._idle)

    def __len__(self) -> int:
        return len(self._items) + len(self._idle)


_DEFAULT: Registry[object] = Registry(keep_idle=KEEP_IDLE)


def default_registry() -> Registry[object]:
    """The process-wide registry used when a store is given none."""
    return _DEFAULT
