"""The cluster's metrics as Redis holds them, shown to Prometheus: buckets, totals, and a
snapshot that could not be read."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from filegate.metrics.cluster import BUILD_DURATION, QUEUE_WAIT
from filegate.metrics.collector import ClusterCollector, ClusterSnapshot


def test_a_value_falls_in_the_smallest_bucket_that_holds_it() -> None:
    assert QUEUE_WAIT.bucket_field(0) == "queue_wait_seconds:le=0.1"
    assert QUEUE_WAIT.bucket_field(0.5) == "queue_wait_seconds:le=0.5"
    assert QUEUE_WAIT.bucket_field(0.51) == "queue_wait_seconds:le=1.0"
    assert QUEUE_WAIT.bucket_field(10**6) == "queue_wait_seconds:le=+Inf"
    assert BUILD_DURATION.bucket_field(3, "ready") == "build_duration_seconds:ready:le=5.0"


def _exposed(collector: ClusterCollector) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    registry = CollectorRegistry()
    registry.register(collector)
    text = generate_latest(registry).decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_the_snapshot_is_shown_with_cumulative_buckets() -> None:
    fields = {
        "tickets:created": "5",
        "tickets:ready": "3",
        "builds:ready": "2",
        "cache_hits": "1",
        "build_bytes": "1234",
        "queue_wait_seconds:le=0.1": "2",
        "queue_wait_seconds:le=5.0": "1",
        "queue_wait_seconds:le=+Inf": "1",
        "queue_wait_seconds:count": "4",
        "queue_wait_seconds:sum": "4000.25",
        "build_duration_seconds:ready:le=1.0": "2",
        "build_duration_seconds:ready:count": "2",
        "build_duration_seconds:ready:sum": "1.5",
    }
    snapshot = ClusterSnapshot(
        queue_length=3, builds_running=2, held_bytes=100, reserved_bytes=50, fields=fields
    )
    shown = _exposed(ClusterCollector(snapshot, 10**9))

    def at(name: str, **labels: str) -> float:
        return shown[(name, frozenset(labels.items()))]

    assert at("filegate_cluster_metrics_up") == 1
    assert at("filegate_queue_length") == 3 and at("filegate_builds_running") == 2
    assert at("filegate_space_used_bytes") == 150 and at("filegate_space_held_bytes") == 100
    assert at("filegate_space_budget_bytes") == 10**9
    assert at("filegate_tickets_total", status="created") == 5
    assert at("filegate_tickets_total", status="expired") == 0
    assert at("filegate_builds_total", outcome="ready") == 2
    assert at("filegate_cache_hits_total") == 1 and at("filegate_build_bytes_total") == 1234
    assert at("filegate_queue_wait_seconds_bucket", le="0.1") == 2
    assert at("filegate_queue_wait_seconds_bucket", le="2.5") == 2
    assert at("filegate_queue_wait_seconds_bucket", le="5.0") == 3
    assert at("filegate_queue_wait_seconds_bucket", le="+Inf") == 4
    assert at("filegate_queue_wait_seconds_count") == 4
    assert at("filegate_queue_wait_seconds_sum") == 4000.25
    assert at("filegate_build_duration_seconds_bucket", outcome="ready", le="+Inf") == 2
    assert at("filegate_build_duration_seconds_count", outcome="failed") == 0


def test_an_auto_budget_is_not_shown_and_an_unread_snapshot_says_so() -> None:
    assert not any(
        name == "filegate_space_budget_bytes"
        for name, _ in _exposed(ClusterCollector(ClusterSnapshot(), None))
    )
    assert _exposed(ClusterCollector(None, 10**9)) == {("filegate_cluster_metrics_up", frozenset()): 0}
