"""The cluster-wide figures, read from Redis at scrape time and shown as Prometheus families.

Every API replica reads the same keys, so every replica reports the same
figures: scrape one, or aggregate them with max(), never sum().
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from filegate.metrics.cluster import (
    BUILD_DURATION,
    BUILD_OUTCOMES,
    QUEUE_WAIT,
    TICKET_STATES,
    WEBHOOK_OUTCOMES,
    RedisHistogram,
    format_bound,
)
from filegate.state.keys import METRICS, QUEUE, RUNNING
from filegate.state.keys import SPACE_HELD as HELD
from filegate.state.keys import SPACE_RESERVED as RESERVED


@dataclass(frozen=True, slots=True)
class ClusterSnapshot:
    queue_length: int = 0
    builds_running: int = 0
    held_bytes: int = 0
    reserved_bytes: int = 0
    fields: dict[str, str] = field(default_factory=dict)
    """The ``filegate:metrics`` hash."""

    def count(self, name: str) -> float:
        return float(self.fields.get(name, 0))


async def read_snapshot(client: aioredis.Redis) -> ClusterSnapshot:
    """One round trip: the queue, the running builds, the space counters and the metrics hash."""
    async with client.pipeline(transaction=False) as pipe:
        pipe.zcard(QUEUE)
        pipe.scard(RUNNING)
        pipe.get(HELD)
        pipe.get(RESERVED)
        pipe.hgetall(METRICS)
        queued, running, held, reserved, fields = await pipe.execute()
    return ClusterSnapshot(int(queued), int(running), int(held or 0), int(reserved or 0), dict(fields))


class ClusterCollector:
    """A prometheus_client collector over one snapshot.

    The snapshot is read before the collector runs, on the API's asyncio
    client: ``collect()`` is synchronous, and a blocking Redis call in it would
    stall the event loop (and every open status stream) for the scrape.
    ``snapshot`` is None when Redis could not be read: only
    ``filegate_cluster_metrics_up 0`` is shown then.
    """

    def __init__(self, snapshot: ClusterSnapshot | None, space_budget_bytes: int | None) -> None:
        self._snapshot = snapshot
        self._budget = space_budget_bytes

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(
            "filegate_cluster_metrics_up", "1 when the cluster-wide figures could be read from Redis."
        )
        up.add_metric([], 0 if self._snapshot is None else 1)
        yield up
        if self._snapshot is None:
            return
        yield from _gauges(self._snapshot, self._budget)
        yield from _counters(self._snapshot)
        yield _histogram(
            self._snapshot,
            BUILD_DURATION,
            "filegate_build_duration_seconds",
            "Time from a build's start to its end, by outcome (recorded by the worker).",
            ("ready", "failed", "cancelled"),
        )
        yield _histogram(
            self._snapshot,
            QUEUE_WAIT,
            "filegate_queue_wait_seconds",
            "Time a build waited from being queued to its start (recorded by the worker).",
        )


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _gauges(snapshot: ClusterSnapshot, budget: int | None) -> Iterable[Metric]:
    yield _gauge("filegate_queue_length", "Builds waiting in the queue.", snapshot.queue_length)
    yield _gauge("filegate_builds_running", "Builds holding a slot.", snapshot.builds_running)
    used = snapshot.held_bytes + snapshot.reserved_bytes
    yield _gauge("filegate_space_used_bytes", "Stored archives plus running builds' reservations.", used)
    yield _gauge("filegate_space_held_bytes", "Bytes of stored archives.", snapshot.held_bytes)
    yield _gauge(
        "filegate_space_reserved_bytes", "Bytes reserved by running builds.", snapshot.reserved_bytes
    )
    if budget is not None:
        yield _gauge("filegate_space_budget_bytes", "FILEGATE_SPACE_BUDGET (absent for auto).", budget)


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)


def _counters(snapshot: ClusterSnapshot) -> Iterable[Metric]:
    tickets = CounterMetricFamily(
        "filegate_tickets", "Tickets reaching each state ('created': every new ticket).", labels=["status"]
    )
    for status in TICKET_STATES:
        tickets.add_metric([status], snapshot.count(f"tickets:{status}"))
    yield tickets
    builds = CounterMetricFamily("filegate_builds", "Builds reaching each outcome.", labels=["outcome"])
    for outcome in BUILD_OUTCOMES:
        builds.add_metric([outcome], snapshot.count(f"builds:{outcome}"))
    yield builds
    yield _counter(
        "filegate_cache_hits", "Requests answered at once by a ready archive.", snapshot.count("cache_hits")
    )
    yield _counter(
        "filegate_direct_links",
        "Requests for one file answered at once with a link to the file itself.",
        snapshot.count("direct_links"),
    )
    yield _counter("filegate_build_bytes", "Bytes of archives built.", snapshot.count("build_bytes"))
    yield _counter(
        "filegate_deletes", "Stored archives deleted by the cleanup work.", snapshot.count("deletes")
    )
    yield _counter(
        "filegate_deleted_bytes", "Bytes of stored archives deleted.", snapshot.count("deleted_bytes")
    )
    webhooks = CounterMetricFamily(
        "filegate_webhook_attempts", "Webhook delivery attempts by outcome.", labels=["outcome"]
    )
    for outcome in WEBHOOK_OUTCOMES:
        webhooks.add_metric([outcome], snapshot.count(f"webhooks:{outcome}"))
    yield webhooks
    yield _counter(
        "filegate_webhooks_abandoned",
        "Webhook deliveries given up after FILEGATE_WEBHOOK_RETRY_FOR.",
        snapshot.count("webhooks_abandoned"),
    )


def _histogram(
    snapshot: ClusterSnapshot,
    histogram: RedisHistogram,
    name: str,
    documentation: str,
    labels: tuple[str, ...] = (),
) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, documentation, labels=["outcome"] if labels else None)
    for label in labels or ("",):
        prefix = histogram.prefix(label)
        buckets: list[tuple[str, float]] = []
        cumulative = 0.0
        for bound in histogram.bounds:
            cumulative += snapshot.count(f"{prefix}:le={format_bound(bound)}")
            buckets.append((format_bound(bound), cumulative))
        # The count, not the last bucket, is the +Inf bucket: it stays right even if bounds change.
        count = max(cumulative, snapshot.count(f"{prefix}:count"))
        buckets.append((format_bound(math.inf), count))
        family.add_metric([label] if labels else [], buckets, snapshot.count(f"{prefix}:sum"))
    return family
