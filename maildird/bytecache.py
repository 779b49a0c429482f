"""A cache bounded in octets, for values that are mostly ``bytes`` (header blocks, rendered sections).

Theory of operation: entries live in insertion order in an ``OrderedDict``; each ``put`` charges
``cost(key, value)`` (the octets held plus a per-entry overhead the caller measured) and evicts from the
oldest end until the total is within ``limit``. With ``lru`` a ``get`` hit moves the entry to the young
end (a least-recently-used cache: the header cache's memory layer, where clients scroll back and forth);
without it the cache is first-in first-out (the section cache, whose hits come in whole-folder sweeps).
Not a plain dict: taking a dict's oldest entry (``next(iter(d))``) walks past every slot already emptied
at its front, 8.6 us per eviction at 10,000 entries (a full cache taking in a 10,000-message list spent
80-190 ms evicting), where ``popitem(last=False)`` and ``move_to_end`` are O(1); a lookup costs about
the same (0.23 vs 0.16 us). An entry costing more than the whole cache is never kept. Not thread-safe:
callers use it from the Trio thread only.
"""

from __future__ import annotations

from collections import OrderedDict
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
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._items.get(key)
        if self.lru and value is not None:
            self._items.move_to_end(key)  # now the youngest
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
            self.used -= self._cost(*self._items.popitem(last=False))

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
            used -= cost_of(*entries.popitem(last=False))
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
