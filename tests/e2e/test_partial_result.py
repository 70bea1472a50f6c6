"""Parts in a user's hands as they are committed, and a build that goes on after them when its
worker dies."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import zipfile
from pathlib import Path
from typing import Any

import httpx

from tests.client import api_delete, api_get, auth, build_folder, eventually, part_key, wait_final
from tests.client import request_download as post_download
from tests.conftest import Deployment
from tests.services import pool_children
from tests.sources import LocalSources, S3Sources, put_split_set
from tests.sse import Message, Reader, read_all

MiB = 1024**2


def _events_until_part(base_url: str, ticket_id: str, part: int) -> list[Message]:
    """The ticket's events up to and including ``part_ready`` of part ``part``."""
    url = f"{base_url}/ticket/{ticket_id}/status"
    seen = []
    with httpx.stream("GET", url, headers=auth(base_url), timeout=60) as response:
        assert response.status_code == 200
        for message in Reader().messages(response.iter_lines()):
            seen.append(message)
            if message.event == "part_ready" and message.json()["part"] == part:
                return seen
            assert not (message.event == "status" and message.json()["status"] == "ready"), seen
    raise AssertionError(f"the stream ended before part {part} was ready: {seen}")


def _put_sources(deployment: Deployment, root: str) -> dict[str, bytes | None]:
    """The split set (tests/sources.py), its middle file large enough to kill the worker in it:
    a sparse 2 GiB on the local store, 160 MiB on the slow S3 test server."""
    local = isinstance(deployment.sources, LocalSources)
    return put_split_set(deployment.sources, root, 2 * 1024 * MiB if local else 160 * MiB)


def _stored_version(deployment: Deployment, key: str) -> tuple[Any, ...]:
    """What changes when the object is written again."""
    if isinstance(deployment.sources, S3Sources):
        bucket = deployment.service.env["FILEGATE_S3_OUTPUT_BUCKET"]
        stat = deployment.sources.client.stat_object(bucket, key)
        return (stat.etag, stat.last_modified, stat.version_id)
    stat = (Path(deployment.service.env["FILEGATE_OUTPUT_DIR"]) / key).stat()
    return (stat.st_ino, stat.st_mtime_ns)


