"""Dedicated reader threads: a cheaper hop than ``trio.to_thread.run_sync`` for short blocking reads.

Theory of operation
-------------------
A client opening messages one by one sends one ``FETCH n BODY.PEEK[]`` at a time and waits for the
answer: each command waits for one small file read in a worker thread, and the hop to the thread and
back is most of its cost when the file is in the page cache. ``trio.to_thread.run_sync`` with a
``CapacityLimiter`` pays, besides the two thread wake-ups, the limiter's acquire and release (each a
pass through the scheduler), a thread taken from Trio's cache and renamed for the job, and a copy of
the context; measured here (2 cores, Python 3.11, Trio 0.35), a hop running nothing took 106-141 us
(median) that way and 38-56 us through the threads below, with a shorter tail.

``READER_THREADS`` long-lived daemon threads wait on one ``queue.SimpleQueue``. ``run`` puts the job
with the calling task and its run's ``TrioToken`` on the queue and parks the task
(``wait_task_rescheduled``); the first free thread runs the job, captures its outcome and hands it
back with ``TrioToken.run_sync_soon(reschedule, task, outcome)``. The threads start on first use and
serve every Trio run of the process (each job carries its own token; a run that ended before its
job finished has nobody to tell, and the outcome is dropped).

Semantics are those of ``trio.to_thread.run_sync`` with ``abandon_on_cancel=False``: the waiting
task cannot be cancelled while its job runs (it holds the folder's lock, and the job touches the
folder's memory), the job's exception is raised in the task, and at most ``READER_THREADS`` jobs run
at once (the others wait in the queue, first come first served). Only short reads belong here: a
job that blocks for long (a hung network file system) holds one of few threads.
"""

from __future__ import annotations

import functools
import queue
import threading
from collections.abc import Callable
from typing import TypeVar

import outcome
import trio

T = TypeVar("T")

READER_THREADS = 8
"""Threads running reader jobs at once, process-wide (as many as ``fsthreads.FS_THREADS``: whole-message
reads moved here from ``run_fs`` keep their concurrency; an idle thread costs a stack, no CPU)."""

_Job = tuple[Callable[[], object], trio.lowlevel.Task, trio.lowlevel.TrioToken]

_jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
_started = 0
_start_lock = threading.Lock()


def _serve() -> None:
    """One reader thread: run jobs until the process ends."""
    while True:
        job, task, token = _jobs.get()
        result = outcome.capture(job)
        try:
            token.run_sync_soon(trio.lowlevel.reschedule, task, result)
        except trio.RunFinishedError:
            pass  # the run this job belonged to is over: nobody waits for it


def _ensure_threads() -> None:
    global _started
    if _started >= READER_THREADS:
        return
    with _start_lock:
        while _started < READER_THREADS:
            _started += 1
            threading.Thread(target=_serve, name=f"maildird reader {_started}", daemon=True).start()


def _refuse_abort(_raise_cancel: object) -> trio.lowlevel.Abort:
    return trio.lowlevel.Abort.FAILED


async def run(fn: Callable[..., T], *args: object) -> T:
    """``fn(*args)`` in a reader thread; its result, or its exception raised here (module docstring).

    A checkpoint: a task already cancelled raises ``Cancelled`` before the job is queued."""
    await trio.lowlevel.checkpoint_if_cancelled()
    _ensure_threads()
    _jobs.put(
        (functools.partial(fn, *args), trio.lowlevel.current_task(), trio.lowlevel.current_trio_token())
    )
    # The thread reschedules the task with the job's Outcome, which Trio unwraps here.
    result: T = await trio.lowlevel.wait_task_rescheduled(_refuse_abort)
    return result


__all__ = ["READER_THREADS", "run"]
