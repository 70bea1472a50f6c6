"""GET /metrics: Prometheus text, counters that move by what happened, the scrape's protection;
and one JSON log line per request."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.client import (
    api_delete,
    api_get,
    auth,
    download_ready,
    eventually,
    request_download,
    wait_final,
)
from tests.conftest import Deployment, deployed
from tests.services import service_env
from tests.sources import LocalSources
from tests.sse import read_all

METRICS_TOKEN = "test-metrics-token-0123456789abcdef"
_REQUESTS = "filegate_http_requests_total"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def metered(redis_url: str, workdir: Path) -> Iterator[Deployment]:
    """filegate with a build worker and a cleanup worker, alone on its Redis database: the
    cluster-wide counters move only by what these tests do."""
    home = workdir / "metrics"
    (home / "files").mkdir(parents=True)
    env = service_env(f"{redis_url}/40", home)
    with deployed(home, env, LocalSources(home / "files"), cleanup=True) as running:
        yield running


@pytest.fixture(scope="module")
def guarded(redis_url: str, workdir: Path) -> Iterator[Deployment]:
    """filegate whose /metrics needs FILEGATE_METRICS_TOKEN."""
    home = workdir / "metrics-token"
    (home / "files").mkdir(parents=True)
    env = service_env(f"{redis_url}/41", home, FILEGATE_METRICS_TOKEN=METRICS_TOKEN)
    with deployed(home, env, LocalSources(home / "files"), worker=False) as running:
        yield running


def scrape(base_url: str, headers: dict[str, str] | None = None) -> Samples:
    response = httpx.get(f"{base_url}/metrics", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


class Moves:
    """Metric values read before something happens, compared with a later scrape."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.before = scrape(base_url)

    def by(self, name: str, **labels: str) -> float:
        return value(scrape(self.base_url), name, **labels) - value(self.before, name, **labels)

    def eventually_by(self, expected: float, name: str, **labels: str) -> float:
        """The change once it reached ``expected`` (a worker or the request's end records it
        just after the client has its answer), or the last change seen."""
        eventually(lambda: self.by(name, **labels) == expected, timeout=15)
        return self.by(name, **labels)


def test_the_page_parses_and_shows_the_cluster_figures(metered: Deployment) -> None:
    samples = scrape(metered.base_url)
    names = {name for name, _ in samples}
    assert value(samples, "filegate_cluster_metrics_up") == 1
    for expected in (
        "filegate_queue_length",
        "filegate_builds_running",
        "filegate_space_used_bytes",
        "filegate_space_held_bytes",
        "filegate_tickets_total",
        "filegate_builds_total",
        "filegate_cache_hits_total",
        "filegate_build_bytes_total",
        "filegate_deletes_total",
        "filegate_build_duration_seconds_count",
        "filegate_queue_wait_seconds_bucket",
        "filegate_http_requests_total",
        "filegate_http_request_duration_seconds_bucket",
        "process_resident_memory_bytes",
    ):
        assert expected in names, expected
    # FILEGATE_SPACE_BUDGET is auto here: no budget to show.
    assert "filegate_space_budget_bytes" not in names


def test_a_build_and_its_reuse_move_the_counters(metered: Deployment) -> None:
    root = metered.folder()
    metered.sources.put(f"{root}/a.txt", b"metered " * 5000)
    metered.sources.put(f"{root}/b.txt", b"counted " * 3000)
    moves = Moves(metered.base_url)

    body, blobs = download_ready(metered.base_url, [f"{root}/"])
    stored = sum(part["size"] for part in body["parts"]) + body["manifest"]["size"]
    assert moves.by("filegate_builds_total", outcome="ready") == 1
    assert moves.by("filegate_tickets_total", status="created") == 1
    assert moves.by("filegate_tickets_total", status="ready") == 1
    assert moves.by("filegate_cache_hits_total") == 0
    assert moves.eventually_by(stored, "filegate_build_bytes_total") == stored
    assert moves.eventually_by(1, "filegate_build_duration_seconds_count", outcome="ready") == 1
    assert moves.eventually_by(1, "filegate_queue_wait_seconds_count") == 1
    download = {"method": "POST", "route": "/download", "status": "202"}
    assert moves.eventually_by(1, "filegate_http_requests_total", **download) == 1
    served = sum(len(blob) for blob in blobs)
    assert moves.eventually_by(served, "filegate_served_bytes_total", link="archive") == served
    assert moves.eventually_by(stored, "filegate_space_held_bytes") == stored
    routes = {dict(labels)["route"] for name, labels in scrape(metered.base_url) if name == _REQUESTS}
    assert {"/download", "/ticket/{ticket_id}/status", "/files/{key:path}", "/health"} <= routes
    assert not any(body["ticket_id"] in route for route in routes)

    again = request_download(metered.base_url, [f"{root}/"])
    assert again.status_code == 202 and again.json()["status"] == "ready"
    assert moves.by("filegate_cache_hits_total") == 1
    assert moves.by("filegate_tickets_total", status="created") == 2
    assert moves.by("filegate_tickets_total", status="ready") == 2
    assert moves.by("filegate_builds_total", outcome="ready") == 1


