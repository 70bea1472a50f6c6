"""Nothing left behind: archives go once their last ticket expires; expired tickets answer 410."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from minio import Minio

from tests.client import api_delete, api_get, build_folder, download_ready, eventually, request_download
from tests.conftest import Deployment, deployed, s3_settings
from tests.services import service_env
from tests.sources import LocalSources, S3Sources

SWEEP_SECONDS = 1
GRACE_SECONDS = 12
STALE_SECONDS = 3


@pytest.fixture(scope="module", params=["local", "s3"])
def expiring(
    request: pytest.FixtureRequest, redis_url: str, workdir: Path, s3_endpoint: str, s3_client: Minio
) -> Iterator[Deployment]:
    """filegate with a build worker, a cleanup worker and beat sweeping every second."""
    home = workdir / f"expiry-{request.param}"
    (home / "files").mkdir(parents=True)
    overrides = {
        "FILEGATE_SWEEP_INTERVAL": f"{SWEEP_SECONDS}s",
        "FILEGATE_EXPIRED_GRACE": f"{GRACE_SECONDS}s",
        # Partial outputs older than this belong to no running build: the sweeper removes them.
        "FILEGATE_BUILD_TIMEOUT": f"{STALE_SECONDS}s",
    }
    sources: LocalSources | S3Sources = LocalSources(home / "files")
    database = 7
    if request.param == "s3":
        database = 8
        overrides.update(s3_settings(s3_endpoint, s3_client, "expiry-sources", "expiry-outputs"))
        sources = S3Sources(s3_client, "expiry-sources")
    env = service_env(f"{redis_url}/{database}", home, **overrides)
    with deployed(home, env, sources, cleanup=True) as running:
        yield running


def _ready_folder(deployment: Deployment, expires_in: str) -> tuple[dict[str, object], str]:
    root = deployment.folder()
    deployment.sources.put(f"{root}/a.txt", b"short-lived " * 100)
    body, _ = download_ready(deployment.base_url, [f"{root}/"], expires_in=expires_in)
    return body, build_folder(deployment.base_url, str(body["ticket_id"]))


def _wait_until(moment: str) -> None:
    remaining = datetime.fromisoformat(moment).timestamp() - datetime.now(UTC).timestamp()
    time.sleep(max(0.0, remaining) + 0.1)


def _log_lines(log: Path, since: int) -> list[dict[str, Any]]:
    """The JSON lines written to a worker's or beat's log past byte ``since`` (Celery's banner,
    and a line still being written, are not JSON: left out)."""
    if not log.exists():
        return []
    with log.open("rb") as text:
        text.seek(since)
        lines = []
        for line in text.read().decode(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                lines.append(json.loads(line))
        return lines


def _log_end(log: Path) -> int:
    return log.stat().st_size if log.exists() else 0


def _sweeps_run(deployment: Deployment, since: int) -> list[dict[str, Any]]:
    """Sweeps the cleanup worker received past byte ``since`` of its log (so started after that
    moment) and ran, each as its log line's data (``return_value``: builds handed to deletion).
    A sweep offered again in an interval that had one ends at once, returning None: not counted."""
    lines = _log_lines(deployment.service.workdir / "cleanup.log", since)
    sweeps = [line for line in lines if line.get("message", "").startswith("Task filegate.sweep[")]
    received = {line["data"]["id"] for line in sweeps if line["message"].endswith("] received")}
    return [
        line["data"]
        for line in sweeps
        if "] succeeded in " in line["message"]
        and line["data"]["id"] in received
        and line["data"].get("return_value") != "None"
    ]


def _sweeps_had_their_chance(deployment: Deployment, count: int = 2) -> None:
    """Wait until ``count`` sweeps started from now on have finished. One worker process takes the
    cleanup queue in order, and beat sends a sweep a second: a delete the first sweep asked
    for has run by the time the second ends."""
    since = _log_end(deployment.service.workdir / "cleanup.log")
    finished = eventually(
        lambda: len(_sweeps_run(deployment, since)) >= count, timeout=10 + count * SWEEP_SECONDS
    )
    assert finished, f"the cleanup worker did not finish {count} sweeps"


def _sweeps_sent(deployment: Deployment, since: int) -> int:
    """Sweeps beat has sent past byte ``since`` of its log."""
    lines = _log_lines(deployment.service.workdir / "beat.log", since)
    return sum("Sending due task sweep-expired-archives" in line.get("message", "") for line in lines)


def test_an_expired_archive_is_deleted_and_its_ticket_answers_410_then_404(expiring: Deployment) -> None:
    body, folder = _ready_folder(expiring, "5s")
    assert expiring.stored_outputs(folder)
    ticket = str(body["ticket_id"])

    _wait_until(str(body["expires_at"]))
    gone = api_get(expiring.base_url, f"/ticket/{ticket}/result")
    assert gone.status_code == 410 and gone.json()["expires_at"] == body["expires_at"]
    assert eventually(lambda: not expiring.stored_outputs(folder), timeout=10 * SWEEP_SECONDS)

    assert eventually(
        lambda: api_get(expiring.base_url, f"/ticket/{ticket}/status").status_code == 404,
        timeout=GRACE_SECONDS + 10,
    )


def test_archives_expired_while_the_cleanup_worker_was_down_are_deleted_when_it_returns(
    expiring: Deployment,
) -> None:
    expiring.service.stop_cleanup_worker()
    try:
        body, folder = _ready_folder(expiring, "4s")
        _wait_until(str(body["expires_at"]))
        since = _log_end(expiring.service.workdir / "beat.log")
        # Sweeps of the expired archive were sent all the same: nothing took them.
        assert eventually(lambda: _sweeps_sent(expiring, since) >= 3, timeout=10 + 3 * SWEEP_SECONDS)
        assert expiring.stored_outputs(folder), "deleted with no cleanup worker running"
    finally:
        expiring.service.start_cleanup_worker()
    assert eventually(lambda: not expiring.stored_outputs(folder))


def test_an_archive_held_by_two_tickets_lives_until_the_later_expires(expiring: Deployment) -> None:
    root = expiring.folder()
    expiring.sources.put(f"{root}/shared.txt", b"shared " * 100)
    early, _ = download_ready(expiring.base_url, [f"{root}/"], expires_in="6s")
    late = request_download(expiring.base_url, [f"{root}/"], expires_in="14s").json()
    assert late["status"] == "ready"
    folder = build_folder(expiring.base_url, early["ticket_id"])

    _wait_until(early["expires_at"])
    _sweeps_had_their_chance(expiring)
    assert api_get(expiring.base_url, f"/ticket/{early['ticket_id']}/result").status_code == 410
    assert expiring.stored_outputs(folder)
    result = api_get(expiring.base_url, f"/ticket/{late['ticket_id']}/result").json()
    assert httpx.get(result["parts"][0]["url"]).status_code == 200

    _wait_until(late["expires_at"])
    assert eventually(lambda: not expiring.stored_outputs(folder))


def test_a_ticket_that_expires_while_queued_is_never_built(expiring: Deployment) -> None:
    root = expiring.folder()
    expiring.sources.put(f"{root}/never.txt", b"never built")
    expiring.service.stop_worker()
    try:
        created = request_download(expiring.base_url, [f"{root}/"], expires_in="2s").json()
        _wait_until(created["expires_at"])
        _sweeps_had_their_chance(expiring)
    finally:
        expiring.service.start_worker()

    status = api_get(expiring.base_url, f"/ticket/{created['ticket_id']}/status")
    assert status.status_code == 410
    build_id = expiring.build_id(created["ticket_id"])
    assert eventually(lambda: f"build {build_id} skipped" in expiring.service.worker_log.read_text())
    assert expiring.builds_started(build_id) == 0
    assert expiring.stored_outputs(build_id) == []


def test_leftovers_of_crashed_builds_are_removed(expiring: Deployment) -> None:
    is_s3 = isinstance(expiring.sources, S3Sources)
    if isinstance(expiring.sources, S3Sources):
        client, bucket = expiring.sources.client, expiring.service.env["FILEGATE_S3_OUTPUT_BUCKET"]
        client._create_multipart_upload(bucket, "crashed/archive.zip", {})

        def left() -> bool:
            uploads = client._list_multipart_uploads(bucket, prefix="crashed/").uploads
            return bool(uploads)

    else:
        partial = Path(expiring.service.env["FILEGATE_OUTPUT_DIR"]) / "crashed" / f".a.zip.{'0' * 32}.partial"
        partial.parent.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(b"half an archive")

        def left() -> bool:
            return partial.exists()

    if not is_s3:
        # moto reports every upload as initiated in 2010, so only the local store can show
        # that a young leftover (of a build that may still be running) is kept.
        _sweeps_had_their_chance(expiring, 1)
        assert left(), "removed while younger than the longest build"
        assert time.time() - partial.stat().st_mtime < STALE_SECONDS, "too old to show anything"
    assert eventually(lambda: not left(), timeout=STALE_SECONDS + 10 * SWEEP_SECONDS)


@pytest.fixture(scope="module")
def releasing(redis_url: str, workdir: Path) -> Iterator[Deployment]:
    """A build worker and a cleanup worker but no beat: nothing is swept unless asked for."""
    home = workdir / "release"
    (home / "files").mkdir(parents=True)
    env = service_env(f"{redis_url}/25", home, FILEGATE_SWEEP_INTERVAL="1h")
    with deployed(home, env, LocalSources(home / "files")) as running:
        running.service.start_cleanup_worker()
        yield running


def _held_bytes(deployment: Deployment) -> int:
    client = redis.Redis.from_url(deployment.service.env["FILEGATE_REDIS_URL"], decode_responses=True)
    return int(client.get("filegate:space:held") or 0)


def test_a_released_ticket_ends_and_its_archive_goes_at_once(releasing: Deployment) -> None:
    body, folder = _ready_folder(releasing, "1 day")
    ticket_id = str(body["ticket_id"])
    assert releasing.stored_outputs(folder) and _held_bytes(releasing) > 0

    released = api_delete(releasing.base_url, f"/ticket/{ticket_id}")

    assert released.status_code == 200 and released.json()["status"] == "expired"
    assert api_get(releasing.base_url, f"/ticket/{ticket_id}/result").status_code == 410
    assert eventually(lambda: releasing.stored_outputs(folder) == []), "the archive was not deleted"
    assert eventually(lambda: _held_bytes(releasing) == 0)
    assert api_delete(releasing.base_url, f"/ticket/{ticket_id}").status_code == 410


def test_an_archive_another_ticket_holds_stays_until_that_one_is_released(releasing: Deployment) -> None:
    root = releasing.folder()
    releasing.sources.put(f"{root}/shared.txt", b"wanted twice " * 100)
    first, _ = download_ready(releasing.base_url, [f"{root}/"])
    second, [blob] = download_ready(releasing.base_url, [f"{root}/"])
    folder = build_folder(releasing.base_url, str(second["ticket_id"]))

    since = _log_end(releasing.service.workdir / "cleanup.log")
    assert api_delete(releasing.base_url, f"/ticket/{first['ticket_id']}").status_code == 200
    # The release asked for a sweep (no beat here sends any other): it ran, and handed nothing
    # to be deleted.
    assert eventually(lambda: len(_sweeps_run(releasing, since)) >= 1), "no sweep ran"
    handed = [sweep["return_value"] for sweep in _sweeps_run(releasing, since)]
    assert set(handed) == {"0"}, "the sweep handed the archive to be deleted"
    assert releasing.stored_outputs(folder)
    result = api_get(releasing.base_url, f"/ticket/{second['ticket_id']}/result").json()
    assert httpx.get(result["parts"][0]["url"], timeout=10).content == blob

    assert api_delete(releasing.base_url, f"/ticket/{second['ticket_id']}").status_code == 200
    assert eventually(lambda: releasing.stored_outputs(folder) == [])
