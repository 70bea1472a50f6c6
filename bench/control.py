"""The control plane under load: POST /download at queue depths, and event streams with many listeners.

    .venv/bin/python bench/control.py [--quick] [--gc] [--profile]    # make bench-control, ~3.5 minutes

Everything runs on 127.0.0.1 and is started and stopped here: a private redis-server and one
`filegate api` (python -m filegate.cli api; auth on, an app key registered through the admin
token; FILEGATE_RATE_DOWNLOADS very high), with no build worker, so builds stay queued. The
store is a temporary folder of five 4 KiB files; every POST asks for three of them.

Measured with wrk -t2 -c64 for 10 s each (3 s with --quick, ~1.5 minutes in all), in one run:
  1. GET /health: the baseline every other row is a ratio of.
  2. GET /auth/me with the app key.
  3. POST /download at queue depths 0, 1,000 and 10,000 (the sorted set filegate:queue, filled
     by distinct requests through the API), three kinds: joining the same queued build every
     time; a cache hit on an archive a worker made ready at the start; a new build each time
     (a new archive name per request; the queue is held at its depth while it runs).
  4. Redis CPU per request (INFO cpu), and what it went to: top-level commands and scripts from
     SLOWLOG over 1 s in the middle of each POST run, and every command (those inside scripts
     too) from INFO commandstats.
  5. Event streams: 250, 1,000 and 2,000 listeners (1,000 with --quick) on one queued ticket's
     status URL while 50 progress events (20) are appended to its Redis stream at 10 per second:
     delivery latency and lost events. Then 1,000 listeners opened all at once, three times:
     how many were answered 200, and how many of those still carried an event appended after.
With --gc, bench/gc_probe/sitecustomize.py (put on the API's PYTHONPATH) times the API's full
garbage collections during the event runs. With --profile, py-spy (bench/spy.py) records the
API during an extra new-build run at depth 1,000 and an extra 2,000-listener run; the top
functions are printed and the raw stacks kept in bench/.data/control/.

Figures share two cores with wrk, Redis and this process, and with anything else running:
compare rows within one run only. Each row shows the CPU other processes used meanwhile.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from control_posts import PostRun, body, fill_queue, post_kinds, queue_depth, run_post
from control_services import ControlPlane
from control_streams import BurstRun, StreamRun, run_burst, run_stream
from control_tables import burst_lines, post_rows, redis_lines, stream_rows
from run import DATA_DIR, OtherLoad, machine_summary, source_revision, table_lines, terminate_cleanly
from spy import Recording, find_py_spy
from wrk_runs import WrkLoad

PROFILES = DATA_DIR / "control"
"""Where --profile leaves py-spy's raw output (collapsed stacks), one file per profiled run."""


BURSTS = 3
"""Times the listeners are opened all at once (the refusals vary from one time to the next)."""


@dataclass
class Plan:
    seconds: float
    depths: tuple[int, ...]
    listeners: tuple[int, ...]
    events: int
    per_second: float
    burst: int
    profile: str | None


def plan_of(quick: bool, profile: bool) -> Plan:
    spy = find_py_spy() if profile else None
    if profile and spy is None:
        sys.exit("py-spy is missing: python3 -m venv /tmp/spy && /tmp/spy/bin/pip install py-spy")
    if profile:
        PROFILES.mkdir(parents=True, exist_ok=True)
    if quick:
        return Plan(3, (0, 1_000, 10_000), (250, 1_000), 20, 10, 1_000, spy)
    return Plan(10, (0, 1_000, 10_000), (250, 1_000, 2_000), 50, 10, 1_000, spy)


def occupy_slots(plane: ControlPlane) -> str:
    """Fill every build slot (nothing builds them), queue the build the join rows join; its id."""
    for number in range(100):
        plane.post(body(f"slot-{number}"))
        if queue_depth(plane) > 0:  # the slots are full: this one waits
            plane.redis.zremrangebyrank("filegate:queue", 0, -1)
            ticket = plane.post(body("join"))["ticket_id"]
            return str(plane.redis.hget(f"filegate:ticket:{ticket}", "build_id"))
    raise RuntimeError("100 builds admitted and none queued: is a worker running?")


def measure_posts(plane: ControlPlane, plan: Plan, join_build: str) -> tuple[list[PostRun], list[str]]:
    runs: list[PostRun] = []
    notes: list[str] = []
    for level in plan.depths:
        filled = fill_queue(plane, max(1, level), f"fill{level}")
        print(f"[posts] queue at {queue_depth(plane):,} (filled in {filled:.1f} s)", flush=True)
        for label, load, outcome, hold in post_kinds(plane, level, plan.seconds, join_build):
            runs.append(run_post(plane, label, load, plan.seconds, outcome, hold))
            print(f"[posts] {label} at {level:,}: {runs[-1].wrk.rate:,.0f} req/s", flush=True)
            if plan.profile and level == 1_000 and hold is not None:
                notes += profile_posts(plane, plan.profile, load, level)
    return runs, notes


