"""The services bench/control.py measures: a private redis-server and one `filegate api`, no build worker.

Builds stay queued, so the queue can be filled to any depth. A worker runs only briefly at the
start, to make one archive ready for the cache-hit requests. Everything listens on 127.0.0.1,
and everything started here is stopped by ``close`` (on errors and Ctrl-C too).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis

from run import ADMIN_TOKEN, free_port, spawn_logged, stop_process, wait_until

FILES = ("a.txt", "b.txt", "c.txt", "d.txt", "e.txt")
"""A few small files in the store; each request asks for three of them."""


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process (all its threads)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


GC_PROBE = Path(__file__).resolve().parent / "gc_probe"


class ControlPlane:
    def __init__(self, workdir: Path, watch_gc: bool = False) -> None:
        self.workdir = workdir
        self.gc_log = workdir / "gc.json" if watch_gc else None
        self.processes: list[subprocess.Popen[bytes]] = []
        self.port = free_port()
        self.redis_port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.client = httpx.Client(base_url=self.base_url, timeout=30)
        self.redis = redis.Redis(port=self.redis_port, decode_responses=True)
        self.api_key = ""
        self.api_pid = 0
        self.redis_pid = 0
        root = workdir / "files"
        root.mkdir()
        for number, name in enumerate(FILES):
            (root / name).write_bytes(bytes([65 + number]) * 4096)
        (workdir / "archives").mkdir()
        self.env = {key: value for key, value in os.environ.items() if not key.startswith("FILEGATE_")}
        self.env.update(
            {
                "FILEGATE_REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
                "FILEGATE_PORT": str(self.port),
                "FILEGATE_LOCAL_ROOT": str(root),
                "FILEGATE_OUTPUT_DIR": str(workdir / "archives"),
                "FILEGATE_SIGNING_SECRET": "bench-signing-secret",
                "FILEGATE_ADMIN_TOKEN": ADMIN_TOKEN,
                # Measured here: the control plane, not the rate limit (its script still runs).
                "FILEGATE_RATE_DOWNLOADS": "100000000/minute",
            }
        )

    def _spawn(self, args: list[str], log_name: str, env: dict[str, str] | None) -> subprocess.Popen[bytes]:
        process = spawn_logged(args, self.workdir / log_name, env, self.workdir)
        self.processes.append(process)
        return process

    def start(self) -> None:
        args = ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", ""]
        server = self._spawn([*args, "--appendonly", "no"], "redis.log", None)
        self.redis_pid = server.pid

        def redis_listens() -> bool:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.redis_port), 0.2):
                return True
            return False

        wait_until(redis_listens, server, self.workdir / "redis.log")
        env = dict(self.env)
        if self.gc_log is not None:  # the API only: its collections, timed (gc_probe/sitecustomize.py)
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(GC_PROBE), env.get("PYTHONPATH")]))
            env["BENCH_GC_LOG"] = str(self.gc_log)
        api = self._spawn([sys.executable, "-m", "filegate.cli", "api"], "api.log", env)
        self.api_pid = api.pid

        def api_healthy() -> bool:
            with contextlib.suppress(httpx.HTTPError):
                return self.client.get("/health", timeout=1).status_code == 200
            return False

        wait_until(api_healthy, api, self.workdir / "api.log")
        created = self.client.post(
            "/apps",
            json={"name": "bench-control", "scopes": ["/"], "max_priority": "high"},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        if created.status_code != 201:
            raise RuntimeError(f"POST /apps answered {created.status_code}: {created.text}")
        self.api_key = created.json()["api_key"]
        self.client.headers["Authorization"] = f"Bearer {self.api_key}"

    def post(self, body: dict[str, object]) -> dict[str, object]:
        answer = self.client.post("/download", json=body)
        if answer.status_code != 202:
            raise RuntimeError(f"POST /download answered {answer.status_code}: {answer.text}")
        created: dict[str, object] = answer.json()
        return created

    def make_ready(self, body: dict[str, object], timeout_seconds: float = 60) -> str:
        """Build ``body``'s archive with a worker started for it (stopped after): its ticket id."""
        args = [sys.executable, "-m", "celery", "-A", "filegate.worker", "worker", "-Q", "downloads"]
        args += ["--pool", "solo", "--without-mingle", "--without-gossip", "-l", "INFO"]
        worker = self._spawn(args, "worker.log", self.env)
        log = self.workdir / "worker.log"
        try:
            wait_until(lambda: b" ready." in log.read_bytes(), worker, log)
            ticket = str(self.post(body)["ticket_id"])
            deadline = time.monotonic() + timeout_seconds
            while time.monotonic() < deadline:
                state = self.client.get(f"/ticket/{ticket}/status", headers={"Accept": "application/json"})
                if state.json()["status"] == "ready":
                    return ticket
                time.sleep(0.05)
            raise RuntimeError(f"the cached build was not ready after {timeout_seconds} s")
        finally:
            stop_process(worker)
            self.processes.remove(worker)

    def full_collections(self, since: float, until: float) -> list[float] | None:
        """Seconds of each gen-2 collection in the API between two wall-clock times (None without
        --gc). The probe writes every half second: wait that long after ``until`` first."""
        if self.gc_log is None or not self.gc_log.exists():
            return None
        full = json.loads(self.gc_log.read_text())["full"]
        return [seconds for ended, seconds in full if since <= ended <= until]

    def api_rss_bytes(self) -> int:
        with open(f"/proc/{self.api_pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def api_cpu_seconds(self) -> float:
        return process_cpu_seconds(self.api_pid)

    def sse_listeners(self) -> int:
        """The API's own count of open event streams (from /health/ready, whatever its status)."""
        count: int = self.client.get("/health/ready").json()["sse_listeners"]
        return count

    def log_count(self, text: str) -> int:
        """How many lines of the API's log mention ``text``."""
        with (self.workdir / "api.log").open(errors="replace") as log:
            return sum(1 for line in log if text in line)

    def close(self) -> None:
        self.client.close()
        self.redis.close()
        for process in reversed(self.processes):
            stop_process(process)
        self.processes.clear()


def _system_busy_seconds() -> float:
    with open("/proc/stat") as stat:
        user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in stat.readline().split()[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class CpuShares:
    """CPU used during a run, as shares of one core."""

    seconds: float
    api: float
    api_seconds: float
    redis: float
    other: float
    """Everyone else: other engineers' tests, the kernel (not the bench, wrk, the API, Redis)."""
    load: float
    """The 1-minute load average at the end."""


class CpuMeter:
    """Who used the two cores between ``start`` and ``stop``."""

    def __init__(self, plane: ControlPlane) -> None:
        self._plane = plane
        self._start = (0.0, 0.0, 0.0, 0.0, 0.0)

    def _read(self) -> tuple[float, float, float, float, float]:
        plane = self._plane
        return (
            time.monotonic(),
            _system_busy_seconds(),
            plane.api_cpu_seconds(),
            process_cpu_seconds(plane.redis_pid),
            _own_cpu_seconds(),
        )

    def start(self) -> None:
        self._start = self._read()

    def stop(self, load_generator_seconds: float = 0.0) -> CpuShares:
        """``load_generator_seconds``: CPU of a child already reaped (wrk), not seen otherwise."""
        wall, busy, api, server, own = (b - a for a, b in zip(self._start, self._read(), strict=True))
        other = max(0.0, busy - api - server - own - load_generator_seconds)
        return CpuShares(
            seconds=wall,
            api=api / wall,
            api_seconds=api,
            redis=server / wall,
            other=other / wall,
            load=os.getloadavg()[0],
        )