def test_one_file_linked_directly_is_counted_apart(metered: Deployment) -> None:
    root = metered.folder()
    metered.sources.put(f"{root}/single.txt", b"direct")
    moves = Moves(metered.base_url)
    created = request_download(metered.base_url, [f"{root}/single.txt"])
    assert created.status_code == 202 and created.json()["status"] == "ready"
    assert moves.by("filegate_direct_links_total") == 1
    assert moves.by("filegate_tickets_total", status="ready") == 1
    assert moves.by("filegate_cache_hits_total") == 0
    assert moves.by("filegate_builds_total", outcome="ready") == 0


def test_a_cancelled_ticket_is_counted_once(metered: Deployment) -> None:
    root = metered.folder()
    metered.sources.put(f"{root}/a.txt", b"never built")
    moves = Moves(metered.base_url)
    metered.service.stop_worker()
    try:
        ticket_id = request_download(metered.base_url, [f"{root}/"]).json()["ticket_id"]
        assert api_delete(metered.base_url, f"/ticket/{ticket_id}").status_code == 200
        assert api_delete(metered.base_url, f"/ticket/{ticket_id}").status_code == 409
    finally:
        metered.service.start_worker()
    assert moves.by("filegate_tickets_total", status="cancelled") == 1
    assert moves.by("filegate_builds_total", outcome="cancelled") == 1
    # The worker finds it cancelled and gives its slot back.
    assert moves.eventually_by(0, "filegate_builds_running") == 0


def test_a_released_archive_is_deleted_and_counted(metered: Deployment) -> None:
    root = metered.folder()
    metered.sources.put(f"{root}/a.txt", b"released " * 2000)
    body, _ = download_ready(metered.base_url, [f"{root}/"], archive="zip")
    stored = sum(part["size"] for part in body["parts"]) + body["manifest"]["size"]
    moves = Moves(metered.base_url)
    assert api_delete(metered.base_url, f"/ticket/{body['ticket_id']}").status_code == 200
    assert moves.by("filegate_tickets_total", status="expired") == 1
    assert moves.eventually_by(1, "filegate_deletes_total") == 1
    assert moves.by("filegate_deleted_bytes_total") == stored
    assert moves.by("filegate_space_held_bytes") == -stored
    # The sweep that deleted it marked no ticket expired a second time.
    assert moves.by("filegate_tickets_total", status="expired") == 1


def test_without_a_token_only_loopback_may_scrape(metered: Deployment) -> None:
    assert httpx.get(f"{metered.base_url}/metrics", timeout=10).status_code == 200
    # uvicorn takes the client's address from X-Forwarded-For when a proxy on loopback sends it.
    forwarded = httpx.get(
        f"{metered.base_url}/metrics", headers={"X-Forwarded-For": "203.0.113.7"}, timeout=10
    )
    assert forwarded.status_code == 403
    assert forwarded.json()["error"] == "forbidden"


