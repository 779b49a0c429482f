"""Profile maildird under one benchmark workload with py-spy and print the top functions.

Theory of operation
-------------------
A copy of the preset's Maildir is served by ``python -m maildird serve`` (as in ``run.py``), primed with
one SELECT and the full fetches (and, for the concurrent workloads, their sessions logged in), then
``py-spy record --format raw`` samples the server process while the client repeats the workload
``--reps`` times. py-spy stops on SIGINT and writes collapsed stacks (``frame;frame;frame count``);
``summarise`` turns them into the share of samples each function is on top of the stack (self) and
anywhere in it (inclusive). Idle samples (the Trio loop waiting in ``epoll``) are counted apart so the
shares are of busy time. Needs ``pip install py-spy``; root (or ptrace permission) to attach.

Usage: ``python -m benchmarks.profile --preset 10k --workload headers --reps 3``
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.client import Connection
from benchmarks.generate import DEFAULT_SEED, PRESETS, ensure_generated
from benchmarks.run import (
    DEFAULT_CACHE,
    SCALES,
    WARMUP_COMMANDS,
    WORKLOADS,
    Context,
    logout,
    maildird_source,
    open_session,
    run_clients,
)
from benchmarks.servers import MaildirdTarget

#: Samples per second py-spy takes.
SAMPLE_RATE = 200
#: Seconds py-spy gets to attach before the workload starts, and to write its output after SIGINT.
ATTACH_SECONDS = 2.0
FLUSH_TIMEOUT = 60.0
#: Innermost frames that mean a thread is waiting, not working: the Trio loop in epoll, Trio's idle worker
#: threads, watchdog's inotify reader. py-spy cannot always tell (a wait with a timeout looks busy).
IDLE_FRAMES = (
    "epoll",
    "select (selectors.py",
    "get_events (",
    "Condition.wait (threading.py)",
    "WorkerThread._work (_thread_cache.py)",
    "_check_inotify_fd (inotify_c.py)",
)
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]+)(?::\d+)?\)$")


def _short(frame: str) -> str:
    m = _FRAME.match(frame)
    if not m:
        return frame
    path = m.group("file")
    path = "maildird/" + path.split("maildird/", 1)[1] if "maildird/" in path else Path(path).name
    return f"{m.group('func')} ({path})"


def summarise(raw: str, top: int = 25) -> str:
    """Top functions by self and inclusive share of the busy samples in py-spy's raw output."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    busy = idle = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_short(f) for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        if any(marker in frames[-1] for marker in IDLE_FRAMES):
            idle += count
            continue
        busy += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    lines = [f"busy samples {busy}, waiting samples {idle} (at {SAMPLE_RATE}/s)", "", "self:"]
    lines += [f"  {100 * n / max(busy, 1):5.1f}%  {f}" for f, n in own.most_common(top)]
    lines += ["", "inclusive (maildird frames):"]
    ours = [(f, n) for f, n in inclusive.most_common() if "maildird/" in f][:top]
    lines += [f"  {100 * n / max(busy, 1):5.1f}%  {f}" for f, n in ours]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="py-spy profile of maildird under one workload")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="10k")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument(
        "--workload", default="headers", help=f"one of {sorted(WORKLOADS)} or clients_few/clients_many"
    )
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--maildird-commit", default=None)
    parser.add_argument("--maildird-source", type=Path, default=None, help="run maildird from this tree")
    parser.add_argument("--out", type=Path, default=None, help="keep py-spy's raw output here")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    source, manifest = ensure_generated(args.cache, PRESETS[args.preset], args.seed)
    ctx = Context(manifest, SCALES[args.preset], source)
    work = Path(tempfile.mkdtemp(prefix="maildird-prof-", dir="/tmp"))
    target: MaildirdTarget | None = None
    spy: subprocess.Popen[bytes] | None = None
    raw_path = args.out or work / "profile.txt"
    try:
        subprocess.run(["cp", "-a", str(source), str(work / "Maildir")], check=True)
        target = MaildirdTarget(
            work / "Maildir",
            work / "maildird",
            source=args.maildird_source or maildird_source(args.maildird_commit, work),
        )
        target.start()
        conn = open_session(target, select=True)
        for key in ("flags", "headers", "envelope"):
            WORKLOADS[key](conn, target, ctx)
        # The concurrent workloads' sessions are opened (and warmed) before py-spy attaches, so that
        # their LOGINs (argon2, a third of the samples otherwise) stay out of the profile.
        clients: list[Connection] = []
        if args.workload in ("clients_few", "clients_many"):
            index = 0 if args.workload == "clients_few" else 1
            clients = [open_session(target, select=True) for _ in range(ctx.scale.clients[index])]
            run_clients(clients, ctx, WARMUP_COMMANDS)
        assert target.process is not None
        spy = subprocess.Popen(
            [
                "py-spy",
                "record",
                "-p",
                str(target.process.pid),
                "-r",
                str(SAMPLE_RATE),
                "-f",
                "raw",
                "-o",
                str(raw_path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(ATTACH_SECONDS)
        start = time.perf_counter()
        for _ in range(args.reps):
            if clients:
                run_clients(clients, ctx, ctx.scale.commands[index])
            else:
                WORKLOADS[args.workload](conn, target, ctx)
        elapsed = time.perf_counter() - start
        for client in clients:
            logout(client)
        logout(conn)
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=FLUSH_TIMEOUT)
        print(f"{args.workload} x{args.reps} on {target.version()}: {elapsed:.2f} s")
        print(summarise(raw_path.read_text(), args.top))
    finally:
        if spy is not None and spy.poll() is None:
            spy.kill()
            spy.wait()
        if target is not None:
            target.stop()
        with contextlib.suppress(OSError):
            if args.out is None:
                shutil.rmtree(work)
            else:
                shutil.rmtree(work / "Maildir")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
