"""The search-text cache's memory layer (``searchcache``): per folder and field a dict uid -> text,
in a process-wide LRU of such tables bounded by ``MEMORY_BYTES`` (text length plus ``ENTRY_OVERHEAD``
per entry). When the bound is passed the least recently used tables are dropped whole; a table that
alone would pass it stops growing. Touched from the Trio thread only: no lock.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

from maildird.store.maildir.searchfile import MAX_CACHED_TEXT

MEMORY_BYTES = 8 * 1024 * 1024
"""Bound of the process-wide memory layer: about 50,000 typical texts (a 10,000-message folder's
From, To, Cc and Subject)."""

ENTRY_OVERHEAD = 110
"""Estimated cost of one memory entry beyond its characters (dict slot, int key, str header)."""

Texts = dict[int, str | None]
"""uid -> text (None: the message has no such field)."""
Ident = tuple[str, int, str]
"""(GUID, UIDVALIDITY, recipe version): what a text belongs to besides its field and UID."""
TableKey = tuple[int, Ident, str]
"""(folder cache token, ident, field)."""


def _cost(text: str | None) -> int:
    return ENTRY_OVERHEAD + (len(text) if text is not None else 0)


class MemoryLayer:
    """Tables of texts by (folder token, ident, field), least recently used dropped first."""

    def __init__(self, limit: int = MEMORY_BYTES) -> None:
        self.limit = limit
        self.used = 0
        self._tables: OrderedDict[TableKey, Texts] = OrderedDict()
        self._costs: dict[TableKey, int] = {}

    def table(self, key: TableKey) -> Texts | None:
        found = self._tables.get(key)
        if found is not None:
            self._tables.move_to_end(key)
        return found

    def add(self, key: TableKey, texts: Mapping[int, str | None]) -> None:
        table = self._tables.get(key)
        if table is None:
            table = self._tables[key] = {}
            self._costs[key] = 0
        self._tables.move_to_end(key)
        spent = 0
        for uid, text in texts.items():
            if uid in table or (text is not None and len(text) > MAX_CACHED_TEXT):
                continue
            cost = _cost(text)
            if self._costs[key] + spent + cost > self.limit:
                break  # this table alone would pass the bound: it stops growing
            table[uid] = text
            spent += cost
        self._costs[key] += spent
        self.used += spent
        while self.used > self.limit and len(self._tables) > 1:
            old, _ = self._tables.popitem(last=False)
            self.used -= self._costs.pop(old)

    def drop(self, token: int) -> None:
        """Forget every table of one folder cache."""
        for key in [k for k in self._tables if k[0] == token]:
            del self._tables[key]
            self.used -= self._costs.pop(key)

    def clear(self) -> None:
        self._tables.clear()
        self._costs.clear()
        self.used = 0


MEMORY = MemoryLayer()
"""The process-wide memory layer, shared by every folder."""
