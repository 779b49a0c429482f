"""The cyclic garbage collector around bulk builds of a folder's objects.

Theory of operation: building a large folder's records and infos (a restart's load, a STORE on
thousands of messages) makes hundreds of thousands of tracked objects, none in a cycle. Left to
the collector, their allocations start young and middle collections that walk them only to keep
them (as costly as the building itself). So ``bulk_build`` pauses the collector meanwhile and then
moves a large build to the oldest generation unwalked (``promote_young``). That skips the
collector's own bookkeeping, so the full collection it would have run is owed
(``collection_owed``) and paid at a quiet moment (``settle_collector``, scheduled by
``fsthreads.run_fs`` through ``activity.when_quiet``) rather than by the next client command.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

_PAUSE_LOCK = threading.Lock()
"""Guards ``_pauses`` and ``_resume``: pauses begin and end on the event loop's thread and on worker
threads at once (a section read-ahead on the loop while another folder loads in a thread)."""
_pauses = 0
"""Pauses in effect, in every thread."""
_resume = False
"""Whether the collector was enabled when the first of the pauses in effect began."""


@contextlib.contextmanager
def paused(*, promote: bool = False) -> Iterator[None]:
    """Pause the cyclic garbage collector for the body; re-enabled when the last pause in effect (in
    any thread) ends, and only if it was enabled when the first began. A check-then-disable per
    pause could leave it disabled for good: B reads "disabled" while A's pause holds, A ends and
    enables, B disables and, having seen it disabled, never enables it again (two threads, a
    1 us switch interval: 3 in 200 trials). With ``promote`` what the body built is moved to the
    oldest generation on the way out (``promote_young``), unless the collector was disabled before
    any pause (whoever did that owns the collector)."""
    global _pauses, _resume
    with _PAUSE_LOCK:
        if _pauses == 0:
            _resume = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _PAUSE_LOCK:
            _pauses -= 1
            if promote and _resume:
                promote_young()
            if _pauses == 0 and _resume:
                gc.enable()


def bulk_build() -> contextlib.AbstractContextManager[None]:
    """Pause the cyclic garbage collector while a whole folder's records and infos are built (a
    restart's load): 100,000 messages make 300,000 tracked objects, none of them in a cycle, and the
    collections their allocations trigger (each young generation, then the old one as it grows)
    cost as much as building them (Python 3.11). Nested or concurrent uses leave it as they found
    it (``paused``).

    On the way out what was built is moved to the oldest generation at once (``promote_young``):
    left young, the first allocation after ``gc.enable`` would start a collection that walks all of
    it (~35 ms for 100,000 messages, on the SELECT's path) only to keep every object, and the
    promotions it counts would soon start a full collection over the whole heap as well."""
    return paused(promote=True)


PROMOTE_MIN_YOUNG = 10_000
"""Young objects (``gc.get_count()[0]``) from which ``promote_young`` moves them: the load of a
5,000-message folder, or a STORE on as many (two objects per message). Left young, such a build is
walked by the young collection and again by the middle one only to be kept: a 10k restart's 20,000
objects cost 2-12 ms per walk on the first command after the SELECT, and every STORE 1:* on 10,000
messages paid both walks (4-40 ms, load 3-6). A smaller build (a STORE of a few messages) leaves its
objects (and any garbage cycles among them) to the young collection, which is short then."""


def promote_young() -> None:
    """Move every object of the young generations into the oldest one without walking them
    (``gc.freeze`` then ``gc.unfreeze``: two list splices), when a large build left them
    (``PROMOTE_MIN_YOUNG``). Skipped when something in the process keeps objects frozen on purpose
    (``unfreeze`` would release them). Objects of other threads go along; garbage cycles among
    them wait for the next full collection instead of a young one, which is owed from now on
    (``collection_owed``)."""
    young = gc.get_count()[0]
    if young >= PROMOTE_MIN_YOUNG and gc.get_freeze_count() == 0:
        gc.freeze()
        gc.unfreeze()
        _owe(young)


# What ``collection_owed`` weighs (module state, written by worker threads under the GIL).
_promoted = 0
"""Objects promoted since the last full collection seen (``_full_seen``)."""
_full_seen = -1
"""Full collections the process had when ``_promoted`` last started from zero."""
_heap = 0
"""Tracked objects the last ``settle_collector`` left (0: no settle yet)."""


def _full_collections() -> int:
    return int(gc.get_stats()[-1]["collections"])


def _owe(promoted: int) -> None:
    global _promoted, _full_seen
    full = _full_collections()
    if full != _full_seen:  # a full collection ran since: it saw what was promoted before it
        _promoted, _full_seen = 0, full
    _promoted += promoted


SETTLE_AFTER_HEAPS = 2
"""A full collection is owed once builds of twice the heap the last one left were promoted: one
walk of the heap per two heaps promoted is half a walk per promoted object, where leaving them
young costs two (the young collection and the middle one)."""


def collection_owed() -> bool:
    """True when a full collection should run at the next quiet moment (``settle_collector``,
    scheduled by ``fsthreads.run_fs``): the process never had one and a build was promoted, or
    ``SETTLE_AFTER_HEAPS`` heaps were promoted since the last one. Cheap when nothing was promoted
    (one global read).

    Why: a promotion skips the collector's bookkeeping. ``gc.freeze`` zeroes every generation's
    count (CPython 3.11.7+), so the collector's own schedule puts off the full collection that would
    look at what was promoted (back-to-back large STOREs would put it off for good), and the
    process's first full collection is unconditional (no long-lived total to weigh yet,
    gcmodule.c), so after a restart it came with the first commands that allocate: the first STORE
    after a 10k SELECT paid a full collection of the whole heap (imports and folder, 68,000
    objects, 17-59 ms at load 3-6). Paid at a quiet moment instead, it also gives the collector
    its measure of the heap for the collections it schedules itself."""
    if _promoted <= 0 or _full_collections() != _full_seen:
        return False
    return _heap == 0 or _promoted >= SETTLE_AFTER_HEAPS * _heap


def settle_collector() -> None:
    """The owed full collection (``collection_owed``), on the caller's thread (the event loop's, at
    a quiet moment: ``activity.when_quiet``); nothing when none is owed any more."""
    if collection_owed():
        _collect()


def _collect() -> None:
    """A full collection, then the heap it left recorded and the debt cleared (``collection_owed``)."""
    global _promoted, _full_seen, _heap
    gc.collect()
    _heap = len(gc.get_objects())  # a list of the heap just walked: a fraction of the collection
    _promoted, _full_seen = 0, _full_collections()


def collect_at_start() -> None:
    """A full collection before the server takes its first client (``cli_serve``), with the heap it
    leaves recorded as ``settle_collector`` records it. CPython runs a process's first full
    collection unconditionally (no long-lived total to weigh yet, gcmodule.c), with the 11th middle
    collection; the imports use up 9 of those, so without this the first large command after a
    restart (a SELECT's load, a cold header fetch) paid a walk of the whole heap (40,000-75,000
    objects, 20-100 ms under load). Done here it costs ~15 ms while nobody waits, gives the
    collector its measure of the heap, and a restart's promoted load of less than
    ``SETTLE_AFTER_HEAPS`` heaps owes no collection of its own."""
    _collect()


__all__ = [
    "PROMOTE_MIN_YOUNG",
    "SETTLE_AFTER_HEAPS",
    "bulk_build",
    "collect_at_start",
    "collection_owed",
    "paused",
    "promote_young",
    "settle_collector",
]
