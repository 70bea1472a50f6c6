"""Log lines are JSON objects, and a ticket's life can be followed by its id across the API's
and the worker's logs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.client import download_ready, eventually
from tests.conftest import Deployment


def _json_lines(log: Path) -> list[dict[str, Any]]:
    """Every log line of filegate's loggers; each must be one JSON object."""
    lines = []
    for text in log.read_text().splitlines():
        if '"logger": "filegate' in text or text.startswith("{"):
            lines.append(json.loads(text))
    return lines


def test_a_tickets_life_is_followed_by_its_id(local_deployment: Deployment) -> None:
    root = local_deployment.folder()
    local_deployment.sources.put(f"{root}/a.txt", b"logged " * 1000)
    body, _ = download_ready(local_deployment.base_url, [f"{root}/"])
    ticket_id = body["ticket_id"]
    service = local_deployment.service

    def about_ticket(log: Path) -> list[dict[str, Any]]:
        return [
            line
            for line in _json_lines(log)
            if line.get("ticket_id") == ticket_id or ticket_id in line.get("ticket_ids", [])
        ]

    assert eventually(lambda: any(line.get("step") == "ready" for line in about_ticket(service.worker_log)))
    api_lines = about_ticket(service.workdir / "api.log")
    # The line of the POST that made the ticket names its build: the first line of its life.
    created = [line for line in api_lines if line.get("route") == "/download"]
    assert len(created) == 1 and created[0]["status"] == 202 and created[0]["kind"] == "archive"
    # (as the API answered it: a fast worker may have started the build already)
    assert created[0]["ticket_status"] in ("queued", "preparing")
    assert created[0]["files"] == 1 and created[0]["source_bytes"] == len(b"logged " * 1000)
    assert created[0]["principal"].startswith("app:") and created[0]["build_id"]

    build_lines = about_ticket(service.worker_log)
    steps = [line["step"] for line in build_lines if "step" in line]
    assert steps[0] == "started" and steps[-1] == "ready"
    assert {line["build_id"] for line in build_lines} == {created[0]["build_id"]}
    ready = build_lines[-1]
    assert ready["bytes"] > 0 and ready["duration_ms"] >= 0 and ready["level"] == "info"
    for line in api_lines + build_lines:
        assert {"time", "level", "logger", "message"} <= set(line)
