"""Cluster-wide metrics kept in Redis: counters and histograms every process adds to.

Everything lives in one hash, ``filegate:metrics``, so a scrape reads it with
one HGETALL and every API replica reports the same figures. State changes are
counted inside the Lua scripts that make them (archive/registry.py), in the
same atomic step, so each ticket is counted once per state it reaches;
``HINCRBY`` there goes through ``redis.pcall`` so a metrics failure cannot
fail the change. What only a worker knows (how long a build took, how long it
waited) is added here, one pipeline per event, and a failure is logged at
debug and forgotten.

Fields: ``tickets:<status>``, ``builds:<outcome>``, ``cache_hits``,
``direct_links``, ``build_bytes``, ``deletes``, ``deleted_bytes``,
``webhooks:<outcome>`` (attempts), ``webhooks_abandoned``, and for a
histogram ``<name>[:<label>]:le=<bound>`` (per bucket, not cumulative),
``...:count`` and ``...:sum``.
"""

from __future__ import annotations

import bisect
import logging
import math
from dataclasses import dataclass

import redis

from filegate.state.keys import METRICS

log = logging.getLogger(__name__)


TICKET_STATES = ("created", "ready", "failed", "cancelled", "expired")
BUILD_OUTCOMES = ("ready", "failed", "cancelled", "expired")
"""'expired': every ticket holding a queued build expired before it started."""
WEBHOOK_OUTCOMES = ("delivered", "failed", "refused")
"""Of one webhook attempt: a 2xx answer; no answer or another status (tried again); an address
filegate does not post to (not tried again)."""


@dataclass(frozen=True, slots=True)
class RedisHistogram:
    """A histogram with fixed bucket bounds, kept as hash fields."""

    name: str
    bounds: tuple[float, ...]

    def prefix(self, label: str = "") -> str:
        return f"{self.name}:{label}" if label else self.name

    def bucket_field(self, value: float, label: str = "") -> str:
        """The field of the one bucket ``value`` falls in (the smallest bound at or above it)."""
        index = bisect.bisect_left(self.bounds, value)
        bound = self.bounds[index] if index < len(self.bounds) else math.inf
        return f"{self.prefix(label)}:le={format_bound(bound)}"


def format_bound(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(float(bound))


# Builds take from seconds to hours; waits in the queue from nothing to FILEGATE_MAX_WAIT and past.
BUILD_DURATION = RedisHistogram(
    "build_duration_seconds",
    (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 14400.0, 43200.0),
)
QUEUE_WAIT = RedisHistogram(
    "queue_wait_seconds",
    (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0),
)


def _observe(pipe: redis.client.Pipeline, histogram: RedisHistogram, value: float, label: str = "") -> None:
    value = max(0.0, value)
    pipe.hincrby(METRICS, histogram.bucket_field(value, label), 1)
    pipe.hincrby(METRICS, f"{histogram.prefix(label)}:count", 1)
    pipe.hincrbyfloat(METRICS, f"{histogram.prefix(label)}:sum", value)


class BuildMetrics:
    """What a worker records about the builds it runs, on its synchronous client."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def build_started(self, queue_wait_seconds: float) -> None:
        try:
            with self._redis.pipeline(transaction=False) as pipe:
                _observe(pipe, QUEUE_WAIT, queue_wait_seconds)
                pipe.execute()
        except Exception:
            log.debug("could not record a build's queue wait", exc_info=True)

    def build_ended(self, outcome: str, duration_seconds: float, stored_bytes: int) -> None:
        """A build ran to ``outcome`` ('ready', 'failed', 'cancelled'); its count is kept by the
        transition itself (see the module's docstring)."""
        try:
            with self._redis.pipeline(transaction=False) as pipe:
                _observe(pipe, BUILD_DURATION, duration_seconds, outcome)
                if stored_bytes:
                    pipe.hincrby(METRICS, "build_bytes", stored_bytes)
                pipe.execute()
        except Exception:
            log.debug("could not record the end of a build", exc_info=True)


class WebhookMetrics:
    """What a worker records about the webhook attempts it makes."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def attempted(self, outcome: str) -> None:
        self._add(f"webhooks:{outcome}")

    def abandoned(self) -> None:
        """A delivery given up once FILEGATE_WEBHOOK_RETRY_FOR had passed."""
        self._add("webhooks_abandoned")

    def _add(self, name: str) -> None:
        try:
            self._redis.hincrby(METRICS, name, 1)
        except Exception:
            log.debug("could not count a webhook attempt", exc_info=True)
