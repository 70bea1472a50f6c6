"""The services of filegate wired together on a database of their own (see wiring.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.integration.wiring import Services, settings_for, wire

MakeServices = Callable[..., Services]


@pytest.fixture
def services_redis_url(redis_url: str) -> str:
    """The services' database, emptied before each test."""
    url = f"{redis_url}/50"
    with redis.Redis.from_url(url) as client:
        client.flushdb()
    return url


@pytest.fixture
async def make_services(services_redis_url: str, tmp_path: Path) -> AsyncIterator[MakeServices]:
    """Services with settings of the test's choosing (``max_concurrent_builds=1``, ...), on
    the test's Redis database and a store in its tmp_path; closed after the test."""
    made: list[Services] = []

    def make(**overrides: Any) -> Services:
        made.append(wire(settings_for(services_redis_url, tmp_path, **overrides)))
        return made[-1]

    yield make
    for services in made:
        await services.close()


@pytest.fixture
def services(make_services: MakeServices) -> Services:
    """Services with the default test settings: two build slots, a 1 GB space budget."""
    return make_services()
