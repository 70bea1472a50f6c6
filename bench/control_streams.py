"""Event streams under load: N listeners on one queued ticket's status URL while events arrive.

Each run uses a fresh ticket (a queued build): its status URL is the capability from
POST /download, opened with no header. The listeners connect 100 at a time (each batch answered
before the next), then progress events are appended to the ticket's stream at a steady rate,
as a worker would, and the API's event hub follows that stream by XREAD. A second kind of run
opens all its listeners at once and counts the answers.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from urllib.parse import urlsplit

import redis
import uvloop

from control_posts import body
from control_services import ControlPlane, CpuMeter, CpuShares
from latency import percentile
from sse_listeners import Delivery, Listener, Opened, append_events, deliver, open_many

BATCH = 100


@dataclass
class StreamRun:
    listeners: int
    opened: Opened
    delivery: Delivery
    cpu: CpuShares
    redis_cpu_seconds: float
    rss_growth_bytes: int
    """The API's resident memory with the listeners open, against before they opened."""
    full_collections: list[float] | None
    """Seconds of each gen-2 garbage collection in the API while the events ran (with --gc)."""


@dataclass
class BurstRun:
    listeners: int
    opened: Opened
    seconds: float
    delivery: Delivery
    """One event appended once every answer has come: which streams answered 200 still work."""

    def time_to_answer_ms(self, share: float) -> float:
        return percentile(self.opened.seconds, share) * 1000 if self.opened.seconds else float("nan")

    @property
    def median_ms(self) -> float:
        return statistics.median(self.opened.seconds) * 1000 if self.opened.seconds else float("nan")


def _status_target(plane: ControlPlane, name: str) -> tuple[str, str]:
    """A fresh queued ticket: its id, and the path and query of its status URL."""
    created = plane.post(body(name))
    if created["status"] != "queued":
        raise RuntimeError(f"the stream's ticket is {created['status']}, not queued")
    url = urlsplit(str(created["status_url"]))
    return str(created["ticket_id"]), f"{url.path}?{url.query}"


def _redis_cpu(plane: ControlPlane) -> float:
    cpu = plane.redis.info("cpu")
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


async def _close_all(plane: ControlPlane, listeners: list[Listener], timeout_seconds: float = 30) -> None:
    """Close the listeners here, then wait until the API has let go of them too."""
    for listener in listeners:
        listener.close()
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        if await asyncio.to_thread(plane.sse_listeners) == 0:
            return


def run_stream(
    plane: ControlPlane,
    count: int,
    events: int,
    per_second: float,
    on_events: Callable[[], None] | None = None,
) -> StreamRun:
    """``count`` listeners, then ``events`` progress events at ``per_second``. ``on_events`` is
    called as the events begin (to start a profiler)."""
    ticket, target = _status_target(plane, f"sse-{count}-{time.monotonic_ns()}")
    writer_client = redis.Redis(port=plane.redis_port, decode_responses=True)
    key = f"filegate:ticket:{ticket}:events"
    append = partial(append_events, writer_client, key, events, per_second)
    meter = CpuMeter(plane)
    window = [0.0, 0.0]

    async def scenario() -> tuple[Opened, Delivery, CpuShares, float, int]:
        rss_before = plane.api_rss_bytes()
        opened = await open_many(plane.port, target, count, BATCH)
        await asyncio.sleep(1)  # every stream past its replay, waiting on the hub
        rss_growth = plane.api_rss_bytes() - rss_before
        meter.start()
        wall_started = time.time()
        redis_before = _redis_cpu(plane)
        if on_events is not None:
            on_events()
        delivery = await deliver(opened.listeners, append, events)
        cpu = meter.stop()
        window[:] = [wall_started, time.time()]
        redis_seconds = _redis_cpu(plane) - redis_before
        await _close_all(plane, opened.listeners)
        return opened, delivery, cpu, redis_seconds, rss_growth

    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            opened, delivery, cpu, redis_seconds, rss_growth = runner.run(scenario())
    finally:
        writer_client.close()
    if plane.gc_log is not None:
        time.sleep(1)  # the probe writes every half second
    pauses = plane.full_collections(*window)
    return StreamRun(count, opened, delivery, cpu, redis_seconds, rss_growth, pauses)


def run_burst(plane: ControlPlane, count: int) -> BurstRun:
    """``count`` listeners opened all at once: how many are answered 200, refused or lost, and
    how many of those answered still carry an event appended after the burst."""
    ticket, target = _status_target(plane, f"burst-{count}-{time.monotonic_ns()}")
    writer_client = redis.Redis(port=plane.redis_port, decode_responses=True)
    append = partial(append_events, writer_client, f"filegate:ticket:{ticket}:events", 1, 10)

    async def scenario() -> tuple[Opened, float, Delivery]:
        started = time.perf_counter()
        opened = await open_many(plane.port, target, count, count)
        seconds = time.perf_counter() - started
        await asyncio.sleep(1)
        delivery = await deliver(opened.listeners, append, 1)
        await _close_all(plane, opened.listeners)
        return opened, seconds, delivery

    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            opened, seconds, delivery = runner.run(scenario())
    finally:
        writer_client.close()
    return BurstRun(count, opened, seconds, delivery)
