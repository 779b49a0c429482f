"""``bytecache.ByteBoundCache``: the octet bound, FIFO vs LRU eviction, replacement and removal."""

from __future__ import annotations

from maildird.bytecache import ByteBoundCache


def cost(key: str, value: bytes) -> int:
    return len(value) + 1


def test_fifo_evicts_the_oldest_even_after_a_hit() -> None:
    cache: ByteBoundCache[str, bytes] = ByteBoundCache(6, cost)
    cache.put("a", b"xx")
    cache.put("b", b"yy")
    assert cache.get("a") == b"xx"  # no effect on the order without lru
    cache.put("c", b"zz")  # 9 > 6: "a" goes
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (None, b"yy", b"zz")
    assert (cache.used, len(cache)) == (6, 2)


def test_lru_keeps_what_was_read() -> None:
    cache: ByteBoundCache[str, bytes] = ByteBoundCache(6, cost, lru=True)
    cache.put("a", b"xx")
    cache.put("b", b"yy")
    assert cache.get("a") == b"xx"  # "a" is now the youngest
    cache.put("c", b"zz")  # "b" goes
    assert (cache.get("a"), cache.get("b"), cache.get("c"), cache.used) == (b"xx", None, b"zz", 6)


def test_replace_pop_clear_and_oversize() -> None:
    cache: ByteBoundCache[str, bytes] = ByteBoundCache(10, cost)
    cache.put("a", b"xx")
    cache.put("a", b"xxxx")
    assert (cache.get("a"), cache.used) == (b"xxxx", 5)
    cache.put("a", b"y", replace=False)
    assert (cache.get("a"), cache.used) == (b"xxxx", 5)
    cache.put("big", b"z" * 10)  # costs 11 > 10: never kept, nothing evicted
    assert (cache.get("big"), cache.get("a"), cache.used) == (None, b"xxxx", 5)
    cache.pop("a")
    cache.pop("missing")
    assert (len(cache), cache.used) == (0, 0)
    cache.put("b", b"q")
    cache.clear()
    assert (len(cache), cache.used, cache.get("b")) == (0, 0, None)
