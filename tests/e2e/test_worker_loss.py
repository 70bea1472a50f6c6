"""A worker process killed mid-build: the ticket is built again, not lost, and nothing half-written stays."""

from __future__ import annotations

import io
import os
import signal
import time
import zipfile
from pathlib import Path

from tests.client import build_folder, current_state, request_download, wait_final
from tests.conftest import Deployment
from tests.sources import S3Sources
from tests.sse import read_all


def _pool_children(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += [int(child) for child in (task / "children").read_text().split()]
    return children


def test_killed_build_is_delivered_again_and_finishes(deployment: Deployment) -> None:
    root = deployment.folder()
    payload = os.urandom(96 * 1024**2)
    deployment.sources.put(f"{root}/big.bin", payload)
    created = request_download(deployment.base_url, [f"{root}/big.bin"], compression="deflate", archive="zip")
    assert created.status_code == 202
    ticket_id = created.json()["ticket_id"]

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        state = current_state(deployment.base_url, ticket_id)
        if state["status"] == "preparing" and state.get("progress", {}).get("bytes_done", 0) > 0:
            break
        time.sleep(0.02)
    assert state["status"] == "preparing", state
    assert deployment.service.worker is not None
    [child] = _pool_children(deployment.service.worker.pid)
    os.kill(child, signal.SIGKILL)

    final = wait_final(deployment.base_url, ticket_id, timeout=120)

    assert final["status"] == "ready", final
    statuses = [m.json()["status"] for m in read_all(deployment.base_url, ticket_id) if m.event == "status"]
    assert statuses == ["queued", "preparing", "preparing", "ready"]
    folder = build_folder(deployment.base_url, ticket_id)
    if isinstance(deployment.sources, S3Sources):
        client, bucket = deployment.sources.client, deployment.service.env["FILEGATE_S3_OUTPUT_BUCKET"]
        stored = client.list_objects(bucket, prefix=f"{folder}/", recursive=True)
        assert sorted(item.object_name for item in stored) == [
            f"{folder}/big.manifest.json",
            f"{folder}/big.zip",
        ]
        assert client._list_multipart_uploads(bucket, prefix=folder).uploads == []
        blob = client.get_object(bucket, f"{folder}/big.zip").read()
    else:
        output_dir = Path(deployment.service.env["FILEGATE_OUTPUT_DIR"]) / folder
        assert sorted(path.name for path in output_dir.iterdir()) == ["big.manifest.json", "big.zip"]
        blob = (output_dir / "big.zip").read_bytes()
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        assert archive.read("big.bin") == payload
