"""DELETE /ticket/{id}: a queued ticket leaves the queue, a running build stops, a shared build goes on."""

from __future__ import annotations

import time

import httpx

from tests.client import api_delete, current_state, download_ready, eventually, request_download, wait_final
from tests.conftest import Deployment
from tests.sse import read_all


def _cancel(deployment: Deployment, ticket_id: str) -> httpx.Response:
    return api_delete(deployment.base_url, f"/ticket/{ticket_id}", timeout=10)


def test_a_queued_ticket_is_cancelled_and_never_built(local_deployment: Deployment) -> None:
    root = local_deployment.folder()
    local_deployment.sources.put(f"{root}/a.txt", b"never built")
    local_deployment.service.stop_worker()
    try:
        ticket = request_download(local_deployment.base_url, [f"{root}/"]).json()["ticket_id"]
        build_id = local_deployment.build_id(ticket)
        cancelled = _cancel(local_deployment, ticket)
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    finally:
        local_deployment.service.start_worker()

    statuses = [
        m.json()["status"] for m in read_all(local_deployment.base_url, ticket) if m.event == "status"
    ]
    assert statuses == ["queued", "cancelled"]
    log = local_deployment.service.worker_log
    assert eventually(lambda: f"build {build_id} skipped" in log.read_text(), timeout=10)
    assert local_deployment.builds_started(build_id) == 0
    assert local_deployment.stored_outputs(build_id) == []


def test_a_running_build_stops_and_leaves_nothing_behind(local_deployment: Deployment) -> None:
    root = local_deployment.folder()
    big = local_deployment.sources.root / root / "disk.img"
    big.parent.mkdir(parents=True)
    with big.open("wb") as sparse:
        sparse.truncate(6 * 1024**3)
    try:
        ticket = request_download(local_deployment.base_url, [f"{root}/"], compression="store").json()[
            "ticket_id"
        ]
        build_id = local_deployment.build_id(ticket)
        deadline = time.monotonic() + 30
        while current_state(local_deployment.base_url, ticket).get("progress", {}).get("bytes_done", 0) == 0:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert _cancel(local_deployment, ticket).status_code == 200

        log = local_deployment.service.worker_log
        assert eventually(lambda: f"build {build_id} cancelled" in log.read_text(), timeout=30)
    finally:
        big.unlink()

    assert local_deployment.stored_outputs(build_id) == []
    assert read_all(local_deployment.base_url, ticket)[-1].json()["status"] == "cancelled"
    # The slot is free again: the next build runs.
    local_deployment.sources.put(f"{root}/next.txt", b"next")
    body, _ = download_ready(local_deployment.base_url, [f"{root}/next.txt"], archive="zip")
    assert body["status"] == "ready"


def test_a_shared_build_goes_on_for_the_tickets_still_holding_it(local_deployment: Deployment) -> None:
    root = local_deployment.folder()
    local_deployment.sources.put(f"{root}/a.txt", b"shared")
    local_deployment.service.stop_worker()
    try:
        first = request_download(local_deployment.base_url, [f"{root}/"]).json()["ticket_id"]
        second = request_download(local_deployment.base_url, [f"{root}/"]).json()["ticket_id"]
        assert local_deployment.build_id(first) == local_deployment.build_id(second)
        assert _cancel(local_deployment, first).status_code == 200
    finally:
        local_deployment.service.start_worker()

    assert wait_final(local_deployment.base_url, second)["status"] == "ready"
    assert current_state(local_deployment.base_url, first)["status"] == "cancelled"


def test_cancelling_a_final_or_unknown_ticket(local_deployment: Deployment) -> None:
    root = local_deployment.folder()
    local_deployment.sources.put(f"{root}/a.txt", b"done")
    local_deployment.service.stop_worker()
    try:
        created = request_download(local_deployment.base_url, [f"{root}/"])
        ticket_id = created.json()["ticket_id"]
        assert _cancel(local_deployment, ticket_id).status_code == 200
        again = _cancel(local_deployment, ticket_id)
    finally:
        local_deployment.service.start_worker()
    assert again.status_code == 409 and again.json()["state"]["status"] == "cancelled"
    assert _cancel(local_deployment, "no-such-ticket").status_code == 404
