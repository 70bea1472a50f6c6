"""This API process's own metrics: its HTTP requests and the bytes its download links served."""

from __future__ import annotations

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

# Status streams stay open for minutes: the top buckets keep them apart from quick answers.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""Other methods are counted as 'other', so a client cannot make up label values."""

# Counters without their '_created' companions: Prometheus does not need them.
prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]


class HttpMetrics:
    """The metrics of one API process, in a registry of its own (not the library's global one),
    so that every app made in a process (tests make several) counts on its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self._requests = Counter(
            "filegate_http_requests",
            "HTTP requests answered, by method, route template ('other' when none matched) and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self._duration = Histogram(
            "filegate_http_request_duration_seconds",
            "Time from a request's arrival to the end of its answer (status streams included).",
            ["route"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self._served = Counter(
            "filegate_served_bytes",
            "Body bytes of the local store's download links served by this process, by link kind.",
            ["link"],
            registry=self.registry,
        )

    def observe_request(self, method: str, route: str, status: int, duration_seconds: float) -> None:
        method = method if method in METHODS else "other"
        self._requests.labels(method, route, str(status)).inc()
        self._duration.labels(route).observe(duration_seconds)

    def add_served_bytes(self, link: str, count: int) -> None:
        self._served.labels(link).inc(count)
