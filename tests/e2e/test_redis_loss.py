"""Redis going away mid-build: the build is tried again once it is back, and the ticket still ends ready."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client import api_get, build_folder, current_state, request_download, wait_final
from tests.conftest import Deployment
from tests.services import Service, free_port, redis_server, running, service_env, wait_for_port
from tests.sources import LocalSources
from tests.sse import read_all


def _persistent_redis(port: int, directory: Path, log: Path) -> list[str]:
    return [
        "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory),
        "--appendonly", "yes", "--appendfsync", "always", "--save", "",
    ]  # fmt: skip


@pytest.fixture
def fragile_deployment(tmp_path: Path) -> Iterator[tuple[Deployment, list[str], Path]]:
    """Tickets in a Redis the test may kill and restart; the broker in another that stays up."""
    port = free_port()
    data = tmp_path / "redis-data"
    data.mkdir()
    args = _persistent_redis(port, data, tmp_path / "tickets-redis.log")
    (tmp_path / "files").mkdir()
    with redis_server(tmp_path) as broker_url, running(args, tmp_path / "tickets-redis.log") as tickets_redis:
        wait_for_port(port, tickets_redis, tmp_path / "tickets-redis.log")
        env = service_env(f"redis://127.0.0.1:{port}/0", tmp_path, FILEGATE_BROKER_URL=f"{broker_url}/0")
        service = Service(env, tmp_path)
        service.start_worker()
        service.start_api()
        try:
            yield Deployment(service, LocalSources(tmp_path / "files")), args, tmp_path
        finally:
            service.stop()
            os.killpg(tickets_redis.pid, signal.SIGKILL) if tickets_redis.poll() is None else None


def test_ticket_survives_its_redis_restarting_mid_build(
    fragile_deployment: tuple[Deployment, list[str], Path],
) -> None:
    deployment, redis_args, home = fragile_deployment
    payload = os.urandom(96 * 1024**2)
    deployment.sources.put("big.bin", payload)
    created = request_download(deployment.base_url, ["big.bin"], compression="deflate", archive="zip")
    ticket_id = created.json()["ticket_id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        state = current_state(deployment.base_url, ticket_id)
        if state.get("progress", {}).get("bytes_done", 0) > 0:
            break
        time.sleep(0.02)

    found = subprocess.run(["pgrep", "-f", f"redis-server 127.0.0.1:{redis_args[2]}"], capture_output=True)
    os.kill(int(found.stdout.split()[0]), signal.SIGKILL)
    time.sleep(1)
    with running(redis_args, home / "tickets-redis.log") as restarted:
        wait_for_port(int(redis_args[2]), restarted, home / "tickets-redis.log")
        final = wait_final(deployment.base_url, ticket_id, timeout=120)
        messages = read_all(deployment.base_url, ticket_id)
        folder = build_folder(deployment.base_url, ticket_id)

    assert final["status"] == "ready", final
    statuses = [message.json()["status"] for message in messages if message.event == "status"]
    assert statuses[0] == "queued" and statuses[-1] == "ready"
    assert statuses.count("preparing") >= 2
    output = home / "archives" / folder
    assert sorted(path.name for path in output.iterdir()) == ["big.manifest.json", "big.zip"]
    with zipfile.ZipFile(io.BytesIO((output / "big.zip").read_bytes())) as archive:
        assert archive.read("big.bin") == payload


def test_api_answers_503_while_redis_is_down(tmp_path: Path) -> None:
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "a.txt").write_bytes(b"a")
    port = free_port()
    args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    with running(args, tmp_path / "redis.log") as redis_process:
        wait_for_port(port, redis_process, tmp_path / "redis.log")
        service = Service(service_env(f"redis://127.0.0.1:{port}/0", tmp_path), tmp_path)
        service.start_api()
        try:
            os.killpg(redis_process.pid, signal.SIGKILL)
            redis_process.wait()
            created = request_download(service.base_url, ["a.txt"])
            status = api_get(service.base_url, "/ticket/whatever/status")
            ready = api_get(service.base_url, "/health/ready")
        finally:
            service.stop()

    assert created.status_code == 503 and created.json()["error"] == "unavailable"
    assert status.status_code == 503
    assert ready.status_code == 503 and "redis" in ready.json()["failing"]
    assert ready.json()["checks"]["redis"]["detail"].startswith("unavailable")
