"""Real services for the tests: redis-server, moto's S3 server, Celery workers, uvicorn."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.client import register_api_key

ADMIN_TOKEN = "test-admin-token-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited early:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{process.args} did not listen on {port}:\n{log.read_text()[-3000:]}")


def pool_children(pid: int) -> list[int]:
    """The processes a Celery worker forked for its pool (where builds run)."""
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += [int(child) for child in (task / "children").read_text().split()]
    return children


def stop(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def running(
    args: list[str], log: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        process = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        yield process
    finally:
        stop(process)


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    port = free_port()
    log = workdir / "redis.log"
    args = [
        "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
        "--databases", "64",
    ]  # fmt: skip
    with running(args, log) as process:
        wait_for_port(port, process, log)
        yield f"redis://127.0.0.1:{port}"


@contextlib.contextmanager
def moto_server(workdir: Path) -> Iterator[str]:
    port = free_port()
    log = workdir / "moto.log"
    moto = Path(sys.executable).with_name("moto_server")
    with running([str(moto), "-H", "127.0.0.1", "-p", str(port)], log) as process:
        wait_for_port(port, process, log)
        yield f"http://127.0.0.1:{port}"


class Service:
    """A running filegate: one Celery worker process and one uvicorn API, sharing ``env``."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.env = env
        self.workdir = workdir
        self.port = int(env["FILEGATE_PORT"])
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.worker: subprocess.Popen[bytes] | None = None
        self.api: subprocess.Popen[bytes] | None = None
        self.cleanup_worker: subprocess.Popen[bytes] | None = None
        self.beat: subprocess.Popen[bytes] | None = None
        self.extra_workers: list[subprocess.Popen[bytes]] = []
        self.api_key: str | None = None

    @property
    def worker_log(self) -> Path:
        return self.workdir / "worker.log"

    def _spawn(self, args: list[str], log: Path) -> subprocess.Popen[bytes]:
        """A process of this service: its environment, its folder (so no stray .env is read), its log."""
        with log.open("ab") as out:
            return subprocess.Popen(
                args,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
                cwd=self.workdir,
            )

    def start_extra_worker(self, number: int) -> subprocess.Popen[bytes]:
        """Another build worker (stopped by ``stop``), as on another machine."""
        worker = self._start_celery_worker(
            "downloads", self.workdir / f"worker-{number}.log", f"extra{number}"
        )
        self.extra_workers.append(worker)
        return worker

    def _start_celery_worker(self, queue: str, log: Path, name: str = "") -> subprocess.Popen[bytes]:
        offset = log.stat().st_size if log.exists() else 0
        args = [
            sys.executable, "-m", "celery", "-A", "filegate.worker", "worker", "-Q", queue,
            "--pool", "prefork", "--concurrency", "1", "--without-mingle", "--without-gossip",
            "-l", "INFO", "-n", f"{name or queue}@%h",
        ]  # fmt: skip
        worker = self._spawn(args, log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with log.open("rb") as text:
                text.seek(offset)
                if b" ready." in text.read():
                    return worker
            if worker.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{log.read_text()[-3000:]}")
            time.sleep(0.05)
        raise RuntimeError(f"worker not ready:\n{log.read_text()[-3000:]}")

    def start_worker(self) -> None:
        self.worker = self._start_celery_worker("downloads", self.worker_log)

    def stop_worker(self) -> None:
        if self.worker is not None:
            stop(self.worker, timeout=20)
            self.worker = None

    def stop_build_workers(self) -> None:
        """Every build worker, the extra ones too, so builds stay queued (start_worker brings one back)."""
        self.stop_worker()
        for worker in self.extra_workers:
            worker.terminate()
        for worker in self.extra_workers:
            worker.wait(timeout=20)
        self.extra_workers.clear()

    def start_cleanup_worker(self) -> None:
        self.cleanup_worker = self._start_celery_worker("cleanup", self.workdir / "cleanup.log")

    def stop_cleanup_worker(self) -> None:
        if self.cleanup_worker is not None:
            stop(self.cleanup_worker, timeout=20)
            self.cleanup_worker = None

    def start_beat(self) -> None:
        args = [
            sys.executable, "-m", "celery", "-A", "filegate.worker", "beat", "-l", "INFO",
            "--schedule", str(self.workdir / "beat-schedule"),
        ]  # fmt: skip
        self.beat = self._spawn(args, self.workdir / "beat.log")

    def start_api(self) -> None:
        log = self.workdir / "api.log"
        args = [
            sys.executable,
            "-m",
            "uvicorn",
            "filegate.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
        ]
        self.api = self._spawn(args, log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.api.poll() is not None:
                raise RuntimeError(f"API exited early:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base_url}/health", timeout=1).status_code == 200:
                    self._register_app()
                    return
            time.sleep(0.05)
        raise RuntimeError(f"API not ready:\n{log.read_text()[-3000:]}")

    def _register_app(self) -> None:
        """The first time the API runs: an app for the tests, allowed everything, whose key
        ``tests.client`` adds to its calls."""
        if self.api_key is None and self.env.get("FILEGATE_AUTH", "on") == "on":
            created = httpx.post(
                f"{self.base_url}/apps",
                json={"name": "tests", "scopes": ["/"], "max_priority": "high"},
                headers={"Authorization": f"Bearer {self.env['FILEGATE_ADMIN_TOKEN']}"},
                timeout=10,
            )
            if created.status_code == 201:
                self.api_key = created.json()["api_key"]
        if self.api_key is not None:
            register_api_key(self.base_url, self.api_key)

    def stop(self) -> None:
        for worker in self.extra_workers:
            stop(worker, timeout=20)
        self.extra_workers.clear()
        self.stop_worker()
        self.stop_cleanup_worker()
        if self.beat is not None:
            stop(self.beat)
            self.beat = None
        if self.api is not None:
            stop(self.api)
            self.api = None


def service_env(redis_url: str, workdir: Path, **overrides: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("FILEGATE_")}
    env.update(
        {
            "FILEGATE_REDIS_URL": redis_url,
            "FILEGATE_PORT": str(free_port()),
            "FILEGATE_LOCAL_ROOT": str(workdir / "files"),
            "FILEGATE_OUTPUT_DIR": str(workdir / "archives"),
            "FILEGATE_SIGNING_SECRET": "test-signing-secret",
            "FILEGATE_ADMIN_TOKEN": ADMIN_TOKEN,
            "FILEGATE_RATE_DOWNLOADS": "100000/minute",
            "FILEGATE_PROGRESS_INTERVAL_MS": "50",
            "FILEGATE_SSE_KEEPALIVE": "15",
            "FILEGATE_MIN_SPLIT_SIZE": "1KB",
        }
    )
    env.update(overrides)
    return env


AMQP_HOST = ("127.0.0.1", 5672)


def rabbitmq_answers() -> bool:
    try:
        with socket.create_connection(AMQP_HOST, timeout=1):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def rabbitmq_vhost() -> Iterator[str]:
    """A fresh virtual host on the local RabbitMQ for guest, deleted on leaving."""
    vhost = f"filegate-test-{os.getpid()}"

    def ctl(*args: str) -> None:
        subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)

    ctl("add_vhost", vhost)
    try:
        ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield f"amqp://guest:guest@{AMQP_HOST[0]}:{AMQP_HOST[1]}/{vhost}"
    finally:
        ctl("delete_vhost", vhost)
