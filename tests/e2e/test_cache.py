"""No needless rebuilds: identical requests reuse the ready archive or join the build under way."""

from __future__ import annotations

import os
import threading
import time

import httpx

from tests.client import api_get, build_folder, download_ready, request_download, wait_final
from tests.conftest import Deployment


def _sources(deployment: Deployment) -> str:
    root = deployment.folder()
    deployment.sources.put(f"{root}/a.jpg", os.urandom(50_000))
    deployment.sources.put(f"{root}/b.txt", b"text " * 1000)
    return root


def test_an_identical_request_is_ready_at_once_without_a_second_build(deployment: Deployment) -> None:
    root = _sources(deployment)
    first, _ = download_ready(deployment.base_url, [f"{root}/"], expires_in="1 hour")

    second = request_download(deployment.base_url, [f"{root}/"], expires_in="2 hours")

    assert second.status_code == 202 and second.json()["status"] == "ready"
    folder = build_folder(deployment.base_url, first["ticket_id"])
    assert build_folder(deployment.base_url, second.json()["ticket_id"]) == folder
    assert deployment.builds_started(folder) == 1
    result = api_get(deployment.base_url, f"/ticket/{second.json()['ticket_id']}/result").json()
    assert result["expires_at"] > first["expires_at"]
    assert httpx.get(result["parts"][0]["url"]).status_code == 200


def test_other_options_mean_another_archive(deployment: Deployment) -> None:
    root = _sources(deployment)
    first, _ = download_ready(deployment.base_url, [f"{root}/"])
    second, _ = download_ready(deployment.base_url, [f"{root}/"], compression="store")
    assert build_folder(deployment.base_url, first["ticket_id"]) != build_folder(
        deployment.base_url, second["ticket_id"]
    )


def test_a_changed_source_means_a_fresh_build(deployment: Deployment) -> None:
    root = _sources(deployment)
    first, _ = download_ready(deployment.base_url, [f"{root}/"])
    deployment.sources.put(f"{root}/b.txt", b"changed since")

    created = request_download(deployment.base_url, [f"{root}/"])

    # Not the ready archive: a new build (a fast worker may have started it already).
    assert created.json()["status"] in ("queued", "preparing")
    state = wait_final(deployment.base_url, created.json()["ticket_id"])
    assert state["status"] == "ready"
    assert build_folder(deployment.base_url, first["ticket_id"]) != build_folder(
        deployment.base_url, state["ticket_id"]
    )


def test_an_archive_deleted_behind_our_back_is_built_again(deployment: Deployment) -> None:
    root = _sources(deployment)
    first, _ = download_ready(deployment.base_url, [f"{root}/"])
    old_folder = build_folder(deployment.base_url, first["ticket_id"])
    deployment.delete_outputs(old_folder)

    second, [blob] = download_ready(deployment.base_url, [f"{root}/"])

    new_folder = build_folder(deployment.base_url, second["ticket_id"])
    assert new_folder != old_folder
    assert deployment.builds_started(new_folder) == 1
    assert len(blob) == second["parts"][0]["size"]


def test_an_archive_deleted_after_being_reused_is_built_again_once_its_check_is_stale(
    deployment: Deployment,
) -> None:
    """A ready archive's objects, once found stored, are taken as stored for two seconds (a
    burst of identical requests checks them once); after that they are checked again."""
    root = _sources(deployment)
    first, _ = download_ready(deployment.base_url, [f"{root}/"])
    reused, _ = download_ready(deployment.base_url, [f"{root}/"])  # checked here
    old_folder = build_folder(deployment.base_url, first["ticket_id"])
    assert build_folder(deployment.base_url, reused["ticket_id"]) == old_folder
    deployment.delete_outputs(old_folder)
    time.sleep(2.2)

    again, [blob] = download_ready(deployment.base_url, [f"{root}/"])
    assert build_folder(deployment.base_url, again["ticket_id"]) != old_folder
    assert len(blob) == again["parts"][0]["size"]


def test_identical_requests_during_a_build_share_it(local_deployment: Deployment) -> None:
    root = _sources(local_deployment)
    tickets: list[str] = []
    local_deployment.service.stop_worker()
    try:

        def ask() -> None:
            response = request_download(local_deployment.base_url, [f"{root}/"])
            assert response.status_code == 202
            tickets.append(response.json()["ticket_id"])

        threads = [threading.Thread(target=ask) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        local_deployment.service.start_worker()

    states = [wait_final(local_deployment.base_url, ticket) for ticket in tickets]

    assert len(tickets) == 8 and all(state["status"] == "ready" for state in states)
    folders = {build_folder(local_deployment.base_url, ticket) for ticket in tickets}
    assert len(folders) == 1
    assert local_deployment.builds_started(folders.pop()) == 1
