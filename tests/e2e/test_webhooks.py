"""Webhooks against a real receiver on loopback: one signed POST per final state a ticket reaches,
retried after errors, refused for addresses filegate must not reach, counted in /metrics."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.client import api_delete, api_get, eventually, request_download, wait_final
from tests.conftest import Deployment, deployed
from tests.e2e.test_metrics import Moves
from tests.services import service_env
from tests.sources import LocalSources

WEBHOOK_SECRET = "test-webhook-secret-0123456789abcdef"


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        event: dict[str, Any] = json.loads(self.body)
        return event


@dataclass
class Receiver:
    """An HTTP server in the test process: records every POST, answers each path with the
    statuses it was told (then 200)."""

    port: int
    deliveries: list[Delivery] = field(default_factory=list)
    answers: dict[str, list[int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, answers: list[int] | None = None) -> str:
        path = f"/hook/{uuid.uuid4().hex[:12]}"
        self.answers[path] = list(answers or [])
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, url: str) -> list[Delivery]:
        path = url.split(str(self.port), 1)[1]
        with self.lock:
            return [delivery for delivery in self.deliveries if delivery.path == path]

    def types(self, url: str) -> list[str]:
        return [delivery.event["type"] for delivery in self.at(url)]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with receiver.lock:
                receiver.deliveries.append(Delivery(self.path, dict(self.headers.items()), body))
                queued = receiver.answers.get(self.path, [])
                status = queued.pop(0) if queued else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    made = Receiver(0)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(made))
    made.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield made
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def hooked(redis_url: str, workdir: Path) -> Iterator[Deployment]:
    """filegate allowed to post to 127.0.0.1, with a cleanup worker and beat sweeping every second."""
    home = workdir / "webhooks"
    (home / "files").mkdir(parents=True)
    env = service_env(
        f"{redis_url}/37",
        home,
        FILEGATE_WEBHOOK_ALLOWED_HOSTS="127.0.0.1",
        FILEGATE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        FILEGATE_WEBHOOK_RETRY_DELAY="1s",
        FILEGATE_SWEEP_INTERVAL="1s",
    )
    with deployed(home, env, LocalSources(home / "files"), cleanup=True) as running:
        yield running


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The receiver's check exactly as docs/api.md shows it."""
    msg_id = headers["webhook-id"]
    timestamp = headers["webhook-timestamp"]
    if abs(time.time() - int(timestamp)) > 300:
        return False
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256).digest()).decode()
    return any(
        hmac.compare_digest(expected, sig.removeprefix("v1,")) for sig in headers["webhook-signature"].split()
    )


def _create(deployment: Deployment, paths: list[str], url: str, **options: Any) -> str:
    created = request_download(deployment.base_url, paths, callback_url=url, **options)
    assert created.status_code == 202, created.text
    ticket_id: str = created.json()["ticket_id"]
    return ticket_id


def _lowered(delivery: Delivery) -> dict[str, str]:
    return {name.lower(): value for name, value in delivery.headers.items()}


def test_a_ready_ticket_is_posted_once_signed_with_its_result(hooked: Deployment, receiver: Receiver) -> None:
    root = hooked.folder()
    hooked.sources.put(f"{root}/a.txt", b"alpha " * 500)
    hooked.sources.put(f"{root}/b.txt", b"beta " * 500)
    url = receiver.url()
    ticket_id = _create(hooked, [f"{root}/"], url)
    assert wait_final(hooked.base_url, ticket_id)["status"] == "ready"
    assert eventually(lambda: receiver.types(url) == ["ticket.ready"], timeout=30)

    [delivery] = receiver.at(url)
    headers = _lowered(delivery)
    assert verify(WEBHOOK_SECRET, headers, delivery.body)
    assert not verify("another-secret", headers, delivery.body)
    assert headers["content-type"] == "application/json"
    event = delivery.event
    result = api_get(hooked.base_url, f"/ticket/{ticket_id}/result").json()
    assert event["data"]["ticket_id"] == ticket_id and event["data"]["status"] == "ready"
    shown = ("name", "size", "sha256", "url")
    assert [{k: p[k] for k in shown} for p in event["data"]["parts"]] == [
        {k: p[k] for k in shown} for p in result["parts"]
    ]
    assert event["data"]["manifest"]["sha256"] == result["manifest"]["sha256"]

    # Released, it expires: that is told once too, though the sweep that deletes its archive
    # finds it expired again (the archive is gone only after that sweep queued its webhook).
    build_id = hooked.build_id(ticket_id)
    assert api_delete(hooked.base_url, f"/ticket/{ticket_id}").status_code == 200
    assert eventually(lambda: hooked.stored_outputs(build_id) == [], timeout=30)
    assert eventually(lambda: len(receiver.at(url)) == 2, timeout=30)
    assert receiver.types(url) == ["ticket.ready", "ticket.expired"]
    assert _lowered(receiver.at(url)[1])["webhook-id"] != headers["webhook-id"]


