"""The same download with RabbitMQ as the Celery broker (the result backend stays Redis)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client import download_ready
from tests.conftest import Deployment, deployed
from tests.services import service_env
from tests.sources import LocalSources


@pytest.fixture(scope="module")
def rabbit_deployment(amqp_url: str, redis_url: str, workdir: Path) -> Iterator[Deployment]:
    home = workdir / "rabbit"
    (home / "files").mkdir(parents=True)
    env = service_env(f"{redis_url}/5", home, FILEGATE_BROKER_URL=amqp_url)
    with deployed(home, env, LocalSources(home / "files")) as running:
        yield running


def test_a_download_is_built_through_rabbitmq(rabbit_deployment: Deployment) -> None:
    root = rabbit_deployment.folder()
    rabbit_deployment.sources.put(f"{root}/hello.txt", b"hello over amqp")

    body, [blob] = download_ready(rabbit_deployment.base_url, [f"{root}/"])

    assert body["status"] == "ready"
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        assert archive.read(f"{root}/hello.txt") == b"hello over amqp"
    assert "amqp://" in (rabbit_deployment.service.workdir / "worker.log").read_text()