def profile_posts(plane: ControlPlane, py_spy: str, load: WrkLoad, level: int) -> list[str]:
    """An extra new-build run at this depth with py-spy attached (not in the table)."""
    load.distinct_prefix = f"profiled{level}"
    recording = Recording(py_spy, plane.api_pid, 10, PROFILES / f"py-spy-posts-new-{level}.txt")
    run = run_post(plane, "profiled", load, 11, lambda: queue_depth(plane), queue_depth(plane))
    profile = recording.finish()
    title = (
        f"py-spy, API during POST new build at depth {level:,} ({run.wrk.rate:,.0f} req/s under the profiler)"
    )
    return ["", *profile.lines(title, match="filegate/")]


def measure_streams(plane: ControlPlane, plan: Plan) -> tuple[list[StreamRun], list[BurstRun], list[str]]:
    runs = []
    notes: list[str] = []
    for count in plan.listeners:
        runs.append(run_stream(plane, count, plan.events, plan.per_second))
        print(f"[streams] {count:,} listeners: p99 {runs[-1].delivery.p99_ms:,.0f} ms", flush=True)
    if plan.profile:
        count = max(plan.listeners)
        seconds = 10
        holder: list[Recording] = []

        def start() -> None:
            out = PROFILES / f"py-spy-streams-{count}.txt"
            holder.append(Recording(str(plan.profile), plane.api_pid, seconds, out))

        run = run_stream(plane, count, int(seconds * plan.per_second), plan.per_second, start)
        title = (
            f"py-spy, API during {count:,} listeners, {plan.per_second:g} events/s "
            f"(p99 {run.delivery.p99_ms:,.0f} ms under the profiler)"
        )
        notes += ["", *holder[0].finish().lines(title, match="filegate/")]
    bursts = []
    for _ in range(BURSTS):
        bursts.append(run_burst(plane, plan.burst))
        print(
            f"[streams] {plan.burst:,} at once: {len(bursts[-1].opened.listeners):,} answered 200", flush=True
        )
    return runs, bursts, notes


def raise_file_limit() -> None:
    """Thousands of sockets here and in the API (which inherits the limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="3 s per wrk run, fewer listeners (~2 min)")
    parser.add_argument("--profile", action="store_true", help="py-spy the API in two extra runs")
    parser.add_argument("--gc", action="store_true", help="time the API's full collections (bench/gc_probe)")
    parser.add_argument(
        "--only", choices=("posts", "streams"), help="run only the POST rows or only the event streams"
    )
    parser.add_argument(
        "--keep-logs", type=Path, metavar="DIR", help="copy the services' logs here at the end"
    )
    args = parser.parse_args()
    plan = plan_of(args.quick, args.profile)
    raise_file_limit()
    others = OtherLoad()
    started = time.monotonic()
    measured = source_revision()  # the API imports src/ as it starts: this is what it runs
    with terminate_cleanly(), tempfile.TemporaryDirectory(prefix="filegate-control-") as scratch:
        plane = ControlPlane(Path(scratch), watch_gc=args.gc)
        try:
            plane.start()
            plane.make_ready(body("cached"))
            join_build = occupy_slots(plane)
            key = plane.api_key
            baseline = [
                run_post(plane, "GET /health", WrkLoad("/health"), plan.seconds, lambda: 0),
                run_post(plane, "GET /auth/me", WrkLoad("/auth/me", key), plan.seconds, lambda: 0),
            ]
            print(f"[baseline] /health {baseline[0].wrk.rate:,.0f} req/s", flush=True)
            posts, post_notes = measure_posts(plane, plan, join_build) if args.only != "streams" else ([], [])
            streams, bursts, stream_notes = (
                measure_streams(plane, plan) if args.only != "posts" else ([], [], [])
            )
            refusals = plane.log_count("Too many connections")
        finally:
            plane.close()
            if args.keep_logs is not None:
                args.keep_logs.mkdir(parents=True, exist_ok=True)
                for log in Path(scratch).glob("*.log"):
                    shutil.copy(log, args.keep_logs / log.name)
    print(f"\nmachine: {machine_summary().rsplit('; This is Zip', 1)[0]}; filegate {measured}")
    if source_revision() != measured:
        print(f"(src/ changed during the run: now {source_revision()})")
    print(f"mode: {'quick' if args.quick else 'full'}; wrk -t2 -c64, {plan.seconds:g} s per row\n")
    print("\n".join(table_lines(post_rows(baseline, posts))))
    print("\n".join(redis_lines(posts)))
    print()
    print("\n".join(table_lines(stream_rows(streams, plan.events, plan.per_second))))
    print("\n".join(burst_lines(bursts)))
    print(f"(the API logged 'Too many connections' from its Redis pool {refusals:,} times in the run)")
    print("\n".join(post_notes + stream_notes))
    print(f"\n{others.report()} Whole run: {time.monotonic() - started:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
