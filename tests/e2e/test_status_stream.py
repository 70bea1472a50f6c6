"""GET /ticket/{id}/status as Server-Sent Events, against a real uvicorn on loopback.

The behaviours follow aio-libs/aiohttp-sse's tests: headers, fields, keep-alive,
resuming with Last-Event-ID, clients leaving mid-stream, the end of the stream.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.client import api_get, auth, current_state, download_ready, request_download
from tests.conftest import Deployment, deployed
from tests.services import service_env
from tests.sources import LocalSources
from tests.sse import Message, Reader, read_all


@pytest.fixture(scope="module")
def idle_deployment(redis_url: str, workdir: Path) -> Iterator[Deployment]:
    """An API with no worker: its tickets stay queued. Keep-alives every second."""
    home = workdir / "idle"
    (home / "files").mkdir(parents=True)
    env = service_env(f"{redis_url}/3", home, FILEGATE_SSE_KEEPALIVE="1")
    with deployed(home, env, LocalSources(home / "files"), worker=False) as running:
        yield running


def _queued_ticket(deployment: Deployment) -> str:
    root = deployment.folder()
    deployment.sources.put(f"{root}/a.txt", b"a")
    created = request_download(deployment.base_url, [f"{root}/a.txt"], archive="zip")
    assert created.status_code == 202
    ticket_id: str = created.json()["ticket_id"]
    return ticket_id


def _ready_ticket(deployment: Deployment) -> str:
    root = deployment.folder()
    deployment.sources.put(f"{root}/a.txt", b"a" * 10_000)
    body, _ = download_ready(deployment.base_url, [f"{root}/"])
    ticket_id: str = body["ticket_id"]
    return ticket_id


def test_stream_has_event_stream_headers(local_deployment: Deployment) -> None:
    ticket_id = _ready_ticket(local_deployment)
    url = f"{local_deployment.base_url}/ticket/{ticket_id}/status"
    with httpx.stream("GET", url, headers=auth(local_deployment.base_url)) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        response.read()


def test_every_event_has_an_id_a_name_and_json_data_and_the_stream_ends_when_ready(
    local_deployment: Deployment,
) -> None:
    ticket_id = _ready_ticket(local_deployment)

    messages = read_all(local_deployment.base_url, ticket_id)

    assert all(message.id for message in messages)
    assert {message.event for message in messages} <= {"status", "progress"}
    statuses = [message.json()["status"] for message in messages if message.event == "status"]
    assert statuses == ["queued", "preparing", "ready"]
    assert messages[-1].event == "status" and messages[-1].json()["status"] == "ready"
    progress = [message.json() for message in messages if message.event == "progress"]
    assert progress[-1]["percent"] == 100.0
    assert progress[-1]["files_done"] == progress[-1]["files_total"] == 1
    ids = [tuple(int(part) for part in (message.id or "").split("-")) for message in messages]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_last_event_id_resumes_after_that_event_without_repeats(local_deployment: Deployment) -> None:
    ticket_id = _ready_ticket(local_deployment)
    everything = read_all(local_deployment.base_url, ticket_id)

    resumed = read_all(
        local_deployment.base_url, ticket_id, headers={"Last-Event-ID": everything[1].id or ""}
    )

    assert [message.id for message in resumed] == [message.id for message in everything[2:]]


def test_live_events_arrive_while_the_build_runs(local_deployment: Deployment) -> None:
    local_deployment.service.stop_worker()
    try:
        ticket_id = _queued_ticket(local_deployment)
        received: list[Message] = []
        url = f"{local_deployment.base_url}/ticket/{ticket_id}/status"

        def listen() -> None:
            with httpx.stream("GET", url, headers=auth(local_deployment.base_url), timeout=60) as response:
                received.extend(Reader().messages(response.iter_lines()))

        listener = threading.Thread(target=listen)
        listener.start()
        time.sleep(0.5)
        assert current_state(local_deployment.base_url, ticket_id)["status"] == "queued"
    finally:
        local_deployment.service.start_worker()
    listener.join(timeout=60)

    assert not listener.is_alive()
    statuses = [message.json()["status"] for message in received if message.event == "status"]
    assert statuses == ["queued", "preparing", "ready"]


def test_many_listeners_of_one_ticket_all_get_every_event(local_deployment: Deployment) -> None:
    local_deployment.service.stop_worker()
    results: list[list[Message]] = [[] for _ in range(30)]
    try:
        ticket_id = _queued_ticket(local_deployment)
        url = f"{local_deployment.base_url}/ticket/{ticket_id}/status"

        def listen(slot: list[Message]) -> None:
            with httpx.stream("GET", url, headers=auth(local_deployment.base_url), timeout=60) as response:
                slot.extend(Reader().messages(response.iter_lines()))

        threads = [threading.Thread(target=listen, args=(slot,)) for slot in results]
        for thread in threads:
            thread.start()
        time.sleep(0.5)
    finally:
        local_deployment.service.start_worker()
    for thread in threads:
        thread.join(timeout=60)

    expected = [message.id for message in read_all(local_deployment.base_url, ticket_id)]
    assert all([message.id for message in slot] == expected for slot in results)


def test_keep_alive_comments_flow_while_nothing_happens(idle_deployment: Deployment) -> None:
    ticket_id = _queued_ticket(idle_deployment)
    reader = Reader()
    url = f"{idle_deployment.base_url}/ticket/{ticket_id}/status"
    with httpx.stream("GET", url, headers=auth(idle_deployment.base_url), timeout=10) as response:
        lines = response.iter_lines()
        for message in reader.messages(lines):
            assert message.json()["status"] == "queued"
            break
        for line in lines:
            if line.startswith(":"):
                break
    assert "keep-alive" in line


def test_clients_leaving_mid_stream_leave_no_listener_behind(idle_deployment: Deployment) -> None:
    ticket_id = _queued_ticket(idle_deployment)
    url = f"{idle_deployment.base_url}/ticket/{ticket_id}/status"
    for _ in range(20):
        with httpx.stream("GET", url, headers=auth(idle_deployment.base_url), timeout=10) as response:
            next(Reader().messages(response.iter_lines()))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        ready = api_get(idle_deployment.base_url, "/health/ready").json()
        if ready["sse_listeners"] == 0:
            break
        time.sleep(0.1)
    assert ready["sse_listeners"] == 0
    assert "Traceback" not in (idle_deployment.service.workdir / "api.log").read_text()
    assert current_state(idle_deployment.base_url, ticket_id)["status"] == "queued"


def test_accept_json_returns_the_current_state_once(local_deployment: Deployment) -> None:
    ticket_id = _ready_ticket(local_deployment)
    response = api_get(
        local_deployment.base_url, f"/ticket/{ticket_id}/status", headers={"Accept": "application/json"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["status"] == "ready" and body["ticket_id"] == ticket_id
    assert "parts" not in body and "key" not in response.text


def test_unknown_ticket_status_is_404(local_deployment: Deployment) -> None:
    response = api_get(local_deployment.base_url, "/ticket/no-such-ticket/status")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_result_is_409_while_queued(idle_deployment: Deployment) -> None:
    ticket_id = _queued_ticket(idle_deployment)
    response = api_get(idle_deployment.base_url, f"/ticket/{ticket_id}/result")
    assert response.status_code == 409
    assert response.json()["state"]["status"] == "queued"
