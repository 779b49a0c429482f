"""store.maildir.readers: jobs run in the dedicated threads with to_thread.run_sync's semantics."""

from __future__ import annotations

import threading

import pytest
import trio
import trio.testing

from maildird.store.maildir import readers


class Boom(Exception):
    pass


async def test_result_comes_from_a_reader_thread() -> None:
    def job(a: int, b: int) -> tuple[int, str]:
        return a + b, threading.current_thread().name

    total, name = await readers.run(job, 2, 3)
    assert total == 5
    assert name.startswith("maildird reader ")
    assert threading.current_thread().name != name


async def test_exception_is_raised_in_the_task() -> None:
    error = Boom("no such file")

    def job() -> None:
        raise error

    with pytest.raises(Boom) as caught:
        await readers.run(job)
    assert caught.value is error


async def test_a_cancelled_task_queues_nothing() -> None:
    ran: list[int] = []
    with trio.CancelScope() as scope:
        scope.cancel()
        await readers.run(ran.append, 1)
    assert scope.cancelled_caught
    assert ran == []


async def test_a_running_job_is_waited_for_despite_cancellation() -> None:
    """As to_thread.run_sync(abandon_on_cancel=False): the task takes the job's result, and the
    cancellation lands at its next checkpoint."""
    started, release = threading.Event(), threading.Event()
    got: list[str] = []

    def job() -> str:
        started.set()
        release.wait()
        return "done"

    async def waiter(scope: trio.CancelScope) -> None:
        with scope:
            got.append(await readers.run(job))
            await trio.lowlevel.checkpoint()
            got.append("not reached")

    scope = trio.CancelScope()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter, scope)
        await trio.to_thread.run_sync(started.wait)
        scope.cancel()
        await trio.testing.wait_all_tasks_blocked()
        assert got == []  # still waiting for the job
        release.set()
    assert got == ["done"]
    assert scope.cancelled_caught


async def test_at_most_reader_threads_jobs_run_at_once() -> None:
    running = 0
    counted = threading.Condition()
    release = threading.Event()

    def job() -> None:
        nonlocal running
        with counted:
            running += 1
            counted.notify_all()
        release.wait()

    def all_busy() -> None:
        with counted:
            counted.wait_for(lambda: running == readers.READER_THREADS)

    async with trio.open_nursery() as nursery:
        for _ in range(readers.READER_THREADS + 1):
            nursery.start_soon(readers.run, job)
        await trio.to_thread.run_sync(all_busy)
        await trio.testing.wait_all_tasks_blocked()
        assert readers._jobs.qsize() == 1  # the last job waits for a thread
        assert running == readers.READER_THREADS
        release.set()
    assert running == readers.READER_THREADS + 1


def test_threads_serve_later_trio_runs() -> None:
    async def one() -> str:
        return await readers.run(lambda: threading.current_thread().name)

    names = {trio.run(one) for _ in range(3)}
    assert all(name.startswith("maildird reader ") for name in names)
