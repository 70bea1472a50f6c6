"""Builds put straight into the dispatcher's queue, as the claim script leaves them."""

from __future__ import annotations

import redis

from filegate.state.keys import QUEUE
from filegate.state.keys import QUEUE_BY_SIZE as BY_SIZE
from filegate.state.queue import by_size_member


def queue_build(client: redis.Redis, build_id: str, score: int, estimate: int, queued_at_ms: int = 0) -> None:
    """A waiting build: its hash, its place by score and its place by size."""
    client.hset(f"filegate:build:{build_id}", mapping={"estimate": estimate, "queued_at": queued_at_ms})
    client.zadd(QUEUE, {build_id: score})
    client.zadd(BY_SIZE, {by_size_member(score, build_id): -estimate})
