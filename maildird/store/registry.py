"""One shared object per folder path per process, reference-counted.

Theory of operation: every session that opens a folder gets its own light handle, but all handles on
one directory share one heavy state object (the Maildir ``sync.Folder``: its cached records, its
``trio.Lock``, its sidecar connection). So 20 sessions on one INBOX share a single rescan, and the
per-folder lock really serializes all of this process's work on that folder (architecture.md §4.5).
The registry hands the object out with a reference count and gives it back for closing when the
last handle goes. RENAME and DELETE ``forget`` a path (and its children): handles still open keep
their old object, which then finds its directory gone and reports the mailbox as nonexistent.

No I/O here; the key is whatever the caller uses to name a folder (its resolved path).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Shared objects by key, each with a reference count."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[T, int]] = {}

    def acquire(self, key: str, factory: Callable[[], T]) -> T:
        """The object for ``key`` (created by ``factory`` on first use); count one more user."""
        item = self._items.get(key)
        if item is None:
            obj = factory()
            self._items[key] = (obj, 1)
            return obj
        self._items[key] = (item[0], item[1] + 1)
        return item[0]

    def release(self, key: str, obj: T) -> bool:
        """Count one user less; True when ``obj`` has no users left and should be closed.

        An object that was ``forget``-ten (or replaced) is no longer counted here: its last holder
        closes it, which is when this returns True for a key that no longer maps to ``obj``.
        """
        item = self._items.get(key)
        if item is None or item[0] is not obj:
            return True
        if item[1] <= 1:
            del self._items[key]
            return True
        self._items[key] = (obj, item[1] - 1)
        return False

    def forget(self, key: str, *, child_prefixes: tuple[str, ...] = ()) -> list[T]:
        """Drop ``key`` and every key starting with one of ``child_prefixes``; returns the dropped
        objects (their holders still close them through ``release``)."""
        gone: list[T] = []
        for k in list(self._items):
            if k == key or any(k.startswith(p) for p in child_prefixes):
                gone.append(self._items.pop(k)[0])
        return gone

    def get(self, key: str) -> T | None:
        item = self._items.get(key)
        return None if item is None else item[0]

    def users(self, key: str) -> int:
        item = self._items.get(key)
        return 0 if item is None else item[1]

    def __len__(self) -> int:
        return len(self._items)


_DEFAULT: Registry[object] = Registry()


def default_registry() -> Registry[object]:
    """The process-wide registry used when a store is given none."""
    return _DEFAULT
