"""A Redis primary, its replica and three sentinels on loopback, for failover tests."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis
import redis.sentinel

from tests.services import free_port, running, wait_for_port

MASTER = "filegate-primary"
# Quick to notice a dead primary and to promote its replica: seconds, not the default minute.
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 4000


@dataclass
class SentinelGroup:
    primary_port: int
    replica_port: int
    sentinel_ports: list[int]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def sentinels_setting(self) -> str:
        """FILEGATE_REDIS_SENTINELS for this group."""
        return ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)

    def current_primary_port(self) -> int:
        finder = redis.sentinel.Sentinel([("127.0.0.1", self.sentinel_ports[0])], socket_timeout=2)
        _, port = finder.discover_master(MASTER)
        return int(port)

    def kill_primary(self) -> None:
        self.processes["primary"].send_signal(signal.SIGKILL)
        self.processes["primary"].wait(timeout=10)

    def wait_for_failover(self, timeout: float = 30) -> int:
        """The port of the promoted replica, once the sentinels name it and it takes writes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError):
                if self.current_primary_port() == self.replica_port:
                    client = redis.Redis(port=self.replica_port, socket_timeout=2)
                    try:
                        if client.info("replication")["role"] == "master":
                            return self.replica_port
                    finally:
                        client.close()
            time.sleep(0.2)
        raise RuntimeError("the sentinels did not promote the replica")


def _server(port: int, workdir: Path, *extra: str) -> list[str]:
    return [
        "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
        "--dir", str(workdir), "--databases", "64", *extra,
    ]  # fmt: skip


@contextlib.contextmanager
def sentinel_group(workdir: Path) -> Iterator[SentinelGroup]:
    workdir.mkdir(parents=True, exist_ok=True)
    group = SentinelGroup(free_port(), free_port(), [free_port() for _ in range(3)])
    with contextlib.ExitStack() as stack:
        primary = stack.enter_context(running(_server(group.primary_port, workdir), workdir / "primary.log"))
        wait_for_port(group.primary_port, primary, workdir / "primary.log")
        replica_args = _server(
            group.replica_port, workdir, "--replicaof", "127.0.0.1", str(group.primary_port)
        )
        replica = stack.enter_context(running(replica_args, workdir / "replica.log"))
        wait_for_port(group.replica_port, replica, workdir / "replica.log")
        group.processes.update(primary=primary, replica=replica)
        for number, port in enumerate(group.sentinel_ports):
            config = workdir / f"sentinel-{number}.conf"
            config.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {workdir}\n"
                f"sentinel monitor {MASTER} 127.0.0.1 {group.primary_port} 2\n"
                f"sentinel down-after-milliseconds {MASTER} {DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {MASTER} {FAILOVER_TIMEOUT_MS}\n"
                f"sentinel parallel-syncs {MASTER} 1\n"
            )
            log = workdir / f"sentinel-{number}.log"
            sentinel = stack.enter_context(running(["redis-server", str(config), "--sentinel"], log))
            wait_for_port(port, sentinel, log)
            group.processes[f"sentinel-{number}"] = sentinel
        _wait_until_replicating(group)
        yield group


def _wait_until_replicating(group: SentinelGroup, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    client = redis.Redis(port=group.replica_port, socket_timeout=2)
    try:
        while time.monotonic() < deadline:
            if client.info("replication").get("master_link_status") == "up":
                return
            time.sleep(0.1)
    finally:
        client.close()
    raise RuntimeError("the replica did not start replicating")
