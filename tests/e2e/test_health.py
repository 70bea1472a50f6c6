"""Readiness names what is missing; a process whose dependencies stay away refuses to start."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from filegate.cli import worker_argv
from filegate.storage.s3 import make_client
from tests.client import eventually
from tests.conftest import Deployment, deployed, s3_settings
from tests.services import free_port, running, service_env, stop, wait_for_port
from tests.sources import LocalSources, S3Sources


def _ready(deployment: Deployment) -> httpx.Response:
    return httpx.get(f"{deployment.base_url}/health/ready", timeout=30)


@pytest.fixture(scope="module")
def complete(redis_url: str, workdir: Path) -> Iterator[Deployment]:
    """A build worker and a cleanup worker (with beat): everything readiness asks for."""
    home = workdir / "health"
    (home / "files").mkdir(parents=True)
    with deployed(
        home, service_env(f"{redis_url}/26", home), LocalSources(home / "files"), cleanup=True
    ) as running:
        yield running


def test_ready_when_every_dependency_answers_then_not_without_a_worker(complete: Deployment) -> None:
    ready = _ready(complete)
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["status"] == "ok" and body["failing"] == []
    assert set(body["checks"]) == {"redis", "broker", "source_store", "output_store", "workers", "space"}
    assert all(check["ok"] for check in body["checks"].values())
    assert "downloads: 1" in body["checks"]["workers"]["detail"]
    assert body["licence"]["status"] == "community"

    complete.service.stop_cleanup_worker()
    try:
        # Answers are cached for two seconds: readiness turns within a few.
        assert eventually(lambda: _ready(complete).status_code == 503, timeout=15)
        body = _ready(complete).json()
        assert body["failing"] == ["workers"]
        assert "cleanup" in body["checks"]["workers"]["detail"]
    finally:
        complete.service.start_cleanup_worker()
    assert eventually(lambda: _ready(complete).status_code == 200, timeout=15)


def test_not_ready_while_the_s3_server_is_down(redis_url: str, workdir: Path) -> None:
    home = workdir / "health-s3"
    (home / "files").mkdir(parents=True)
    port = free_port()
    moto = Path(sys.executable).with_name("moto_server")
    with running([str(moto), "-H", "127.0.0.1", "-p", str(port)], home / "moto.log") as s3_server:
        wait_for_port(port, s3_server, home / "moto.log")
        endpoint = f"http://127.0.0.1:{port}"
        client = make_client(endpoint, "testing", "testing", "us-east-1")
        env = service_env(
            f"{redis_url}/27", home, **s3_settings(endpoint, client, "health-sources", "health-outputs")
        )
        with deployed(home, env, S3Sources(client, "health-sources"), cleanup=True) as deployment:
            assert eventually(lambda: _ready(deployment).status_code == 200, timeout=15)
            stop(s3_server)

            assert eventually(lambda: _ready(deployment).status_code == 503, timeout=30)
            body = _ready(deployment).json()
            assert {"source_store", "output_store"} <= set(body["failing"])
            assert "S3" in body["checks"]["output_store"]["detail"]
            assert body["checks"]["redis"]["ok"]


def _start(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("process", ["api", "worker"])
def test_a_process_refuses_to_start_without_redis_and_says_what_to_fix(process: str, tmp_path: Path) -> None:
    (tmp_path / "files").mkdir()
    unreachable = f"redis://127.0.0.1:{free_port()}/0"
    env = service_env(unreachable, tmp_path)
    if process == "api":
        args = [
            sys.executable,
            "-m",
            "uvicorn",
            "filegate.app:create_app",
            "--factory",
            "--port",
            env["FILEGATE_PORT"],
        ]
    else:
        args = worker_argv("downloads", [])  # what `filegate worker` runs
    finished = _start(args, env, tmp_path)
    output = finished.stdout + finished.stderr

    assert finished.returncode != 0, output[-2000:]
    assert "Redis is unreachable" in output and "FILEGATE_REDIS_URL" in output, output[-2000:]
    lines: list[dict[str, Any]] = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert any(line["level"] == "critical" and line.get("dependency") == "Redis" for line in lines)


def _unreachable(dependency: str, redis_url: str, home: Path) -> dict[str, str]:
    """Settings whose Redis answers but whose broker, or S3 store, is nowhere."""
    (home / "files").mkdir(parents=True)
    nothing_there = f"127.0.0.1:{free_port()}"
    if dependency == "the broker":
        return service_env(f"{redis_url}/61", home, FILEGATE_BROKER_URL=f"redis://{nothing_there}/0")
    return service_env(
        f"{redis_url}/61",
        home,
        FILEGATE_STORAGE="s3",
        FILEGATE_S3_ENDPOINT=f"http://{nothing_there}",
        FILEGATE_S3_ACCESS_KEY="testing",
        FILEGATE_S3_SECRET_KEY="testing",
    )


def test_a_process_refuses_to_start_without_the_broker_or_a_store_and_names_it(
    redis_url: str, tmp_path: Path
) -> None:
    # Each gives up only after its retries (about 15 s for the broker): all run at once.
    started: dict[tuple[str, str], subprocess.Popen[str]] = {}
    try:
        for dependency in ("the broker", "the source store"):
            for process in ("api", "worker"):
                home = tmp_path / f"{process}-{len(started)}"
                env = _unreachable(dependency, redis_url, home)
                if process == "api":
                    args = [sys.executable, "-m", "uvicorn", "filegate.app:create_app", "--factory"]
                    args += ["--port", env["FILEGATE_PORT"]]
                else:
                    args = worker_argv("downloads", [])
                started[dependency, process] = subprocess.Popen(
                    args, env=env, cwd=home, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
                )
        deadline = time.monotonic() + 60
        outputs = {
            case: child.communicate(timeout=max(1.0, deadline - time.monotonic()))[0]
            for case, child in started.items()
        }
    finally:
        for child in started.values():
            stop(child)  # one that started after all

    fixes = {"the broker": "FILEGATE_BROKER_URL", "the source store": "FILEGATE_S3_"}
    for (dependency, process), output in outputs.items():
        case = f"{process} without {dependency}: {output[-2000:]}"
        assert started[dependency, process].returncode != 0, case
        assert f"{dependency} is unreachable" in output and fixes[dependency] in output, case
        lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
        critical = {line.get("dependency") for line in lines if line["level"] == "critical"}
        assert critical == {dependency}, case  # Redis answered: only the missing one is named
