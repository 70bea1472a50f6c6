"""``filegate flower`` runs Flower against filegate's broker, and it sees the build worker."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx

from tests.client import eventually
from tests.conftest import Deployment
from tests.services import free_port, running, wait_for_port


def test_flower_lists_the_running_build_worker(local_deployment: Deployment, tmp_path: Path) -> None:
    port = free_port()
    env = {**local_deployment.service.env, "FLOWER_UNAUTHENTICATED_API": "true"}
    filegate = str(Path(sys.executable).with_name("filegate"))
    log = tmp_path / "flower.log"
    with running([filegate, "flower", f"--port={port}"], log, env) as flower:
        wait_for_port(port, flower, log)

        def worker_listed() -> bool:
            answer = httpx.get(f"http://127.0.0.1:{port}/api/workers", params={"refresh": 1}, timeout=10)
            return answer.status_code == 200 and any(name.startswith("downloads@") for name in answer.json())

        assert eventually(worker_listed, timeout=30), log.read_text()[-3000:]
