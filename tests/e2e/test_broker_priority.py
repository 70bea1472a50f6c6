"""Builds leave the broker in priority order, on both brokers, though they count in opposite ways.

Twenty slots admit every build at once, so the dispatcher does not order them:
the broker does. The builds wait in the downloads queue while no worker runs;
one worker taking one message at a time then shows the order the broker gives.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.client import request_download, wait_final
from tests.conftest import deployed
from tests.licences import licence_env
from tests.services import service_env
from tests.sources import LocalSources

ORDER = ["low", "normal", "high"] * 3


@pytest.mark.parametrize("broker", ["redis", "amqp"])
def test_the_broker_hands_out_builds_by_priority(
    broker: str, request: pytest.FixtureRequest, redis_url: str, workdir: Path
) -> None:
    # Tickets in database 14 or 15, and with Redis as the broker, its messages in database 0.
    database = 14 if broker == "redis" else 15
    broker_url = request.getfixturevalue("amqp_url") if broker == "amqp" else f"{redis_url}/0"
    home = workdir / f"priority-{broker}"
    (home / "files").mkdir(parents=True)
    env = service_env(
        f"{redis_url}/{database}",
        home,
        FILEGATE_BROKER_URL=broker_url,
        FILEGATE_MAX_CONCURRENT_BUILDS="20",
        # The community licence allows two builds at once: the dispatcher would order them.
        **licence_env(home),
    )
    with deployed(home, env, LocalSources(home / "files"), worker=False) as deployment:
        priority_of: dict[str, str] = {}
        tickets = []
        for number, priority in enumerate(ORDER):
            root = deployment.folder()
            deployment.sources.put(f"{root}/file-{number}.txt", f"content {number}".encode())
            created = request_download(deployment.base_url, [f"{root}/"], priority=priority)
            assert created.status_code == 202, created.text
            ticket_id = created.json()["ticket_id"]
            tickets.append(ticket_id)
            priority_of[deployment.build_id(ticket_id)] = priority

        deployment.service.start_worker()
        for ticket_id in tickets:
            assert wait_final(deployment.base_url, ticket_id)["status"] == "ready"

        started = re.findall(r"build (\S+) started", deployment.service.worker_log.read_text())
        assert sorted(started) == sorted(priority_of)
        assert [priority_of[build_id] for build_id in started] == ["high"] * 3 + ["normal"] * 3 + ["low"] * 3
