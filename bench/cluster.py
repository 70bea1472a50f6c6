"""filegate on several hosts: throughput with one worker host and with two, the coordination cost
between hosts, and the time to recover from a lost worker host and from a Redis failover.

    .venv/bin/python bench/cluster.py              # as root; about five minutes
    .venv/bin/python bench/cluster.py --builds 24 --runs 5

The hosts are Linux network namespaces on this machine (tests/cluster/conftest.py builds the same
cluster the tests use: two API hosts, two worker hosts, Redis with a replica and three sentinels,
moto's S3 server). Every host shares the same two cores, so a second worker host adds no CPU: it
can only show what coordination costs and what a lost host costs, not more speed.

- builds per minute: --builds tickets (each its own archive of 20 files of 256 KiB, stored) are
  posted at once, alternating between the API hosts; the clock runs from the first POST to the
  last ticket ready. With one worker host, the other's build worker is stopped.
- coordination: for every build of those batches, the time from its admission (the dispatcher's
  admitted_at in Redis) to the worker's "build … started" log line, on whichever host.
- worker host lost: a build of 3 parts; after part 1, the host building it is cut off the
  network. Timed from the cut to the other host's "build … started" (FILEGATE_BUILD_LEASE=3s,
  FILEGATE_SWEEP_INTERVAL=1s here; production defaults are 30 s and 60 s).
- Redis failover: the primary is killed (SIGKILL); timed to the first answer 200 of
  GET /ticket/{id}/status on an API host, polled every 50 ms. The sentinels use
  down-after-milliseconds 1000. The killed server comes back as a replica before the next run.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

import httpx
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from tests.client import api_get, request_download  # noqa: E402
from tests.cluster.conftest import (  # noqa: E402
    HOSTS,
    PREFIX_START,
    REDIS_PORT,
    SOURCE_BUCKET,
    Cluster,
    _redis_args,
    _started,
)
from tests.cluster.netns import Network, remove_leftovers, unavailable  # noqa: E402

from filegate.state import keys  # noqa: E402
from latency import percentile  # noqa: E402
from run import table_lines  # noqa: E402

SMALL_FILES, SMALL_SIZE = 20, 256 * 1024
MIB = 1024**2


def _small_sources(cluster: Cluster) -> None:
    for number in range(SMALL_FILES):
        data = os.urandom(SMALL_SIZE)
        cluster.s3.put_object(SOURCE_BUCKET, f"small/{number:02}.bin", io.BytesIO(data), SMALL_SIZE)


def _status(cluster: Cluster, host: str, ticket_id: str) -> dict[str, object]:
    answer = api_get(
        cluster.api_url(host),
        f"/ticket/{ticket_id}/status",
        headers={"Accept": "application/json"},
        timeout=10,
    )
    answer.raise_for_status()
    state: dict[str, object] = answer.json()
    return state


def _wait_ready(cluster: Cluster, ticket_ids: list[str], timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    waiting = set(ticket_ids)
    while waiting:
        assert time.monotonic() < deadline, f"{len(waiting)} tickets not ready"
        for ticket_id in list(waiting):
            status = _status(cluster, "api-b", ticket_id)["status"]
            if status == "ready":
                waiting.discard(ticket_id)
            elif status in ("failed", "cancelled", "expired"):
                raise RuntimeError(f"ticket {ticket_id} ended {status}")
        time.sleep(0.05)


def _log_time(line: str) -> float:
    stamp = line.split('"time": "', 1)[1].split('"', 1)[0]
    return datetime.fromisoformat(stamp).timestamp()


def _started_at(cluster: Cluster, build_id: str, after: float = 0.0) -> tuple[str, float] | None:
    """The first host and time at which a worker logged the start of ``build_id`` after ``after``."""
    found: list[tuple[float, str]] = []
    for host in ("worker-a", "worker-b"):
        for line in cluster.log(f"{host}-downloads").splitlines():
            if f"build {build_id} started" in line and _log_time(line) > after:
                found.append((_log_time(line), host))
    if not found:
        return None
    moment, host = min(found)
    return host, moment


def _batch(cluster: Cluster, count: int) -> tuple[float, list[float]]:
    """Seconds from the first POST to the last ready, and each build's admission-to-start delay."""
    began = time.monotonic()
    tickets = []
    for number in range(count):
        host = "api-a" if number % 2 == 0 else "api-b"
        created = request_download(
            cluster.api_url(host), ["small/"], name=f"b{time.time_ns()}", compression="store"
        )
        assert created.status_code == 202, created.text
        tickets.append(created.json()["ticket_id"])
    _wait_ready(cluster, tickets)
    seconds = time.monotonic() - began
    client = cluster.redis()
    delays = []
    for ticket_id in tickets:
        build_id = client.hget(keys.ticket(ticket_id), "build_id")
        admitted_ms = float(client.hget(keys.build(build_id), "admitted_at") or 0)
        started = _started_at(cluster, build_id)
        assert started is not None and admitted_ms
        delays.append(started[1] - admitted_ms / 1000)
    return seconds, delays


def _worker_loss(cluster: Cluster) -> float:
    created = request_download(
        cluster.api_url("api-a"), ["set/"], name=f"w{time.time_ns()}", split_size="8MB", compression="store"
    )
    ticket_id = created.json()["ticket_id"]
    client = cluster.redis()
    build_id = ""
    deadline = time.monotonic() + 120
    while True:
        assert time.monotonic() < deadline, "part 1 was not committed"
        build_id = build_id or (client.hget(keys.ticket(ticket_id), "build_id") or "")
        if build_id and client.llen(keys.build_parts(build_id)) >= 1:
            break
        time.sleep(0.02)
    started = _started_at(cluster, build_id)
    assert started is not None
    lost = started[0]
    cluster.host(lost).cut()
    cut = time.time()
    try:
        while (elsewhere := _started_at(cluster, build_id, after=cut)) is None:
            assert time.time() - cut < 120, "the build did not start elsewhere"
            time.sleep(0.02)
        _wait_ready(cluster, [ticket_id])
    finally:
        cluster.host(lost).reconnect()
    time.sleep(3)  # the cut worker stops; its own delivery ends
    return elsewhere[1] - cut