def test_failed_and_cancelled_tickets_are_posted_once_each(hooked: Deployment, receiver: Receiver) -> None:
    root = hooked.folder()
    hooked.sources.put(f"{root}/fail/keep.txt", b"keep")
    hooked.sources.put(f"{root}/fail/vanish.txt", b"vanish")
    hooked.sources.put(f"{root}/cancel/a.txt", b"never built")
    failing, cancelling = receiver.url(), receiver.url()
    hooked.service.stop_worker()
    try:
        failed_id = _create(hooked, [f"{root}/fail/"], failing)
        cancelled_id = _create(hooked, [f"{root}/cancel/"], cancelling)
        hooked.sources.delete(f"{root}/fail/vanish.txt")
        assert api_delete(hooked.base_url, f"/ticket/{cancelled_id}").status_code == 200
    finally:
        hooked.service.start_worker()

    assert wait_final(hooked.base_url, failed_id)["status"] == "failed"
    assert eventually(lambda: receiver.types(failing) == ["ticket.failed"], timeout=30)
    assert eventually(lambda: receiver.types(cancelling) == ["ticket.cancelled"], timeout=30)
    [failure] = receiver.at(failing)
    assert f"{root}/fail/vanish.txt" in failure.event["data"]["error"]
    assert verify(WEBHOOK_SECRET, _lowered(failure), failure.body)
    assert receiver.at(cancelling)[0].event["data"]["ticket_id"] == cancelled_id


def test_an_expired_ticket_is_posted_once(hooked: Deployment, receiver: Receiver) -> None:
    root = hooked.folder()
    hooked.sources.put(f"{root}/a.txt", b"short-lived " * 100)
    url = receiver.url()
    ticket_id = _create(hooked, [f"{root}/"], url, expires_in="2s")
    assert wait_final(hooked.base_url, ticket_id)["status"] == "ready"
    build_id = hooked.build_id(ticket_id)

    # Every sweep until the archive is deleted finds the ticket expired: one POST all the same.
    assert eventually(lambda: hooked.stored_outputs(build_id) == [], timeout=30)
    assert eventually(lambda: len(receiver.at(url)) == 2, timeout=30)
    assert receiver.types(url) == ["ticket.ready", "ticket.expired"]
    assert receiver.at(url)[1].event["data"]["status"] == "expired"


def test_a_receiver_failing_twice_gets_three_attempts_and_they_are_counted(
    hooked: Deployment, receiver: Receiver
) -> None:
    moves = Moves(hooked.base_url)
    path = f"{hooked.folder()}/one.txt"
    hooked.sources.put(path, b"one file")
    url = receiver.url(answers=[500, 500])
    ticket_id = _create(hooked, [path], url)
    assert eventually(lambda: len(receiver.at(url)) == 3, timeout=30)

    log = hooked.service.workdir / "cleanup.log"
    line = f"webhook of ticket {ticket_id} (ready) to 127.0.0.1: attempt 3 delivered"
    assert eventually(lambda: line in log.read_text(), timeout=15)
    # That attempt ended its task ("succeeded"): no fourth one is left to come.
    assert eventually(lambda: "succeeded" in _task_lines(log, ticket_id)[-1], timeout=15)
    attempts = receiver.at(url)
    assert len(attempts) == 3
    assert len({_lowered(attempt)["webhook-id"] for attempt in attempts}) == 1
    assert all(verify(WEBHOOK_SECRET, _lowered(attempt), attempt.body) for attempt in attempts)
    assert moves.eventually_by(2, "filegate_webhook_attempts_total", outcome="failed") == 2
    assert moves.eventually_by(1, "filegate_webhook_attempts_total", outcome="delivered") == 1


def _task_lines(log: Path, ticket_id: str) -> list[str]:
    """Celery's lines about the delivery tasks of ``ticket_id`` (received, retry, succeeded)."""
    text = log.read_text()
    task_ids = {
        line.split("[", 1)[1].split("]", 1)[0]
        for line in text.splitlines()
        if "filegate.deliver_webhook[" in line and ticket_id in line
    }
    return [line for line in text.splitlines() if any(task_id in line for task_id in task_ids)] or [""]


def test_a_name_resolving_to_loopback_is_refused_at_delivery(hooked: Deployment, receiver: Receiver) -> None:
    moves = Moves(hooked.base_url)
    path = f"{hooked.folder()}/one.txt"
    hooked.sources.put(path, b"one file")
    # 'localhost' is a name, so the request is taken; its address is loopback, which only
    # 127.0.0.1 written out is allowed: the attempt is refused, and not made again.
    url = f"https://localhost:{receiver.port}/hook/rebound"
    _create(hooked, [path], url)

    assert moves.eventually_by(1, "filegate_webhook_attempts_total", outcome="refused") == 1
    assert receiver.at(url) == []


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://10.0.0.1/", "non-public address"),
        ("https://169.254.169.254/latest/meta-data/", "non-public address"),
        ("https://[::1]/", "non-public address"),
        ("http://hooks.example.com/", "must use https"),
        ("https://user:pw@hooks.example.com/", "user name or password"),
        ("https://hooks.example.com/" + "x" * 3000, "longer than 2048"),
    ],
)
def test_a_callback_url_filegate_must_not_reach_is_refused_naming_the_field(
    local_deployment: Deployment, url: str, reason: str
) -> None:
    root = local_deployment.folder()
    local_deployment.sources.put(f"{root}/one.txt", b"one file")

    refused = request_download(local_deployment.base_url, [f"{root}/one.txt"], callback_url=url)

    assert refused.status_code == 422
    body = refused.json()
    assert body["error"] == "invalid_request" and body["field"] == "callback_url"
    assert reason in body["detail"]
