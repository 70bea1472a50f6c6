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
import redis

from tests.client import api_get, auth, current_state, download_ready, eventually, request_download
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


@pytest.fixture(scope="module")
def live_deployment(redis_url: str, workdir: Path) -> Iterator[Deployment]:
    """An API whose build worker a test starts only once its listeners follow the ticket live,
    so that the build's events can reach them live only. Keep-alives every second."""
    home = workdir / "live"
    (home / "files").mkdir(parents=True)
    env = service_env(f"{redis_url}/49", home, FILEGATE_SSE_KEEPALIVE="1")
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
    assert {message.event for message in messages} <= {"status", "progress", "part_ready"}
    ready_parts = [message.json() for message in messages if message.event == "part_ready"]
    assert [(part["part"], part["parts_total"]) for part in ready_parts] == [(1, 1)]
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


def test_a_reconnect_after_the_final_event_is_204_and_the_stream_sets_its_retry_once(
    local_deployment: Deployment,
) -> None:
    """EventSource reconnects whenever a stream ends; a 204 is what makes it stop."""
    ticket_id = _ready_ticket(local_deployment)
    url = f"{local_deployment.base_url}/ticket/{ticket_id}/status"
    with httpx.stream("GET", url, headers=auth(local_deployment.base_url), timeout=30) as response:
        body = response.read().decode()
    assert body.startswith("retry: 3000\n\n") and body.count("retry:") == 1
    everything = read_all(local_deployment.base_url, ticket_id)
    assert everything[-1].json()["status"] == "ready"

    final = {"Last-Event-ID": everything[-1].id or ""}
    ended = httpx.get(url, headers=auth(local_deployment.base_url, final), timeout=10)
    assert ended.status_code == 204 and ended.content == b""
    # One event short of the end, the stream replays that event and ends.
    before = {"Last-Event-ID": everything[-2].id or ""}
    assert [m.id for m in read_all(local_deployment.base_url, ticket_id, before)] == [everything[-1].id]


def test_a_reconnect_to_a_ticket_still_under_way_follows_it(idle_deployment: Deployment) -> None:
    ticket_id = _queued_ticket(idle_deployment)
    last = {"Last-Event-ID": _last_event_id(idle_deployment, ticket_id)}
    url = f"{idle_deployment.base_url}/ticket/{ticket_id}/status"
    with httpx.stream("GET", url, headers=auth(idle_deployment.base_url, last), timeout=10) as response:
        assert response.status_code == 200
        assert next(response.iter_lines()) == "retry: 3000"


def _last_event_id(deployment: Deployment, ticket_id: str) -> str:
    """The id of the ticket's newest event, from Redis."""
    client = redis.Redis.from_url(deployment.service.env["FILEGATE_REDIS_URL"], decode_responses=True)
    [(entry_id, _)] = client.xrevrange(f"filegate:ticket:{ticket_id}:events", count=1)
    return str(entry_id)


def _sse_listeners(deployment: Deployment) -> int:
    """Streams the API's event hub delivers new events to (each subscribes once its replay is done)."""
    return int(api_get(deployment.base_url, "/health/ready").json()["sse_listeners"])


class _Listener:
    """A client following a ticket's stream in a thread; ``caught_up`` is set once it has read
    the event ``last_id``, the newest there was before the test made anything happen."""

    def __init__(self, deployment: Deployment, ticket_id: str, last_id: str) -> None:
        self.messages: list[Message] = []
        self.caught_up = threading.Event()
        self._base_url = deployment.base_url
        self._url = f"{deployment.base_url}/ticket/{ticket_id}/status"
        self._last_id = last_id
        self.thread = threading.Thread(target=self._listen, daemon=True)
        self.thread.start()

    def _listen(self) -> None:
        with httpx.stream("GET", self._url, headers=auth(self._base_url), timeout=60) as response:
            for message in Reader().messages(response.iter_lines()):
                self.messages.append(message)
                if message.id == self._last_id:
                    self.caught_up.set()

    def replayed(self) -> list[Message]:
        """The messages up to ``last_id``: what existed before the listener connected."""
        ids = [message.id for message in self.messages]
        return self.messages[: ids.index(self._last_id) + 1]

    def live(self) -> list[Message]:
        """The messages after ``last_id``: sent while the listener was subscribed."""
        return self.messages[len(self.replayed()) :]


def _listen_then_build(deployment: Deployment, ticket_id: str, count: int) -> list[_Listener]:
    """``count`` listeners of a queued ticket, each caught up with its replay and subscribed to
    new events before the worker starts; returns them once their streams have ended."""
    last_id = _last_event_id(deployment, ticket_id)
    assert eventually(lambda: _sse_listeners(deployment) == 0, timeout=10), "listeners of earlier tests"
    listeners = [_Listener(deployment, ticket_id, last_id) for _ in range(count)]
    assert all(listener.caught_up.wait(10) for listener in listeners), "the replay did not arrive"
    # Reading the replay is not yet being subscribed: the server subscribes after it.
    assert eventually(lambda: _sse_listeners(deployment) == count, timeout=10)
    assert _last_event_id(deployment, ticket_id) == last_id
    assert current_state(deployment.base_url, ticket_id)["status"] == "queued"
    deployment.service.start_worker()
    try:
        deadline = time.monotonic() + 30
        for listener in listeners:
            listener.thread.join(timeout=max(0.0, deadline - time.monotonic()))
        assert not any(listener.thread.is_alive() for listener in listeners), "a stream did not end"
    finally:
        deployment.service.stop_worker()
    return listeners


def _statuses(messages: list[Message]) -> list[str]:
    return [message.json()["status"] for message in messages if message.event == "status"]


def test_live_events_arrive_while_the_build_runs(live_deployment: Deployment) -> None:
    ticket_id = _queued_ticket(live_deployment)

    [listener] = _listen_then_build(live_deployment, ticket_id, 1)

    assert _statuses(listener.replayed()) == ["queued"]
    assert _statuses(listener.live()) == ["preparing", "ready"]
    assert any(message.event == "progress" for message in listener.live())
    everything = read_all(live_deployment.base_url, ticket_id)
    assert [message.id for message in listener.messages] == [message.id for message in everything]


def test_many_listeners_of_one_ticket_all_get_every_event(live_deployment: Deployment) -> None:
    ticket_id = _queued_ticket(live_deployment)

    listeners = _listen_then_build(live_deployment, ticket_id, 30)

    expected = [message.id for message in read_all(live_deployment.base_url, ticket_id)]
    for listener in listeners:
        assert [message.id for message in listener.messages] == expected
        assert _statuses(listener.live()) == ["preparing", "ready"]


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
