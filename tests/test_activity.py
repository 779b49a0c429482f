"""``activity``: background work waits until no client command has run for ``QUIET_SECONDS``
(Trio's clock: these tests run on the autojump clock, so the order of events is exact)."""

from __future__ import annotations

import time

import trio
import trio.testing

from maildird import activity


async def test_wait_quiet_returns_at_once_when_nothing_ran_lately(
    autojump_clock: trio.testing.MockClock,
) -> None:
    activity.mark()
    await trio.sleep(activity.QUIET_SECONDS * 3)
    start = trio.current_time()
    await activity.wait_quiet()
    assert trio.current_time() == start


async def test_wait_quiet_waits_out_a_recent_command(autojump_clock: trio.testing.MockClock) -> None:
    activity.mark()
    marked = trio.current_time()
    await activity.wait_quiet()
    assert trio.current_time() - marked >= activity.QUIET_SECONDS


async def test_wait_quiet_ends_where_the_remaining_wait_rounds_to_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """At a clock of 1e8 s, 10 us before the quiet time, ``QUIET_SECONDS - idle`` added to the clock
    rounds to no move at all: waiting by that remainder spun forever without the clock advancing. A
    real-time watchdog (a thread) ends the test instead of letting it hang."""
    autojump_clock.jump(1e8)
    activity.mark()
    quiet_at = trio.current_time() + activity.QUIET_SECONDS
    autojump_clock.jump(activity.QUIET_SECONDS - 1e-5)
    hung: list[bool] = []
    async with trio.open_nursery() as nursery:

        async def watchdog() -> None:
            await trio.to_thread.run_sync(time.sleep, 10, abandon_on_cancel=True)
            hung.append(True)
            nursery.cancel_scope.cancel()

        nursery.start_soon(watchdog)
        await activity.wait_quiet()
        nursery.cancel_scope.cancel()
    assert not hung
    assert trio.current_time() >= quiet_at


async def test_commands_without_pause_defer_the_work_until_they_stop(
    autojump_clock: trio.testing.MockClock,
) -> None:
    steps: list[tuple[str, float]] = []

    async def busy_client() -> None:
        for _ in range(10):
            activity.mark()
            await trio.sleep(activity.QUIET_SECONDS / 5)
        activity.mark()
        steps.append(("client done", trio.current_time()))

    async def background() -> None:
        await activity.wait_quiet(activity.QUIET_SECONDS / 10)
        steps.append(("background step", trio.current_time()))

    activity.mark()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(busy_client)
        nursery.start_soon(background)
    assert [name for name, _ in steps] == ["client done", "background step"]
    assert steps[1][1] - steps[0][1] >= activity.QUIET_SECONDS


def test_a_mark_from_another_run_does_not_count() -> None:
    """Each Trio run has its own clock: a mark made in one (say an earlier test's server, at a time far
    ahead of a fresh mock clock) must not hold back another run's background work."""
    late = trio.testing.MockClock()
    late.jump(1_000_000.0)
    trio.run(_mark, clock=late)
    fresh = trio.testing.MockClock(autojump_threshold=0)
    assert trio.run(_waited, clock=fresh) == 0.0


async def _mark() -> None:
    activity.mark()


async def _waited() -> float:
    start = trio.current_time()
    await activity.wait_quiet()
    return trio.current_time() - start
