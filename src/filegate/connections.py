"""Redis clients built the same way everywhere: decoded text, retried on dropped connections."""

from __future__ import annotations

import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, TimeoutError
from redis.retry import Retry

# A restarted Redis leaves every pooled connection closed: the first command
# on each would fail without a retry. Three tries over about a second.
_RETRIES = 3
_BACKOFF_CAP_SECONDS = 0.5


def sync_redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        retry=Retry(ExponentialBackoff(cap=_BACKOFF_CAP_SECONDS), _RETRIES),
        retry_on_error=[ConnectionError, TimeoutError],
        health_check_interval=30,
    )


def async_redis(url: str, socket_timeout: float | None = 10, max_connections: int = 200) -> aioredis.Redis:
    """A client whose pool makes a request wait for a free connection (up to 10 s) rather than
    fail: a burst (browsers reconnecting together after a deploy) is slowed, never refused."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=10,
        decode_responses=True,
        socket_timeout=socket_timeout,
        retry=AsyncRetry(ExponentialBackoff(cap=_BACKOFF_CAP_SECONDS), _RETRIES),
        retry_on_error=[ConnectionError, TimeoutError],
        health_check_interval=30,
    )
    return aioredis.Redis.from_pool(pool)
