"""The queue's ``high | normal | low`` (state/queue.py) in each broker's own message priorities.

The brokers count in opposite directions. On RabbitMQ 9 is the highest
priority, and only a queue declared with ``x-max-priority`` honours it. On the
Redis transport 0 is the highest, and kombu keeps just four buckets unless
``priority_steps`` lists all ten. Nothing outside this module sees a number.
"""

from __future__ import annotations

from typing import Any

from filegate.state.queue import Priority

MAX_PRIORITY = 9
# On the AMQP scale (greater runs first); the Redis transport's is its mirror image.
_AMQP_LEVEL: dict[Priority, int] = {Priority.HIGH: 9, Priority.NORMAL: 5, Priority.LOW: 0}


def is_amqp(broker_url: str) -> bool:
    return broker_url.split("://", 1)[0].lower() in {"amqp", "amqps", "pyamqp", "librabbitmq"}


def message_priority(priority: Priority, broker_url: str) -> int:
    """The Celery ``priority`` for a message of ``priority`` on the broker at ``broker_url``."""
    level = _AMQP_LEVEL[priority]
    return level if is_amqp(broker_url) else MAX_PRIORITY - level


def queue_arguments(broker_url: str) -> dict[str, Any] | None:
    """What a queue needs declared so that the broker orders its messages by priority."""
    # Declaring an existing RabbitMQ queue with other arguments fails (PRECONDITION_FAILED):
    # a queue made without them must be deleted once drained (see docs/operations.md).
    return {"x-max-priority": MAX_PRIORITY + 1} if is_amqp(broker_url) else None


def transport_options(broker_url: str) -> dict[str, Any]:
    """Broker transport options for ten priority levels (the Redis transport only)."""
    return {} if is_amqp(broker_url) else {"priority_steps": list(range(MAX_PRIORITY + 1))}