def test_with_a_token_a_scrape_needs_it(guarded: Deployment) -> None:
    url = f"{guarded.base_url}/metrics"
    missing = httpx.get(url, timeout=10)
    assert missing.status_code == 401 and missing.json()["error"] == "unauthorized"
    assert missing.headers["www-authenticate"].startswith("Bearer")
    wrong = httpx.get(url, headers={"Authorization": f"Bearer {METRICS_TOKEN}x"}, timeout=10)
    assert wrong.status_code == 401
    # An API key is not the metrics token.
    assert api_get(guarded.base_url, "/metrics").status_code == 401
    right = scrape(guarded.base_url, {"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert value(right, "filegate_cluster_metrics_up") == 1
    # From anywhere, with the token.
    forwarded = {"Authorization": f"Bearer {METRICS_TOKEN}", "X-Forwarded-For": "203.0.113.7"}
    assert httpx.get(url, headers=forwarded, timeout=10).status_code == 200


def _request_lines(log: Path) -> list[dict[str, Any]]:
    """The API's request lines; every line of filegate's must be one JSON object."""
    lines = []
    for text in log.read_text().splitlines():
        if text.startswith("{") or '"logger": "filegate' in text:
            line = json.loads(text)
            assert isinstance(line, dict)
            if line["logger"] == "filegate.http":
                lines.append(line)
    return lines


def test_each_request_leaves_one_json_line(metered: Deployment) -> None:
    root = metered.folder()
    metered.sources.put(f"{root}/a.txt", b"logged " * 1000)
    created = request_download(metered.base_url, [f"{root}/"], archive="zip")
    ticket_id = created.json()["ticket_id"]
    wait_final(metered.base_url, ticket_id)
    read_all(metered.base_url, ticket_id)
    api_get(metered.base_url, f"/ticket/{ticket_id}/result")
    httpx.get(f"{metered.base_url}/health", timeout=10)
    log = metered.service.workdir / "api.log"

    def about_ticket() -> list[dict[str, Any]]:
        return [line for line in _request_lines(log) if line.get("ticket_id") == ticket_id]

    # A line is written when its answer has ended, just after the client has it.
    assert eventually(lambda: any(line["route"] == "/ticket/{ticket_id}/result" for line in about_ticket()))
    lines = about_ticket()
    by_route = {(line["method"], line["route"]): line for line in lines}
    posted = by_route[("POST", "/download")]
    assert posted["status"] == 202 and posted["message"] == "POST /download 202"
    stream = [
        line
        for line in lines
        if line["route"] == "/ticket/{ticket_id}/status" and line["bytes"] > 0 and line["status"] == 200
    ]
    assert stream, lines
    for line in lines:
        assert line["level"] == "info" and line["client"] == "127.0.0.1"
        assert line["principal"].startswith("app:")
        assert line["path"].startswith("/download") or ticket_id in line["path"]
        assert isinstance(line["duration_ms"], float | int) and line["duration_ms"] >= 0
    # Load balancers' polls and scrapes stay out of the log at info.
    assert not any(line["route"] in ("/health", "/metrics") for line in _request_lines(log))
    text = log.read_text()
    assert metered.service.api_key and metered.service.api_key not in text
    assert "sig=" not in text


def test_the_line_of_a_streamed_answer_measures_the_whole_stream(metered: Deployment) -> None:
    root = metered.folder()
    metered.sources.put(f"{root}/a.txt", b"streamed")
    metered.service.stop_worker()
    try:
        ticket_id = request_download(metered.base_url, [f"{root}/"], archive="zip").json()["ticket_id"]
        started = time.monotonic()
        with httpx.Client(timeout=30) as client:
            url = f"{metered.base_url}/ticket/{ticket_id}/status"
            with client.stream("GET", url, headers=auth(metered.base_url)) as stream:
                assert stream.status_code == 200
                time.sleep(1.0)
                assert api_delete(metered.base_url, f"/ticket/{ticket_id}").status_code == 200
                for _ in stream.iter_lines():
                    pass
        elapsed_ms = (time.monotonic() - started) * 1000
    finally:
        metered.service.start_worker()
    log = metered.service.workdir / "api.log"

    def stream_lines() -> list[dict[str, Any]]:
        return [
            line
            for line in _request_lines(log)
            if line.get("ticket_id") == ticket_id and line["route"] == "/ticket/{ticket_id}/status"
        ]

    assert eventually(lambda: len(stream_lines()) == 1)
    line = stream_lines()[0]
    assert 1000 <= line["duration_ms"] <= elapsed_ms + 50
    assert line["bytes"] > 0