def _failover(cluster: Cluster, ticket_id: str) -> float:
    primary = cluster.primary()
    process = cluster.host(primary).processes["redis"]
    process.kill()
    process.wait(timeout=10)
    killed = time.monotonic()
    while True:
        assert time.monotonic() - killed < 120, "the API did not answer again"
        try:
            _status(cluster, "api-a", ticket_id)
            recovered = time.monotonic() - killed
            break
        except httpx.HTTPError:
            time.sleep(0.05)
    # The old primary comes back as a replica of the new one, as an operator would bring it back.
    replica_of = cluster.host(cluster.primary()).address
    cluster.host(primary).start(
        "redis",
        _redis_args(cluster.workdir, "--replicaof", replica_of, str(REDIS_PORT)),
        cluster.workdir / f"{primary}-redis.log",
    )
    # Only once its copy is whole (link up, no sync under way) may it be promoted in its turn: a
    # replica still loading its first sync would be promoted empty.
    returned = redis.Redis(host=cluster.host(primary).address, port=REDIS_PORT, socket_timeout=2)
    deadline = time.monotonic() + 60
    while True:
        assert time.monotonic() < deadline, "the old primary did not come back as a replica"
        with contextlib.suppress(redis.RedisError):
            info = returned.info("replication")
            synced = info.get("master_link_status") == "up" and not int(
                info.get("master_sync_in_progress", 1)
            )
            if synced and _sentinels_see_replica(cluster):
                break
        time.sleep(0.2)
    returned.close()
    return recovered


def _sentinels_see_replica(cluster: Cluster) -> bool:
    for host, port in cluster.sentinel_addresses:
        sentinel = redis.Redis(host=host, port=port, socket_timeout=2, decode_responses=True)
        try:
            replicas = sentinel.sentinel_slaves("filegate-primary")
        except redis.RedisError:
            return False
        finally:
            sentinel.close()
        if not any("s_down" not in replica.get("flags", "") for replica in replicas):
            return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--builds", type=int, default=16, help="tickets per throughput batch")
    parser.add_argument("--runs", type=int, default=5, help="runs of each recovery")
    args = parser.parse_args()
    reason = unavailable()
    if reason is not None:
        sys.exit(f"bench/cluster.py needs network namespaces: {reason}")
    remove_leftovers(PREFIX_START)
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"filegate-cluster-bench-{os.getpid()}"
    workdir.mkdir(parents=True)
    network = Network(f"{PREFIX_START}{os.getpid() % 100000}")
    try:
        for name, number in HOSTS.items():
            network.add(name, number)
        with network.hosts["client"].entered():
            _measure(_started(network, workdir), args)
    finally:
        network.close()


def _measure(cluster: Cluster, args: argparse.Namespace) -> None:
    _small_sources(cluster)
    batch_mb = SMALL_FILES * SMALL_SIZE / 1e6
    _batch(cluster, 2)  # warm both workers

    rows: list[tuple[str, ...]] = [
        ("worker hosts", "builds", "seconds", "builds/min", "archive MB/s", "admit→start p50 ms", "p99 ms")
    ]
    figures = {}
    worker_b = cluster.host("worker-b").processes["worker-b-downloads"]
    worker_b.terminate()
    worker_b.wait(timeout=30)
    figures["1"] = _batch(cluster, args.builds)
    cluster.start_worker("worker-b", "downloads")
    figures["2"] = _batch(cluster, args.builds)
    for hosts, (seconds, delays) in figures.items():
        rows.append(
            (
                hosts,
                str(args.builds),
                f"{seconds:.1f}",
                f"{args.builds / seconds * 60:.0f}",
                f"{args.builds * batch_mb / seconds:.1f}",
                f"{percentile(delays, 0.5) * 1000:.0f}",
                f"{percentile(delays, 0.99) * 1000:.0f}",
            )
        )
    print(f"Throughput: batches of {args.builds} archives of {SMALL_FILES} x 256 KiB (store), S3 on moto")
    print("\n".join(table_lines(rows)))

    losses = [_worker_loss(cluster) for _ in range(args.runs)]
    probe = request_download(cluster.api_url("api-a"), ["small/"], name=f"p{time.time_ns()}").json()[
        "ticket_id"
    ]
    _wait_ready(cluster, [probe])
    failovers = [_failover(cluster, probe) for _ in range(args.runs)]
    recovery: list[tuple[str, ...]] = [("recovery", "runs", "p50 s", "min s", "max s")]
    for label, values in (
        ("worker host cut → build started elsewhere (lease 3 s, sweep 1 s)", losses),
        ("Redis primary killed → first API answer 200 (down-after 1 s)", failovers),
    ):
        recovery.append(
            (
                label,
                str(len(values)),
                f"{statistics.median(values):.2f}",
                f"{min(values):.2f}",
                f"{max(values):.2f}",
            )
        )
    print()
    print("\n".join(table_lines(recovery)))
    print(f"\nload average: {os.getloadavg()[0]:.2f}; logs in {cluster.workdir}")


if __name__ == "__main__":
    main()
