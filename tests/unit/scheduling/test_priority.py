"""One priority scale, translated to each broker's message priorities."""

from __future__ import annotations

import pytest

from filegate.scheduling.priority import (
    message_priority,
    queue_arguments,
    transport_options,
)
from filegate.state.queue import Priority

REDIS = "redis://127.0.0.1:6379/0"
AMQP = "amqp://guest:guest@127.0.0.1:5672//"


@pytest.mark.parametrize("url", [AMQP, "pyamqp://h//", "AMQPS://h//"])
def test_rabbitmq_runs_the_greater_number_first(url: str) -> None:
    levels = [message_priority(p, url) for p in (Priority.HIGH, Priority.NORMAL, Priority.LOW)]
    assert levels == sorted(levels, reverse=True)
    assert all(0 <= level <= 9 for level in levels)
    assert queue_arguments(url) == {"x-max-priority": 10}
    assert transport_options(url) == {}


@pytest.mark.parametrize("url", [REDIS, "rediss://h:6380/1"])
def test_redis_runs_the_smaller_number_first_over_ten_steps(url: str) -> None:
    levels = [message_priority(p, url) for p in (Priority.HIGH, Priority.NORMAL, Priority.LOW)]
    assert levels == sorted(levels)
    assert levels[0] == 0
    assert queue_arguments(url) is None
    assert transport_options(url) == {"priority_steps": list(range(10))}
