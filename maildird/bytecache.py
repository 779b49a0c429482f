"""A cache bounded in octets, for values that are mostly ``bytes`` (header blocks, rendered sections).

Theory of operation: entries live in insertion order in a dict; each ``put`` charges ``cost(key,
value)`` (the octets held plus a per-entry overhead the caller measured) and evicts from the oldest
end until the total is within ``limit``. With ``lru`` a ``get`` hit moves the entry to the young end
(a least-recently-used cache: the header cache's memory layer, where clients scroll back and forth);
without it the cache is first-in first-out and a ``get`` is a plain dict lookup (the rendered-section
cache, whose hits come in whole-folder sweeps and whose lookup is on the hottest path). An entry costing
more than the whole cache is never kept. Not thread-safe: callers use it from the Trio thread only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class ByteBoundCache(Generic[K, V]):
    """A mapping bounded by the sum of ``cost(key, value)`` over its entries (module docstring)."""

    __slots__ = ("_cost", "_items", "limit", "lru", "used")

    def __init__(self, limit: int, cost: Callable[[K, V], int], *, lru: bool = False) -> None:
        self.limit = limit
        self.lru = lru
        self.used = 0
        self._cost = cost
        self._items: dict[K, V] = {}

    def get(self, key: K) -> V | None:
        if not self.lru:
            return self._items.get(key)
        value = self._items.pop(key, None)
        if value is not None:
            self._items[key] = value  # now the youngest
        return value

    def put(self, key: K, value: V, *, replace: bool = True) -> None:
        """Keep ``value`` under ``key``; an entry already there is replaced (or, without ``replace``,
        kept as it is)."""
        cost = self._cost(key, value)
        if cost > self.limit:
            return
        if key in self._items:
            if not replace:
                return
            self.pop(key)
        self._items[key] = value
        self.used += cost
        while self.used > self.limit:
            old = next(iter(self._items))
            self.used -= self._cost(old, self._items.pop(old))

    def put_many(self, items: Iterable[tuple[K, V]]) -> None:
        """``put`` of each pair, replacing, with the eviction done once at the end (a whole message
        list's sections after a restart: one loop instead of 10,000 calls)."""
        entries, cost_of, limit = self._items, self._cost, self.limit
        used = self.used
        for key, value in items:
            cost = cost_of(key, value)
            if cost > limit:
                continue
            old = entries.pop(key, None)
            if old is not None:
                used -= cost_of(key, old)
            entries[key] = value
            used += cost
        while used > limit:
            oldest = next(iter(entries))
            used -= cost_of(oldest, entries.pop(oldest))
        self.used = used

    def pop(self, key: K) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            self.used -= self._cost(key, old)

    def clear(self) -> None:
        self._items.clear()
        self.used = 0

    def __len__(self) -> int:
        return len(self._items)
