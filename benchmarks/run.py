"""Run the same IMAP workload against Dovecot and maildird on copies of one Maildir; print figures and ratios.

Theory of operation
-------------------
1. ``generate.ensure_generated`` makes (or reuses from ``--cache``) the preset's Maildir; two copies are
   made with ``cp -a`` in a fresh work directory, one per server, so neither sees the other's index files.
2. Both servers start on 127.0.0.1 (``servers.py``). A priming pass opens INBOX on each (timed: the first
   SELECT builds Dovecot's index and maildird's sidecar) and fetches flags, headers and ENVELOPE/
   BODYSTRUCTURE once, as a mail client's first visit would, so the later runs find the indexes a user's
   server has.
3. Each step (``STEPS``) runs per server **cold**: the server is stopped and started again, dirty pages
   are written and the page cache dropped (``echo 3 > /proc/sys/vm/drop_caches``, when permitted; the
   header line says whether it was), then a client logs in, selects INBOX if the step needs it, and the
   step is timed once. Then **warm**: on the same connection the step repeats ``reps`` times and the
   median counts. The servers take turns step by step, so drift of the machine hits both alike.
4. The table shows each figure and the ratio maildird / Dovecot. For seconds and memory lower is better;
   for commands per second higher is better. A second table lists the octets and response lines each
   server sent, to show the work was the same.

Every loop is bounded (command counts, repetitions), every wait has a timeout, only loopback is used,
and both servers are stopped in ``finally`` (by pid / process group). ``--json FILE`` saves the results.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.client import ClientError, Connection, Pool
from benchmarks.generate import DEFAULT_SEED, PRESETS, Manifest, ensure_generated
from benchmarks.servers import HOST, PASSWORD, REPO, USER, DovecotTarget, MaildirdTarget, Target

DEFAULT_CACHE = Path("/var/tmp/maildird-bench")
HEADER_FIELDS = (
    "From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To "
    "Content-Type Reply-To"
)
#: Seconds any one workload may take before the client gives up (a hung server fails the run).
STEP_TIMEOUT = 900.0
#: Seconds to let the servers settle after opening the idle connections, before reading memory.
SETTLE_SECONDS = 2.0
#: UIDs per FETCH in the concurrent workload (a client scrolling through a message list).
WINDOW = 10
DROP_CACHES = Path("/proc/sys/vm/drop_caches")
#: Untimed commands per connection before the concurrency workloads are timed (both servers fill their
#: caches for the windows the script visits: Dovecot's first timed pass was 10x slower with 2).
WARMUP_COMMANDS = 20


@dataclass(frozen=True, slots=True)
class Scale:
    """Workload sizes for a preset."""

    bodies: int
    idle_connections: int
    appends: int
    clients: tuple[int, int]  # the "few" and "many" concurrent clients
    commands: tuple[int, int]  # commands per client for each
    reps: int


SCALES = {
    # Small enough for CI: every LOGIN costs a 64 MiB argon2id hash on each server.
    "tiny": Scale(bodies=10, idle_connections=4, appends=10, clients=(2, 4), commands=(10, 4), reps=2),
    "10k": Scale(
        bodies=200, idle_connections=1000, appends=1000, clients=(8, 64), commands=(1000, 150), reps=3
    ),
    "100k": Scale(
        bodies=200, idle_connections=1000, appends=1000, clients=(8, 64), commands=(1000, 150), reps=2
    ),
}


@dataclass(frozen=True, slots=True)
class Step:
    key: str
    label: str
    unit: str  # "s", "cmd/s", "KiB/conn", "MiB"
    select: bool = True
    cold: bool = True


STEPS: tuple[Step, ...] = (
    Step("first_select", "SELECT INBOX, first open (no index yet)", "s", cold=True),
    Step("login", "LOGIN (connect, greeting, LOGIN)", "s", select=False),
    Step("list", 'LIST "" "*"', "s", select=False),
    Step("select", "SELECT INBOX", "s", select=False),
    Step("flags", "UID FETCH 1:* (UID FLAGS)", "s"),
    Step("headers", "UID FETCH 1:* Thunderbird headers", "s"),
    Step("envelope", "FETCH 1:* (ENVELOPE BODYSTRUCTURE INTERNALDATE)", "s"),
    Step("bodies", "{bodies} bodies: FETCH n BODY.PEEK[] one by one", "s"),
    Step("search_text", "UID SEARCH TEXT <rare word>", "s"),
    Step("search_from", "UID SEARCH FROM .. SINCE .. UNSEEN", "s"),
    Step("store_add", "STORE 1:* +FLAGS.SILENT (\\Flagged)", "s"),
    Step("store_remove", "STORE 1:* -FLAGS.SILENT (\\Flagged)", "s"),
    Step("idle_push", "IDLE push: rename into new/ -> EXISTS", "s"),
    Step("clients_few", "{few} clients FETCH+NOOP", "cmd/s", cold=False),
    Step("clients_many", "{many} clients FETCH+NOOP", "cmd/s", cold=False),
    Step("idle_memory", "{idle} idle connections (SELECT+IDLE): memory", "KiB/conn", cold=False),
    Step("append", "APPEND {appends} messages one by one", "s", select=False),
    Step("memory_after_fetch", "server memory after header fetch (PSS)", "MiB", cold=False),
)


def label(step: Step, scale: Scale) -> str:
    """The step's row label with the preset's counts filled in."""
    return step.label.format(
        bodies=scale.bodies,
        few=scale.clients[0],
        many=scale.clients[1],
        idle=scale.idle_connections,
        appends=scale.appends,
    )


HIGHER_IS_BETTER = {"cmd/s"}


@dataclass(slots=True)
class Figure:
    cold: float | None = None
    warm: float | None = None
    octets: int = 0
    lines: int = 0


@dataclass(slots=True)
class Context:
    manifest: Manifest
    scale: Scale
    source: Path
    exists: int = 0
    append_messages: list[bytes] = field(default_factory=list)
    deliveries: int = 0


@dataclass(slots=True)
class Measured:
    seconds: float
    octets: int = 0
    lines: int = 0


def drop_caches() -> str | None:
    """Write back dirty pages and drop the page cache; None on success, else why not."""
    os.sync()
    try:
        DROP_CACHES.write_text("3\n")
    except OSError as exc:
        return f"page cache not dropped ({exc.strerror or exc}): cold means restarted only"
    return None


def timed(conn: Connection, command: str, what: str) -> Measured:
    start = time.perf_counter()
    reply = conn.command(command).check(what)
    return Measured(time.perf_counter() - start, reply.octets, reply.lines)


def logout(conn: Connection) -> None:
    try:
        conn.sock.settimeout(10)
        conn.command("LOGOUT")
    except (OSError, ClientError):
        pass
    conn.close()


def open_session(target: Target, *, select: bool) -> Connection:
    conn = Connection.open(HOST, target.port, timeout=STEP_TIMEOUT)
    conn.login(USER, PASSWORD)
    if select:
        conn.command("SELECT INBOX").check("SELECT")
    return conn


# ---- the workloads: each takes a logged-in connection (INBOX selected if the step says so) ----------------


def w_login(conn: Connection, target: Target, ctx: Context) -> Measured:
    start = time.perf_counter()
    other = Connection.open(HOST, target.port, timeout=STEP_TIMEOUT)
    reply = other.login(USER, PASSWORD)
    seconds = time.perf_counter() - start
    logout(other)
    return Measured(seconds, reply.octets, reply.lines)


def w_select(conn: Connection, target: Target, ctx: Context) -> Measured:
    start = time.perf_counter()
    reply = conn.command("SELECT INBOX", keep=True).check("SELECT")
    seconds = time.perf_counter() - start
    for line in reply.kept:
        if line.endswith(b" EXISTS\r\n"):
            ctx.exists = int(line.split()[1])
    return Measured(seconds, reply.octets, reply.lines)


def w_bodies(conn: Connection, target: Target, ctx: Context) -> Measured:
    count = min(ctx.scale.bodies, ctx.manifest.inbox)
    stride = max(1, ctx.manifest.inbox // count)
    total = Measured(0.0)
    for i in range(count):
        m = timed(conn, f"FETCH {1 + i * stride} BODY.PEEK[]", "FETCH BODY")
        total.seconds += m.seconds
        total.octets += m.octets
        total.lines += m.lines
    return total


def w_idle_push(conn: Connection, target: Target, ctx: Context) -> Measured:
    """IDLE, then deliver one message (write in tmp/, rename into new/) and time until ``* n EXISTS``."""
    tag = conn.next_tag()
    conn.send(tag + b" IDLE\r\n")
    while not (line := conn.read_line()).startswith(b"+"):
        if line.startswith(tag):
            raise ClientError(f"IDLE refused: {line!r}")
    ctx.deliveries += 1
    name = f"{1_700_000_000 + ctx.deliveries}.M{ctx.deliveries}P{os.getpid()}.benchpush"
    tmp = target.maildir / "tmp" / name
    tmp.write_bytes(
        b"From: Pusher <push@example.com>\nTo: alice@example.org\nSubject: push %d\n"
        b"Message-ID: <push%d@example.com>\n\nPushed.\n" % (ctx.deliveries, ctx.deliveries)
    )
    stat = target.maildir.stat()
    os.chown(tmp, stat.st_uid, stat.st_gid)
    start = time.perf_counter()
    os.rename(tmp, target.maildir / "new" / name)
    octets = 0
    while True:
        line = conn.read_line()
        octets += len(line)
        if line.endswith(b" EXISTS\r\n"):
            break
    seconds = time.perf_counter() - start
    conn.send(b"DONE\r\n")
    conn.read_reply(tag).check("IDLE")
    return Measured(seconds, octets, 1)


def w_store_add(conn: Connection, target: Target, ctx: Context) -> Measured:
    return timed(conn, "STORE 1:* +FLAGS.SILENT (\\Flagged)", "STORE +FLAGS")


def w_store_remove(conn: Connection, target: Target, ctx: Context) -> Measured:
    return timed(conn, "STORE 1:* -FLAGS.SILENT (\\Flagged)", "STORE -FLAGS")


def w_append(conn: Connection, target: Target, ctx: Context) -> Measured:
    reply = conn.command("CREATE BenchAppend")
    if reply.status not in ("OK", "NO"):
        raise ClientError(f"CREATE: {reply.tagged!r}")
    start = time.perf_counter()
    for message in ctx.append_messages:
        conn.command(b"APPEND BenchAppend (\\Seen) {%d}\r\n%s" % (len(message), message)).check("APPEND")
    return Measured(time.perf_counter() - start, 0, len(ctx.append_messages))


def w_search_text(conn: Connection, target: Target, ctx: Context) -> Measured:
    return timed(conn, f'UID SEARCH TEXT "{ctx.manifest.rare_word}"', "SEARCH TEXT")


def w_search_from(conn: Connection, target: Target, ctx: Context) -> Measured:
    m = ctx.manifest
    return timed(conn, f'UID SEARCH FROM "{m.frequent_sender}" SINCE {m.since} UNSEEN', "SEARCH FROM")


def simple(command: str) -> Callable[[Connection, Target, Context], Measured]:
    return lambda conn, target, ctx: timed(conn, command, command.split()[0])


WORKLOADS: dict[str, Callable[[Connection, Target, Context], Measured]] = {
    "login": w_login,
    "list": simple('LIST "" "*"'),
    "select": w_select,
    "flags": simple("UID FETCH 1:* (UID FLAGS)"),
    "headers": simple(f"UID FETCH 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS ({HEADER_FIELDS})])"),
    "envelope": simple("FETCH 1:* (ENVELOPE BODYSTRUCTURE INTERNALDATE)"),
    "bodies": w_bodies,
    "search_text": w_search_text,
    "search_from": w_search_from,
    "store_add": w_store_add,
    "store_remove": w_store_remove,
    "idle_push": w_idle_push,
    "append": w_append,
}


def client_script(ctx: Context) -> Callable[[int, int], bytes]:
    """The concurrent workload's commands: client ``i``'s ``n``-th command, FETCH and NOOP alternating."""
    span = max(1, ctx.manifest.inbox - WINDOW)
    fetch = "(UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (From Subject Date)])"

    def script(i: int, n: int) -> bytes:
        if n % 2:
            return b"NOOP"
        first = 1 + (i * 7919 + n * 104729) % span
        return f"FETCH {first}:{first + WINDOW - 1} {fetch}".encode()

    return script


def run_clients(conns: Sequence[Connection], ctx: Context, commands_each: int, warmup: int = 0) -> Measured:
    """The concurrent workload on sessions already open (INBOX selected); commands per second."""
    script = client_script(ctx)
    if warmup:
        Pool(conns).run(script, warmup, timeout=STEP_TIMEOUT)
    start = time.perf_counter()
    done = Pool(conns).run(script, commands_each, timeout=STEP_TIMEOUT)
    seconds = time.perf_counter() - start
    return Measured(done / seconds, 0, done)


def concurrent(
    target: Target, ctx: Context, clients: int, commands_each: int, warmup: int = 0, reps: int = 1
) -> Measured:
    """``clients`` sessions, each ``commands_each`` commands; ``warmup`` untimed commands each first.

    With ``reps`` > 1 the timed pass runs that many times on the same sessions and the median counts
    (one short pass of a few thousand commands swung by a third between runs)."""
    conns = [open_session(target, select=True) for _ in range(clients)]
    try:
        samples = [run_clients(conns, ctx, commands_each, warmup if rep == 0 else 0) for rep in range(reps)]
        return _median(samples)  # a rate in .seconds: the median does not care which way is better
    finally:
        for conn in conns:
            logout(conn)


def idle_memory(target: Target, ctx: Context) -> Measured:
    """Memory per connection: ``n`` sessions logged in, INBOX selected, idling."""
    before = target.memory()
    conns: list[Connection] = []
    try:
        for _ in range(ctx.scale.idle_connections):
            conn = open_session(target, select=True)
            conns.append(conn)
            conn.send(conn.next_tag() + b" IDLE\r\n")
            if not conn.read_line().startswith(b"+"):
                raise ClientError("IDLE not accepted")
        time.sleep(SETTLE_SECONDS)
        after = target.memory()
    finally:
        for conn in conns:
            conn.close()
    per_conn = (after.pss_kib - before.pss_kib) / max(1, len(conns))
    return Measured(per_conn, after.pss_kib, after.processes)


# ---- the driver -----------------------------------------------------------------------------------------


class Runner:
    def __init__(self, targets: Sequence[Target], ctx: Context, *, drop: bool) -> None:
        self.targets = list(targets)
        self.ctx = ctx
        self.drop = drop
        self.cache_note: str | None = None if drop else "page cache not dropped (--no-drop-caches)"
        self.results: dict[str, dict[str, Figure]] = {
            s.key: {t.name: Figure() for t in targets} for s in STEPS
        }

    def restart(self, target: Target) -> None:
        target.stop()
        target.start()
        if self.drop:
            note = drop_caches()
            if note is not None:
                self.drop, self.cache_note = False, note

    def prime(self) -> None:
        for target in self.targets:
            target.start()
            conn = open_session(target, select=False)
            m = w_select(conn, target, self.ctx)
            self.record("first_select", target, cold=m)
            for key in ("flags", "headers", "envelope"):
                WORKLOADS[key](conn, target, self.ctx)
            logout(conn)

    def record(
        self, key: str, target: Target, *, cold: Measured | None = None, warm: Measured | None = None
    ) -> None:
        figure = self.results[key][target.name]
        for m, attr in ((cold, "cold"), (warm, "warm")):
            if m is not None:
                setattr(figure, attr, m.seconds)
                figure.octets, figure.lines = m.octets, m.lines

    def run_step(self, step: Step, target: Target) -> None:
        if step.key == "first_select":
            return
        if step.key in ("clients_few", "clients_many"):
            index = 0 if step.key == "clients_few" else 1
            clients, commands = self.ctx.scale.clients[index], self.ctx.scale.commands[index]
            measured = concurrent(
                target, self.ctx, clients, commands, warmup=WARMUP_COMMANDS, reps=self.ctx.scale.reps
            )
            self.record(step.key, target, warm=measured)
            return
        if step.key == "idle_memory":
            self.record(step.key, target, warm=idle_memory(target, self.ctx))
            return
        if step.key == "memory_after_fetch":
            conn = open_session(target, select=True)
            WORKLOADS["headers"](conn, target, self.ctx)
            self.record(step.key, target, warm=Measured(target.memory().pss_kib / 1024))
            logout(conn)
            return
        workload = WORKLOADS[step.key]
        self.restart(target)
        conn = open_session(target, select=step.select)
        try:
            self.record(step.key, target, cold=workload(conn, target, self.ctx))
            if step.key == "store_add":  # the cold -FLAGS follows the cold +FLAGS in the same session
                self.record("store_remove", target, cold=w_store_remove(conn, target, self.ctx))
            reps = 1 if step.key == "append" else self.ctx.scale.reps
            samples = []
            for _ in range(reps):
                if step.key == "store_add":
                    samples.append(
                        (w_store_add(conn, target, self.ctx), w_store_remove(conn, target, self.ctx))
                    )
                else:
                    samples.append((workload(conn, target, self.ctx),))
            self.record(step.key, target, warm=_median([s[0] for s in samples]))
            if step.key == "store_add":
                self.record("store_remove", target, warm=_median([s[1] for s in samples]))
        finally:
            logout(conn)


def _median(samples: list[Measured]) -> Measured:
    return sorted(samples, key=lambda m: m.seconds)[len(samples) // 2]


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value:.3f}" if value < 10 else f"{value:.1f}"
    if unit == "MiB":
        return f"{value:.1f}"
    return f"{value:,.0f}"


def _ratio(ours: float | None, theirs: float | None) -> str:
    if ours is None or theirs is None or theirs <= 0:
        return "-"
    return f"{ours / theirs:.2f}x"


def render(results: dict[str, dict[str, Figure]], header: Sequence[str], scale: Scale) -> str:
    rows = [
        ("step", "unit", "dovecot cold", "maildird cold", "ratio", "dovecot warm", "maildird warm", "ratio")
    ]
    for step in STEPS:
        d, m = results[step.key]["dovecot"], results[step.key]["maildird"]
        rows.append(
            (
                label(step, scale),
                step.unit,
                _fmt(d.cold, step.unit),
                _fmt(m.cold, step.unit),
                _ratio(m.cold, d.cold),
                _fmt(d.warm, step.unit),
                _fmt(m.warm, step.unit),
                _ratio(m.warm, d.warm),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [*header, ""]
    for n, row in enumerate(rows):
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        cells += [c.rjust(w) for c, w in zip(row[2:], widths[2:], strict=True)]
        lines.append("| " + " | ".join(cells) + " |")
        if n == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    lines.append("")
    lines.append(
        "ratio = maildird / dovecot: lower is better for s, KiB and MiB; higher is better for cmd/s."
    )
    lines.append("")
    lines.append("Work done (octets received by the client / response lines), warm run:")
    for step in STEPS:
        d, m = results[step.key]["dovecot"], results[step.key]["maildird"]
        if step.unit == "s" and (d.octets or m.octets):
            lines.append(
                f"  {label(step, scale)}: dovecot {d.octets:,} / {d.lines:,}; "
                f"maildird {m.octets:,} / {m.lines:,}"
            )
    return "\n".join(lines)


def _loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def machine() -> list[str]:
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    return [
        f"machine: {os.cpu_count()} x {cpu}, {mem_kib // 1024 // 1024} GiB RAM, Linux {platform.release()}, "
        f"Python {platform.python_version()}"
    ]


def maildird_source(commit: str | None, work: Path) -> Path:
    """The directory ``python -m maildird`` runs from: the repository, or an export of ``commit``."""
    if commit is None:
        return REPO
    out = work / "src"
    out.mkdir(exist_ok=True)
    archive = subprocess.run(
        ["git", "archive", commit, "maildird"], cwd=REPO, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    rev = subprocess.run(
        ["git", "rev-parse", "--short", commit], cwd=REPO, check=True, capture_output=True, text=True
    )
    (out / "COMMIT").write_text(rev.stdout.strip() + "\n")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="maildird vs Dovecot on the same Maildir (loopback only)")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="tiny")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where generated Maildirs are kept")
    parser.add_argument("--work", type=Path, default=None, help="work directory (default: a fresh temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--no-drop-caches", action="store_true", help="cold = restart only")
    parser.add_argument("--steps", default="", help="comma-separated step keys to run (default: all)")
    parser.add_argument(
        "--maildird-commit",
        default=None,
        help="serve maildird as of this git commit (exported with git archive) instead of the working tree",
    )
    parser.add_argument(
        "--maildird-source", type=Path, default=None, help="run maildird from this tree (a patched copy)"
    )
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args(argv)

    def log(text: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {text}", file=sys.stderr, flush=True)

    load_start = _loadavg()
    log(f"generating/reusing preset {args.preset} under {args.cache}")
    source, manifest = ensure_generated(args.cache, PRESETS[args.preset], args.seed)
    scale = SCALES[args.preset]
    work = args.work or Path(tempfile.mkdtemp(prefix="maildird-bench-", dir="/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    work.chmod(0o755)
    ctx = Context(manifest, scale, source)
    names = sorted(p.name for p in (source / "cur").iterdir())[: scale.appends]
    ctx.append_messages = [(source / "cur" / n).read_bytes().replace(b"\n", b"\r\n") for n in names]
    targets: list[Target] = []
    try:
        for name in ("dovecot", "maildird"):
            (work / name).mkdir(exist_ok=True)
            subprocess.run(["cp", "-a", str(source), str(work / name / "Maildir")], check=True)
        targets = [
            DovecotTarget(work / "dovecot" / "Maildir"),
            MaildirdTarget(
                work / "maildird" / "Maildir",
                work / "maildird",
                source=args.maildird_source or maildird_source(args.maildird_commit, work),
            ),
        ]
        runner = Runner(targets, ctx, drop=not args.no_drop_caches)
        if args.steps:
            wanted = set(args.steps.split(","))
            runner_steps = [s for s in STEPS if s.key in wanted]
        else:
            runner_steps = list(STEPS)
        runner.prime()
        for step in runner_steps:
            if step.key == "store_remove":
                continue
            for target in targets:
                log(f"  {step.key} on {target.name} (load {_loadavg()})")
                runner.run_step(step, target)
        load_end = _loadavg()
        header = [
            f"maildird vs Dovecot, preset {manifest.preset} ({manifest.inbox:,} messages in INBOX, "
            f"{sum(manifest.folders.values()):,} in all, {manifest.bytes_total / 1e6:.0f} MB, "
            f"seed {manifest.seed})",
            f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {targets[0].version()} vs {targets[1].version()}",
            *machine(),
            f"load average (1, 5, 15 min) at the start: {load_start}; at the end: {load_end}",
            f"cold = server restarted, {runner.cache_note or 'page cache dropped (echo 3 > drop_caches)'}; "
            f"warm = median of {scale.reps} on the same connection",
        ]
        print(render(runner.results, header, scale), flush=True)
        if args.json:
            args.json.write_text(
                json.dumps(
                    {
                        "header": header,
                        "results": {
                            k: {n: asdict(f) for n, f in v.items()} for k, v in runner.results.items()
                        },
                    },
                    indent=2,
                )
            )
    finally:
        for target in targets:
            target.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
