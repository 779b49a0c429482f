"""The connection loop marks client commands for ``activity`` at most once per ``ACTIVITY_SLACK``
(``ClientConnection._mark_activity``): the run's last mark is never more than the slack behind the
last command, so background work still waits for a quiet moment after it. Autojump clock: the times
are exact. (The mark is read from ``activity._LAST``: ``wait_quiet``'s own sleeps are another test's.)"""

from __future__ import annotations

from pathlib import Path

import trio
import trio.testing

from maildird import activity
from maildird.connection import ACTIVITY_SLACK
from tests.server.test_limits import _services, _start


async def test_the_last_mark_keeps_up_with_a_burst_of_commands(
    tmp_path: Path, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    peer = await _start(nursery, _services(tmp_path))
    await peer.stream.send_all(b"a0 LOGIN u p\r\n")
    assert (await peer.until(b"a0"))[-1].startswith(b"a0 OK")
    await trio.sleep(activity.QUIET_SECONDS * 4)
    marks = set()
    for n in range(1, 40):  # a burst: each command well inside the slack of the one before
        await peer.stream.send_all(b"a%d NOOP\r\n" % n)
        assert (await peer.until(b"a%d" % n))[-1] == b"a%d OK NOOP completed." % n
        assert trio.current_time() - activity._LAST.get() <= ACTIVITY_SLACK
        marks.add(activity._LAST.get())
        await trio.sleep(ACTIVITY_SLACK / 7)
    assert 3 <= len(marks) < 20  # marked all along, but not twice per command


async def test_a_quiet_session_lets_background_work_run_at_once(
    tmp_path: Path, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    peer = await _start(nursery, _services(tmp_path))
    await peer.stream.send_all(b"a0 LOGIN u p\r\na1 NOOP\r\n")
    assert (await peer.until(b"a1"))[-1] == b"a1 OK NOOP completed."
    await trio.sleep(activity.QUIET_SECONDS * 2)
    start = trio.current_time()
    await activity.wait_quiet()
    assert trio.current_time() == start
