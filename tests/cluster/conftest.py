"""A small filegate cluster on one machine, each host a network namespace on one virtual LAN:

    redis-a  10.77.0.11  Redis primary, sentinel
    redis-b  10.77.0.12  Redis replica, sentinel
    s3       10.77.0.13  moto's S3 server, sentinel
    api-a    10.77.0.21  uvicorn            api-b  10.77.0.22  uvicorn
    worker-a 10.77.0.31  build + cleanup    worker-b 10.77.0.32  build + cleanup
    client   10.77.0.5   the test itself (its thread enters this namespace)

Redis is found through the sentinels by every process (FILEGATE_REDIS_SENTINELS), and is the
Celery broker too (kombu's sentinel transport); no beat runs: the cleanup workers offer the
sweep themselves. Sources and archives are in S3. Leases of 3 s and a sweep every second make a
lost worker noticed within seconds.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis
import redis.sentinel
from minio import Minio
from minio.commonconfig import ENABLED
from minio.versioningconfig import VersioningConfig

from filegate.storage.s3 import make_client
from tests.client import register_api_key
from tests.cluster.netns import Host, Network, remove_leftovers, unavailable
from tests.services import ADMIN_TOKEN, service_env

MASTER = "filegate-primary"
REDIS_PORT, SENTINEL_PORT, S3_PORT, API_PORT = 6379, 26379, 5000, 8000
SOURCE_BUCKET, OUTPUT_BUCKET = "sources", "outputs"
KEYS = {"FILEGATE_S3_ACCESS_KEY": "testing", "FILEGATE_S3_SECRET_KEY": "testing"}
PREFIX_START = "fgc"
MiB = 1024**2

HOSTS = {
    "redis-a": 11,
    "redis-b": 12,
    "s3": 13,
    "api-a": 21,
    "api-b": 22,
    "worker-a": 31,
    "worker-b": 32,
    "client": 5,
}


@dataclass
class Cluster:
    network: Network
    workdir: Path
    env: dict[str, str]
    s3: Minio
    """A client of the S3 server, made inside the client host (usable from the test's thread)."""
    sources: dict[str, bytes] = field(default_factory=dict, repr=False)
    """The sources every test may select, by path: put once, they stay."""

    def host(self, name: str) -> Host:
        return self.network.hosts[name]

    def api_url(self, name: str) -> str:
        return f"http://{self.host(name).address}:{API_PORT}"

    @property
    def sentinel_addresses(self) -> list[tuple[str, int]]:
        return [(self.host(name).address, SENTINEL_PORT) for name in ("redis-a", "redis-b", "s3")]

    def redis(self) -> redis.Redis:
        """A client of whichever Redis is the primary now, through the sentinels."""
        finder = redis.sentinel.Sentinel(self.sentinel_addresses, socket_timeout=2)
        client: redis.Redis = finder.master_for(MASTER, socket_timeout=5, decode_responses=True)
        return client

    def primary(self) -> str:
        """The host the sentinels name as the primary."""
        finder = redis.sentinel.Sentinel(self.sentinel_addresses, socket_timeout=2)
        address, _ = finder.discover_master(MASTER)
        return next(name for name, host in self.network.hosts.items() if host.address == address)

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start_api(self, name: str) -> None:
        host = self.host(name)
        args = [
            sys.executable, "-m", "uvicorn", "filegate.app:create_app", "--factory",
            "--host", "0.0.0.0", "--port", str(API_PORT), "--log-level", "warning",
        ]  # fmt: skip
        process = host.start("api", args, self.workdir / f"{name}.log", self.env, self.workdir)
        _wait(lambda: _answers(self.api_url(name)), f"{name} did not answer /health", process, 60)

    def stop_api(self, name: str, *, kill: bool = False) -> None:
        process = self.host(name).processes["api"]
        os.killpg(process.pid, signal.SIGKILL if kill else signal.SIGTERM)
        process.wait(timeout=20)

    def start_worker(self, name: str, queue: str) -> None:
        """A Celery worker of ``queue`` on host ``name`` (named after both: hosts share a hostname)."""
        label = f"{name}-{queue}"
        log = self.workdir / f"{label}.log"
        args = [
            sys.executable, "-m", "celery", "-A", "filegate.worker", "worker", "-Q", queue,
            "--pool", "prefork", "--concurrency", "1", "--without-mingle", "--without-gossip",
            "-l", "INFO", "-n", f"{label}@cluster",
        ]  # fmt: skip
        process = self.host(name).start(label, args, log, self.env, self.workdir)
        _wait(lambda: " ready." in self.log(label), f"{label} did not start", process, 60)

    def building_host(self, build_id: str) -> str:
        """The worker host whose build worker logged the start of ``build_id`` last."""
        started = f"build {build_id} started"
        hosts = [name for name in ("worker-a", "worker-b") if started in self.log(f"{name}-downloads")]
        assert hosts, f"no worker started build {build_id}"
        return max(hosts, key=lambda name: self.log(f"{name}-downloads").rfind(started))

    def folder(self) -> str:
        return f"t-{uuid.uuid4().hex[:10]}"


def _answers(url: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    return False


def _wait(ready: object, what: str, process: subprocess.Popen[bytes] | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():  # type: ignore[operator]
            return
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what}: it exited ({process.returncode})")
        time.sleep(0.1)
    raise RuntimeError(what)


def _redis_args(workdir: Path, *extra: str) -> list[str]:
    return [
        "redis-server", "--port", str(REDIS_PORT), "--bind", "0.0.0.0", "--protected-mode", "no",
        "--save", "", "--appendonly", "no", "--dir", str(workdir), *extra,
    ]  # fmt: skip


def _start_redis(network: Network, workdir: Path) -> None:
    primary, replica = network.hosts["redis-a"], network.hosts["redis-b"]
    primary.start("redis", _redis_args(workdir), workdir / "redis-a-redis.log")
    replica.start(
        "redis",
        _redis_args(workdir, "--replicaof", primary.address, str(REDIS_PORT)),
        workdir / "redis-b-redis.log",
    )
    for name in ("redis-a", "redis-b", "s3"):
        folder = workdir / f"sentinel-{name}"
        folder.mkdir()
        config = folder / "sentinel.conf"
        config.write_text(
            f"port {SENTINEL_PORT}\nbind 0.0.0.0\nprotected-mode no\ndir {folder}\n"
            f"sentinel monitor {MASTER} {primary.address} {REDIS_PORT} 2\n"
            f"sentinel down-after-milliseconds {MASTER} 1000\n"
            f"sentinel failover-timeout {MASTER} 4000\n"
            f"sentinel parallel-syncs {MASTER} 1\n"
        )
        network.hosts[name].start(
            "sentinel", ["redis-server", str(config), "--sentinel"], workdir / f"{name}-sentinel.log"
        )


def _replicating(client: redis.Redis) -> bool:
    with contextlib.suppress(redis.RedisError):
        return bool(client.info("replication").get("master_link_status") == "up")
    return False


def _sentinels_agree(addresses: list[tuple[str, int]]) -> bool:
    """Every sentinel knows the primary and the two others."""
    for host, port in addresses:
        try:
            sentinel = redis.Redis(host=host, port=port, socket_timeout=2, decode_responses=True)
            [master] = [m for m in sentinel.sentinel_masters().values() if m["name"] == MASTER]
            if int(master["num-other-sentinels"]) < 2 or int(master["num-slaves"]) < 1:
                return False
        except (redis.RedisError, ValueError):
            return False
    return True


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """The cluster, with the test's thread in its client host until the module's tests are done
    (module scope: the tests of other modules run in the machine's own network)."""
    reason = unavailable()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"the cluster tests cannot run: {reason}")
        pytest.skip(f"the cluster tests need network namespaces: {reason}")
    remove_leftovers(PREFIX_START)
    workdir = tmp_path_factory.mktemp("cluster")
    network = Network(f"{PREFIX_START}{os.getpid() % 100000}")
    try:
        for name, number in HOSTS.items():
            network.add(name, number)
        client = network.hosts["client"]
        with client.entered():
            yield _started(network, workdir)
    finally:
        network.close()


def _started(network: Network, workdir: Path) -> Cluster:
    hosts = network.hosts
    _start_redis(network, workdir)
    moto = Path(sys.executable).with_name("moto_server")
    hosts["s3"].start("moto", [str(moto), "-H", "0.0.0.0", "-p", str(S3_PORT)], workdir / "s3-moto.log")
    replica = redis.Redis(host=hosts["redis-b"].address, port=REDIS_PORT, socket_timeout=2)
    _wait(lambda: _replicating(replica), "the replica did not replicate", None, 30)
    replica.close()
    sentinels = [(hosts[name].address, SENTINEL_PORT) for name in ("redis-a", "redis-b", "s3")]
    _wait(lambda: _sentinels_agree(sentinels), "the sentinels did not find each other", None, 30)

    endpoint = f"http://{hosts['s3'].address}:{S3_PORT}"
    s3 = make_client(endpoint, KEYS["FILEGATE_S3_ACCESS_KEY"], KEYS["FILEGATE_S3_SECRET_KEY"], "us-east-1")
    _wait(lambda: _s3_answers(s3), "the S3 server did not answer", hosts["s3"].processes["moto"], 30)
    for bucket in (SOURCE_BUCKET, OUTPUT_BUCKET):
        s3.make_bucket(bucket)
    s3.set_bucket_versioning(SOURCE_BUCKET, VersioningConfig(ENABLED))
    s3.set_bucket_versioning(OUTPUT_BUCKET, VersioningConfig(ENABLED))

    env = service_env(
        f"redis://{hosts['redis-a'].address}:{REDIS_PORT}/0",
        workdir,
        FILEGATE_REDIS_SENTINELS=",".join(f"{host}:{port}" for host, port in sentinels),
        FILEGATE_REDIS_SENTINEL_MASTER=MASTER,
        FILEGATE_STORAGE="s3",
        FILEGATE_S3_ENDPOINT=endpoint,
        FILEGATE_S3_SOURCE_BUCKET=SOURCE_BUCKET,
        FILEGATE_S3_OUTPUT_BUCKET=OUTPUT_BUCKET,
        FILEGATE_S3_PART_SIZE="5MiB",
        FILEGATE_PORT=str(API_PORT),
        FILEGATE_BUILD_LEASE="3s",
        FILEGATE_SWEEP_INTERVAL="1s",
        **KEYS,
    )
    cluster = Cluster(network, workdir, env, s3)
    for name in ("worker-a", "worker-b"):
        cluster.start_worker(name, "downloads")
        cluster.start_worker(name, "cleanup")
    cluster.start_api("api-a")
    cluster.start_api("api-b")
    created = httpx.post(
        f"{cluster.api_url('api-a')}/apps",
        json={"name": "tests", "scopes": ["/"], "max_priority": "high"},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    for name in ("api-a", "api-b"):
        register_api_key(cluster.api_url(name), created.json()["api_key"])
    _put_sources(cluster)
    return cluster


def _s3_answers(client: Minio) -> bool:
    with contextlib.suppress(Exception):
        client.list_buckets()
        return True
    return False


def _put_sources(cluster: Cluster) -> None:
    """Three files for three parts of a split of 8 MB, the middle one long to build on the S3 test
    server (a test acts while it is built), under ``set/``."""
    for name, size in (("a.bin", 3 * MiB), ("b.bin", 160 * MiB), ("c.bin", 3 * MiB)):
        data = os.urandom(size)
        cluster.s3.put_object(SOURCE_BUCKET, f"set/{name}", io.BytesIO(data), size, part_size=64 * MiB)
        cluster.sources[f"set/{name}"] = data