def _check_entries(blob: bytes, expected: dict[str, bytes | None]) -> set[str]:
    """The files of one ZIP part, each compared with its source; returns their names."""
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        names = {info.filename for info in archive.infolist() if not info.is_dir()}
        for name in names:
            with archive.open(name) as entry:
                digest = hashlib.sha256()
                while chunk := entry.read(8 * MiB):
                    digest.update(chunk)
            source = expected[name]
            if source is None:
                zeros = hashlib.sha256()
                for _ in range(2 * 1024 // 8):
                    zeros.update(bytes(8 * MiB))
                assert digest.hexdigest() == zeros.hexdigest(), name
            else:
                assert digest.hexdigest() == hashlib.sha256(source).hexdigest(), name
    return names


def test_a_split_build_killed_after_its_first_part_keeps_it_and_builds_only_the_rest(
    deployment: Deployment,
) -> None:
    base = deployment.base_url
    root = deployment.folder()
    sources = _put_sources(deployment, root)
    try:
        created = post_download(base, [f"{root}/"], compression="store", split_size="8MB", name="set")
        assert created.status_code == 202, created.text
        ticket_id = created.json()["ticket_id"]

        before = _events_until_part(base, ticket_id, 1)

        # Part 1 is downloadable while part 2 builds.
        partial = api_get(base, f"/ticket/{ticket_id}/result")
        assert partial.status_code == 200, partial.text
        body = partial.json()
        assert body["status"] == "preparing" and body["partial"] is True
        assert body["parts_total"] == 3 and body["manifest"] is None
        assert [part["part"] for part in body["parts"]] == [1]
        assert body["pending"] == [
            {"part": 2, "name": "set-2-of-3.zip"},
            {"part": 3, "name": "set-3-of-3.zip"},
        ]
        [first] = body["parts"]
        blob = httpx.get(first["url"], timeout=30).content
        assert hashlib.sha256(blob).hexdigest() == first["sha256"] and len(blob) == first["size"]
        assert _check_entries(blob, sources) == {f"{root}/a.bin"}
        folder = build_folder(base, ticket_id)
        part_one = _stored_version(deployment, f"{folder}/set-1-of-3.zip")

        assert deployment.service.worker is not None
        [child] = pool_children(deployment.service.worker.pid)
        os.kill(child, signal.SIGKILL)

        final = wait_final(base, ticket_id, timeout=180)
    finally:
        if isinstance(deployment.sources, LocalSources):
            (deployment.sources.root / root / "b.bin").unlink()

    assert final["status"] == "ready", final
    build_id = deployment.build_id(ticket_id)
    worker_log = deployment.service.worker_log.read_text()
    assert f"build {build_id} resumed after part 1 of 3" in worker_log
    assert _stored_version(deployment, f"{folder}/set-1-of-3.zip") == part_one
    result = api_get(base, f"/ticket/{ticket_id}/result").json()
    assert result["partial"] is False and result["pending"] == [] and result["manifest"] is not None
    assert [part["part"] for part in result["parts"]] == [1, 2, 3]
    assert result["parts"][0]["sha256"] == first["sha256"]
    names: set[str] = set()
    for part in result["parts"]:
        blob = httpx.get(part["url"], timeout=120).content
        assert hashlib.sha256(blob).hexdigest() == part["sha256"]
        names |= _check_entries(blob, sources)
    assert names == set(sources)
    manifest = httpx.get(result["manifest"]["url"], timeout=30).json()
    assert [part["sha256"] for part in manifest["parts"]] == [part["sha256"] for part in result["parts"]]
    assert deployment.stored_outputs(folder) == sorted(
        [f"{folder}/set-{n}-of-3.zip" for n in (1, 2, 3)] + [f"{folder}/set.manifest.json"]
    )
    if isinstance(deployment.sources, S3Sources):
        bucket = deployment.service.env["FILEGATE_S3_OUTPUT_BUCKET"]
        assert deployment.sources.client._list_multipart_uploads(bucket, prefix=folder).uploads == []

    # Every part is announced once, part 1 before the worker died, the others after.
    everything = read_all(base, ticket_id)
    announced = [message.json()["part"] for message in everything if message.event == "part_ready"]
    assert announced == [1, 2, 3]
    assert [m.id for m in before] == [m.id for m in everything[: len(before)]]
    statuses = [m.json()["status"] for m in everything if m.event == "status"]
    assert statuses == ["queued", "preparing", "preparing", "ready"]


def test_a_build_cancelled_after_its_first_part_removes_it_and_its_link_ends(
    local_deployment: Deployment,
) -> None:
    base = local_deployment.base_url
    root = local_deployment.folder()
    _put_sources(local_deployment, root)
    assert isinstance(local_deployment.sources, LocalSources)
    try:
        ticket_id = post_download(base, [f"{root}/"], split_size="8MB", name="set").json()["ticket_id"]
        _events_until_part(base, ticket_id, 1)
        [first] = api_get(base, f"/ticket/{ticket_id}/result").json()["parts"]
        folder = part_key(first["url"]).rsplit("/", 1)[0]

        assert api_delete(base, f"/ticket/{ticket_id}").status_code == 200
        final = wait_final(base, ticket_id, timeout=60)
    finally:
        (local_deployment.sources.root / root / "b.bin").unlink()

    assert final["status"] == "cancelled"
    assert eventually(lambda: local_deployment.stored_outputs(folder) == [])
    gone = httpx.get(first["url"], timeout=30)
    assert gone.status_code == 410 and gone.json()["error"] == "gone"
    assert api_get(base, f"/ticket/{ticket_id}/result").status_code == 409
