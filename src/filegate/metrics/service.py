"""Who may scrape /metrics, and the page it answers: this process's metrics and the cluster's."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable

import redis.asyncio as aioredis
from prometheus_client import generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from filegate.auth.credentials import same_secret
from filegate.auth.service import Unauthorized
from filegate.errors import Forbidden
from filegate.metrics.collector import ClusterCollector, read_snapshot
from filegate.metrics.http import HttpMetrics

log = logging.getLogger(__name__)


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def authorize_scrape(metrics_token: str, authorization: str | None, client_host: str | None) -> None:
    """With FILEGATE_METRICS_TOKEN set, the caller must present it (401 otherwise); without it,
    only clients on loopback may scrape (403 for others)."""
    if metrics_token:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not same_secret(token.strip(), metrics_token):
            raise Unauthorized("/metrics needs 'Authorization: Bearer <FILEGATE_METRICS_TOKEN>'")
        return
    if not is_loopback(client_host):
        raise Forbidden("/metrics answers clients on loopback only, unless FILEGATE_METRICS_TOKEN is set")


class _Chained:
    """Several collectors as one, in order."""

    def __init__(self, *collectors: Collector) -> None:
        self._collectors = collectors

    def collect(self) -> Iterable[Metric]:
        for collector in self._collectors:
            yield from collector.collect()


async def render_metrics(
    client: aioredis.Redis, http_metrics: HttpMetrics, space_budget_bytes: int | None
) -> bytes:
    """The Prometheus text page; without Redis, this process's metrics and
    ``filegate_cluster_metrics_up 0``."""
    try:
        snapshot = await read_snapshot(client)
    except Exception:  # shown as filegate_cluster_metrics_up 0
        log.debug("could not read the cluster-wide metrics", exc_info=True)
        snapshot = None
    return generate_latest(_Chained(http_metrics.registry, ClusterCollector(snapshot, space_budget_bytes)))
