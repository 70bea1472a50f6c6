"""The Python client against a running filegate: downloads, events resumed, parts resumed."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

import pytest

from filegate.client import ApiError, Client, ConnectionFailed, TicketNotReady
from filegate.client.events import Backoff
from tests.conftest import Deployment
from tests.proxy import cutting_proxy
from tests.readers import files_in_parts
from tests.sse import read_all

QUICK = Backoff(first_seconds=0.05, max_seconds=0.2, attempts=3)


def _client(deployment: Deployment, server: str | None = None) -> Client:
    return Client(server or deployment.base_url, deployment.service.api_key, backoff=QUICK)


def _sources(deployment: Deployment, count: int = 3, size: int = 3000) -> tuple[str, dict[str, bytes]]:
    root = deployment.folder()
    files = {f"{root}/file-{number}.bin": os.urandom(size) for number in range(count)}
    for path, data in files.items():
        deployment.sources.put(path, data)
    return root, files


def test_download_saves_verified_parts_that_unzip_to_the_sources(
    deployment: Deployment, tmp_path: Path
) -> None:
    root, files = _sources(deployment)
    with _client(deployment) as client:
        saved = client.download([f"{root}/"], tmp_path, split="4KB", compression="store")

    assert len(saved) >= 2
    for item in saved:
        assert hashlib.sha256(item.path.read_bytes()).hexdigest() == item.part.sha256
    assert files_in_parts([item.path for item in saved]) == files


def test_errors_carry_the_servers_body(local_deployment: Deployment) -> None:
    root = local_deployment.folder()
    with _client(local_deployment) as client, pytest.raises(ApiError) as raised:
        client.create_download([f"{root}/missing.txt", "../etc/passwd"])
    assert raised.value.status_code == 422
    assert raised.value.error == "invalid_request"
    assert raised.value.field == "paths[1]"

    with _client(local_deployment) as client, pytest.raises(ApiError) as raised:
        client.create_download([f"{root}/missing.txt"])
    assert raised.value.status_code == 404
    assert raised.value.paths == [f"{root}/missing.txt"]

    local_deployment.sources.put(f"{root}/there.txt", b"there")
    with _client(local_deployment) as client, pytest.raises(ApiError) as raised:
        client.create_download([f"{root}/there.txt"], callback_url="https://169.254.169.254/hook")
    assert (raised.value.status_code, raised.value.field) == (422, "callback_url")

    with _client(local_deployment) as client, pytest.raises(ApiError) as raised:
        client.create_download([f"{root}/there.txt"], priority="urgent")
    assert raised.value.errors and raised.value.errors[0]["field"] == "priority"


def test_an_unreachable_server_raises_connection_failed(tmp_path: Path) -> None:
    with cutting_proxy("http://127.0.0.1:9", None) as proxy:
        server = proxy.url
    with Client(server, "fgk_none") as client, pytest.raises(ConnectionFailed):
        client.state("anything")


def test_events_resume_after_the_connection_drops(local_deployment: Deployment) -> None:
    root, _ = _sources(local_deployment)
    with _client(local_deployment) as client:
        ticket = client.create_download([f"{root}/"], split="4KB", compression="store")
        assert client.wait(ticket.ticket_id).status == "ready"
    expected = [
        (message.id, message.event, message.json())
        for message in read_all(local_deployment.base_url, ticket.ticket_id)
    ]

    with (
        cutting_proxy(local_deployment.base_url, cut_after_bytes=400) as proxy,
        _client(local_deployment, proxy.url) as client,
    ):
        events = list(client.events(ticket.ticket_id))

    assert proxy.cuts == 1 and len(proxy.requests) >= 2
    assert b"last-event-id:" in proxy.requests[1].lower()
    assert [(event.id, event.name, event.data) for event in events] == expected


def test_a_reconnect_after_the_final_event_ends_quietly(local_deployment: Deployment) -> None:
    root, _ = _sources(local_deployment, count=1)
    with _client(local_deployment) as client:
        ticket = client.create_download([f"{root}/"], archive="zip")
        last = list(client.events(ticket.ticket_id))[-1]
        assert last.status == "ready"
        assert list(client.events(ticket.ticket_id, last_event_id=last.id)) == []


def test_a_part_download_resumes_with_range_after_the_connection_drops(
    local_deployment: Deployment, tmp_path: Path
) -> None:
    root, files = _sources(local_deployment, count=1, size=300_000)
    with _client(local_deployment) as client:
        ticket = client.create_download([f"{root}/"], compression="store")
        client.wait_ready(ticket.ticket_id)
        part = client.result(ticket.ticket_id).parts[0]
        public = part.url.split("/files/", 1)[0]
        with cutting_proxy(public, cut_after_bytes=part.size // 2) as proxy:
            saved = client.save_part(
                dataclasses.replace(part, url=part.url.replace(public, proxy.url)), tmp_path
            )

    assert proxy.cuts == 1 and len(proxy.requests) == 2
    assert b"range: bytes=" in proxy.requests[1].lower()
    assert hashlib.sha256(saved.path.read_bytes()).hexdigest() == part.sha256
    assert files_in_parts([saved.path]) == files
    assert not (tmp_path / f"{part.name}.part").exists()


def test_wait_ready_raises_with_the_reason_of_a_cancelled_ticket(local_deployment: Deployment) -> None:
    root, _ = _sources(local_deployment, count=1)
    local_deployment.service.stop_worker()
    try:
        with _client(local_deployment) as client:
            ticket = client.create_download([f"{root}/"], archive="zip")
            assert client.cancel(ticket.ticket_id).status == "cancelled"
            with pytest.raises(TicketNotReady) as raised:
                client.wait_ready(ticket.ticket_id)
    finally:
        local_deployment.service.start_worker()
    assert raised.value.status == "cancelled"


def test_following_a_released_ticket_raises_gone(local_deployment: Deployment) -> None:
    root, _ = _sources(local_deployment, count=1)
    with _client(local_deployment) as client:
        ticket = client.create_download([f"{root}/"], archive="zip")
        client.wait_ready(ticket.ticket_id)
        assert client.cancel(ticket.ticket_id).status == "expired"
        with pytest.raises(ApiError) as raised:
            client.wait(ticket.ticket_id)

    assert (raised.value.status_code, raised.value.error) == (410, "gone")
    assert raised.value.body["ticket_id"] == ticket.ticket_id
