"""You get what you asked for, as it was when you asked: versions, and changes under way."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from minio import Minio

from tests.client import api_get, request_download, wait_final
from tests.conftest import Deployment, deployed, s3_settings
from tests.services import service_env
from tests.sources import S3Sources


@pytest.fixture(scope="module")
def unversioned_s3_deployment(
    redis_url: str, s3_endpoint: str, s3_client: Minio, workdir: Path
) -> Iterator[Deployment]:
    """filegate on an S3 bucket without versioning: old bytes cannot be had there."""
    home = workdir / "s3-plain"
    home.mkdir()
    settings = s3_settings(s3_endpoint, s3_client, "plain-sources", "plain-outputs")
    env = service_env(f"{redis_url}/6", home, **settings)
    with deployed(home, env, S3Sources(s3_client, "plain-sources")) as running:
        yield running


@pytest.fixture(params=["local", "unversioned_s3"])
def unpinnable(request: pytest.FixtureRequest) -> Deployment:
    """The stores that keep no old version: local files and an unversioned bucket."""
    fixture: Deployment = request.getfixturevalue(f"{request.param}_deployment")
    return fixture


def _request_then_change(deployment: Deployment, root: str, change: Any, **options: Any) -> dict[str, Any]:
    """Request while no worker runs, change the sources, then let the build happen."""
    deployment.service.stop_worker()
    try:
        created = request_download(deployment.base_url, [f"{root}/"], archive="zip", **options)
        assert created.status_code == 202, created.text
        change()
    finally:
        deployment.service.start_worker()
    return wait_final(deployment.base_url, created.json()["ticket_id"])


def _archive(deployment: Deployment, ticket_id: str) -> tuple[dict[str, bytes], dict[str, Any]]:
    result = api_get(deployment.base_url, f"/ticket/{ticket_id}/result").json()
    blob = httpx.get(result["parts"][0]["url"]).content
    manifest = httpx.get(result["manifest"]["url"]).json()
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        files = {info.filename: archive.read(info) for info in archive.infolist() if not info.is_dir()}
    return files, manifest


def test_a_versioned_bucket_gives_the_requested_versions(s3_deployment: Deployment) -> None:
    root = s3_deployment.folder()
    sources = s3_deployment.sources
    sources.put(f"{root}/updated.txt", b"as requested")
    sources.put(f"{root}/deleted.txt", b"still wanted")

    def change() -> None:
        sources.put(f"{root}/updated.txt", b"written after the request")
        sources.delete(f"{root}/deleted.txt")

    state = _request_then_change(s3_deployment, root, change)

    assert state["status"] == "ready", state
    files, manifest = _archive(s3_deployment, state["ticket_id"])
    assert files == {f"{root}/updated.txt": b"as requested", f"{root}/deleted.txt": b"still wanted"}
    entries = manifest["parts"][0]["entries"]
    assert all(entry["version_id"] for entry in entries if entry["path"].endswith(".txt"))
    assert not any(entry["changed"] for entry in entries)


def test_a_change_fails_the_ticket_naming_the_file_by_default(unpinnable: Deployment) -> None:
    root = unpinnable.folder()
    unpinnable.sources.put(f"{root}/stable.txt", b"stable")
    unpinnable.sources.put(f"{root}/moving.txt", b"before")

    state = _request_then_change(
        unpinnable, root, lambda: unpinnable.sources.put(f"{root}/moving.txt", b"after, and longer")
    )

    assert state["status"] == "failed"
    assert f"{root}/moving.txt" in state["error"]


def test_latest_takes_the_bytes_there_now_and_says_so(unpinnable: Deployment) -> None:
    root = unpinnable.folder()
    sources = unpinnable.sources
    sources.put(f"{root}/stable.txt", b"stable")
    sources.put(f"{root}/moving.txt", b"before")
    sources.put(f"{root}/vanishing.txt", b"gone soon")

    def change() -> None:
        sources.put(f"{root}/moving.txt", b"after, and longer")
        sources.delete(f"{root}/vanishing.txt")

    state = _request_then_change(unpinnable, root, change, on_change="latest")

    assert state["status"] == "ready", state
    files, manifest = _archive(unpinnable, state["ticket_id"])
    assert files == {f"{root}/stable.txt": b"stable", f"{root}/moving.txt": b"after, and longer"}
    changed = {entry["path"]: entry["changed"] for entry in manifest["parts"][0]["entries"]}
    assert changed[f"{root}/moving.txt"] is True and changed[f"{root}/stable.txt"] is False
    assert manifest["deleted"] == [f"{root}/vanishing.txt"]
