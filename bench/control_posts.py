"""POST /download under wrk at a given queue depth: three kinds, their speed and their Redis cost.

The queue is the sorted set ``filegate:queue``; with no build worker running, every new build
stays in it. It is filled by distinct requests (a new archive name each) through the API.
A run of new builds would deepen the queue as it goes, so a thread trims the newest entries
every 50 ms (``ZREMRANGEBYRANK``) to hold the depth where the run started. A trimmed build keeps
its records in Redis; it only stops waiting, and nothing reads it again.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from control_services import FILES, ControlPlane, CpuMeter, CpuShares
from raw_http import post_many
from redis_cost import RedisCost, SlowlogWindow, cost_between, snapshot
from wrk_runs import WrkLoad, WrkResult, run_wrk

QUEUE = "filegate:queue"
METRICS = "filegate:metrics"
SELECTION = list(FILES[:3])


def body(name: str) -> dict[str, Any]:
    return {"paths": SELECTION, "name": name}


@dataclass
class PostRun:
    label: str
    depth_start: int
    depth_end: int
    wrk: WrkResult
    cpu: CpuShares
    redis: RedisCost
    outcomes: int
    """Requests that had the intended outcome (joined / cache hit / new build), as Redis counts."""


def queue_depth(plane: ControlPlane) -> int:
    depth: int = plane.redis.zcard(QUEUE)
    return depth


def fill_queue(plane: ControlPlane, depth: int, prefix: str) -> float:
    """POST distinct requests until the queue holds ``depth`` builds; returns the seconds taken."""
    missing = depth - queue_depth(plane)
    if missing <= 0:
        return 0.0
    started = time.perf_counter()
    bodies = [body(f"{prefix}-{number}") for number in range(missing)]
    refused = asyncio.run(
        post_many(plane.port, plane.api_key, bodies, check=lambda _, answer: answer.get("status") == "queued")
    )
    if refused or queue_depth(plane) != depth:
        raise RuntimeError(f"filling the queue: {refused} refused, depth {queue_depth(plane)} not {depth}")
    return time.perf_counter() - started


def _trim_script() -> str:
    """Removes the queued builds past rank ARGV[1] the way filegate takes a build off its queue
    (``dequeue`` of state/lua/lib/queue.lua, which keeps the queue's index by size in step);
    KEYS: filegate's shared keys (state/keys.py)."""
    try:
        from filegate.state.scripts import prelude
    except ImportError:  # an older layout: the queue is one sorted set only
        head = "local function dequeue(id) redis.call('ZREM', KEYS[1], id) end\nlocal QUEUE = KEYS[1]\n"
    else:
        head = prelude(["shared", "queue"])
    return (
        head
        + """
-- bench/control_posts.py trimmer
local extra = redis.call('ZRANGE', QUEUE, ARGV[1], -1)
for _, build_id in ipairs(extra) do dequeue(build_id) end
return #extra
"""
    )


TRIM_SCRIPT = _trim_script()
try:
    from filegate.state.keys import SHARED as TRIM_KEYS
except ImportError:
    TRIM_KEYS = ("filegate:queue",)


class Trimmer:
    """Holds the queue at ``depth`` by removing the newest builds every ``interval`` seconds."""

    def __init__(self, plane: ControlPlane, depth: int, interval: float = 0.05) -> None:
        self.removed = 0
        self.calls = 0
        self._plane = plane
        self._depth = depth
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-queue-trimmer")

    def _trim(self) -> int:
        removed = int(self._plane.redis.eval(TRIM_SCRIPT, len(TRIM_KEYS), *TRIM_KEYS, self._depth))
        self.removed += removed
        self.calls += 1
        return removed

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._trim()
        # Requests still in flight when wrk stopped land after it: trim until two passes 0.3 s
        # apart find nothing (at most ~5 s).
        quiet = 0
        for _ in range(16):
            quiet = quiet + 1 if self._trim() == 0 else 0
            if quiet == 2:
                break
            time.sleep(0.3)

    def __enter__(self) -> Trimmer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _with_slowlog_window(
    plane: ControlPlane, seconds: float, window_seconds: float
) -> tuple[threading.Thread, SlowlogWindow]:
    """SLOWLOG on for ``window_seconds`` in the middle of a run of ``seconds``: a sample (logging
    every command costs Redis a little, so not the whole run); read after the run."""
    window = SlowlogWindow(plane.redis, {len(TRIM_SCRIPT.encode()): "bench trimmer"})

    def sample() -> None:
        time.sleep(max(0.0, (seconds - window_seconds) / 2))
        window.open()
        time.sleep(window_seconds)
        window.stop()

    thread = threading.Thread(target=sample, name="bench-slowlog")
    thread.start()
    return thread, window


def run_post(
    plane: ControlPlane,
    label: str,
    load: WrkLoad,
    seconds: float,
    outcome: Callable[[], int],
    hold_depth: int | None = None,
) -> PostRun:
    """One wrk run; ``outcome()`` counts the intended outcomes so far (read before and after)."""
    depth_start = queue_depth(plane)
    outcomes_before = outcome()
    before = snapshot(plane.redis)
    meter = CpuMeter(plane)
    meter.start()
    sampler, window = _with_slowlog_window(plane, seconds, min(1.0, seconds / 3))
    if hold_depth is None:
        result = run_wrk(plane.base_url, load, seconds)
        removed = 0
    else:
        with Trimmer(plane, hold_depth) as trimmer:
            result = run_wrk(plane.base_url, load, seconds)
        removed = trimmer.removed
        calls, usec = before.commands.get("eval", (0, 0))
        before.commands["eval"] = (calls + trimmer.calls, usec)  # the trimmer's are not the API's
    sampler.join()
    cpu = meter.stop(result.cpu_seconds)
    cost = cost_between(before, snapshot(plane.redis))
    cost.window = window.collect()
    depth_end = queue_depth(plane)
    outcomes = outcome() - outcomes_before + removed
    return PostRun(label, depth_start, depth_end, result, cpu, cost, outcomes)


def post_kinds(
    plane: ControlPlane, level: int, seconds: float, join_build: str
) -> list[tuple[str, WrkLoad, Callable[[], int], int | None]]:
    """The three kinds at one depth: (label, load, outcome counter, depth to hold)."""
    depth = queue_depth(plane)

    def joined() -> int:
        count: int = plane.redis.scard(f"filegate:build:{join_build}:tickets")
        return count

    def cache_hits() -> int:
        return int(plane.redis.hget(METRICS, "cache_hits") or 0)

    def new_builds() -> int:
        return queue_depth(plane)

    template = json.dumps(body("%s"))
    key = plane.api_key
    return [
        ("join a queued build", WrkLoad("/download", key, json.dumps(body("join"))), joined, None),
        ("cached, ready archive", WrkLoad("/download", key, json.dumps(body("cached"))), cache_hits, None),
        (
            "new build each",
            WrkLoad("/download", key, distinct_template=template, distinct_prefix=f"new{level}"),
            new_builds,
            depth,
        ),
    ]
