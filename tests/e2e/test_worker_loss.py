"""A worker process killed mid-build: the ticket is built again, not lost, and nothing half-written stays."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import signal
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests.client import api_get, auth, build_folder, current_state, request_download, wait_final
from tests.conftest import Deployment, deployed
from tests.services import pool_children, service_env
from tests.sources import LocalSources, S3Sources, put_split_set
from tests.sse import Reader, read_all


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
    [child] = pool_children(deployment.service.worker.pid)
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


@pytest.fixture(scope="module")
def leased(redis_url: str, workdir: Path) -> Iterator[Deployment]:
    """Leases of 3 s and a sweep every second: a dead worker's build is noticed quickly."""
    home = workdir / "leased"
    (home / "files").mkdir(parents=True)
    env = service_env(f"{redis_url}/12", home, FILEGATE_BUILD_LEASE="3s", FILEGATE_SWEEP_INTERVAL="1s")
    with deployed(home, env, LocalSources(home / "files"), cleanup=True) as running:
        yield running


def test_a_whole_worker_killed_mid_build_gives_its_slot_back_and_the_build_runs_again(
    leased: Deployment,
) -> None:
    root = leased.folder()
    sources = leased.sources
    assert isinstance(sources, LocalSources)
    big = sources.root / root / "disk.img"
    big.parent.mkdir(parents=True)
    with big.open("wb") as sparse:
        sparse.truncate(3 * 1024**3)
    try:
        ticket = request_download(leased.base_url, [f"{root}/"], compression="store").json()["ticket_id"]
        deadline = time.monotonic() + 30
        while current_state(leased.base_url, ticket).get("progress", {}).get("bytes_done", 0) == 0:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        worker = leased.service.worker
        assert worker is not None
        os.killpg(worker.pid, signal.SIGKILL)  # the main process and its pool: a machine lost
        worker.wait()
        leased.service.worker = None
        leased.service.start_worker()

        final = wait_final(leased.base_url, ticket, timeout=180)
    finally:
        big.unlink()

    assert final["status"] == "ready", final
    folder = build_folder(leased.base_url, ticket)
    assert leased.stored_outputs(folder) == [f"{folder}/{root}.manifest.json", f"{folder}/{root}.zip"]
    with zipfile.ZipFile(Path(leased.service.env["FILEGATE_OUTPUT_DIR"]) / folder / f"{root}.zip") as archive:
        assert archive.getinfo(f"{root}/disk.img").file_size == 3 * 1024**3
    cleanup_log = (leased.service.workdir / "cleanup.log").read_text()
    assert "lost its worker: queued again" in cleanup_log
    shutil.rmtree(Path(leased.service.env["FILEGATE_OUTPUT_DIR"]) / folder)


def _snapshot(client: redis.Redis) -> list[tuple[bytes, int, bytes]]:
    """Every key of the database at one instant (writes held meanwhile): name, TTL, DUMP."""
    client.execute_command("CLIENT", "PAUSE", 5000, "WRITE")
    try:
        names = list(client.scan_iter(count=1000))
        with client.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.pttl(name)
                pipe.dump(name)
            replies = pipe.execute()
    finally:
        client.execute_command("CLIENT", "UNPAUSE")
    return [(name, replies[2 * i], replies[2 * i + 1]) for i, name in enumerate(names)]


def _restore(client: redis.Redis, snapshot: list[tuple[bytes, int, bytes]]) -> None:
    """The database as it was: what a replica that lagged holds once it is promoted."""
    with client.pipeline(transaction=True) as pipe:
        pipe.flushdb()
        for name, ttl, value in snapshot:
            pipe.restore(name, max(ttl, 0), value)
        pipe.execute()


def test_a_build_whose_last_writes_were_lost_with_the_redis_primary_is_repaired(leased: Deployment) -> None:
    """Replication to a Redis replica is asynchronous: a failover can lose the last writes. Here
    Redis goes back to how it was when part 1 of 3 was committed, after the build was ready (every
    state change is one script, so what is left is a consistent earlier state). The lease lapses,
    the sweep queues the build again, and it goes on from part 1 to ready: no ticket waits forever."""
    root = leased.folder()
    sources = leased.sources
    assert isinstance(sources, LocalSources)
    expected = put_split_set(sources, root, 2 * 1024**3)
    client = redis.Redis.from_url(leased.service.env["FILEGATE_REDIS_URL"])
    try:
        created = request_download(
            leased.base_url, [f"{root}/"], split_size="8MB", compression="store", name="lagged"
        )
        ticket_id = created.json()["ticket_id"]
        url = f"{leased.base_url}/ticket/{ticket_id}/status"
        with httpx.stream("GET", url, headers=auth(leased.base_url), timeout=60) as response:
            for message in Reader().messages(response.iter_lines()):
                if message.event == "part_ready":
                    snapshot = _snapshot(client)
                    break
        assert wait_final(leased.base_url, ticket_id, timeout=120)["status"] == "ready"

        _restore(client, snapshot)
        assert current_state(leased.base_url, ticket_id)["status"] == "preparing"
        final = wait_final(leased.base_url, ticket_id, timeout=120)
    finally:
        (sources.root / root / "b.bin").unlink()
        client.close()

    assert final["status"] == "ready", final
    build_id = leased.build_id(ticket_id)
    assert f"build {build_id} resumed after part 1 of 3" in leased.service.worker_log.read_text()
    result = api_get(leased.base_url, f"/ticket/{ticket_id}/result").json()
    assert [part["part"] for part in result["parts"]] == [1, 2, 3] and not result["partial"]
    folder = Path(leased.service.env["FILEGATE_OUTPUT_DIR"]) / build_id
    for part in result["parts"]:
        assert hashlib.sha256((folder / part["name"]).read_bytes()).hexdigest() == part["sha256"]
    with zipfile.ZipFile(folder / result["parts"][0]["name"]) as archive:
        assert archive.read(f"{root}/a.bin") == expected[f"{root}/a.bin"]
    shutil.rmtree(folder)
