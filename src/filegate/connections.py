"""Redis clients built the same way everywhere: decoded text, retried on dropped connections,
and found through Redis Sentinel when sentinels are configured."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import redis
import redis.asyncio as aioredis
import redis.asyncio.sentinel as aiosentinel
import redis.sentinel
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.connection import parse_url
from redis.exceptions import ConnectionError, TimeoutError
from redis.retry import Retry

from filegate.settings import Settings

# A restarted Redis leaves every pooled connection closed: the first command
# on each would fail without a retry. Three tries over about a second.
_RETRIES = 3
_BACKOFF_CAP_SECONDS = 0.5
# How long a sentinel may take to answer "who is the primary now?".
SENTINEL_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class Sentinels:
    """Where to ask for Redis's primary: the sentinels, and the name they know it by."""

    addresses: tuple[tuple[str, int], ...]
    master: str

    def _sentinel_options(self) -> dict[str, Any]:
        return {
            "socket_timeout": SENTINEL_TIMEOUT_SECONDS,
            "socket_connect_timeout": SENTINEL_TIMEOUT_SECONDS,
        }

    def celery_url(self, redis_url: str) -> str:
        """The URL of kombu's and Celery's sentinel:// transport: every sentinel, each with the
        database and password of ``redis_url`` (used for the primary, not for the sentinels)."""
        parts = urlsplit(redis_url)
        password = f":{quote(parts.password, safe='')}@" if parts.password else ""
        database = parts.path or "/0"
        return ";".join(f"sentinel://{password}{host}:{port}{database}" for host, port in self.addresses)


def sentinels_of(settings: Settings) -> Sentinels | None:
    """The sentinels the settings name, or None when Redis is at FILEGATE_REDIS_URL itself."""
    if not settings.redis_sentinels:
        return None
    return Sentinels(settings.redis_sentinels, settings.redis_sentinel_master)


def _database_and_credentials(url: str) -> dict[str, Any]:
    """What of ``url`` still counts under Sentinel: the database and the credentials."""
    options = parse_url(url)
    return {key: options[key] for key in ("db", "username", "password") if options.get(key) is not None}


def _retried() -> dict[str, Any]:
    return {
        "retry": Retry(ExponentialBackoff(cap=_BACKOFF_CAP_SECONDS), _RETRIES),
        "retry_on_error": [ConnectionError, TimeoutError],
    }


def sync_redis(url: str, sentinels: Sentinels | None = None) -> redis.Redis:
    options: dict[str, Any] = {"decode_responses": True, "health_check_interval": 30, **_retried()}
    if sentinels is None:
        return redis.Redis.from_url(url, **options)
    finder = redis.sentinel.Sentinel(list(sentinels.addresses), sentinel_kwargs=sentinels._sentinel_options())
    client: redis.Redis = finder.master_for(
        sentinels.master, redis_class=redis.Redis, **_database_and_credentials(url), **options
    )
    return client


def async_redis(
    url: str,
    socket_timeout: float | None = 10,
    max_connections: int = 200,
    sentinels: Sentinels | None = None,
) -> aioredis.Redis:
    """A client whose pool makes a request wait for a free connection (up to 10 s) rather than
    fail: a burst (browsers reconnecting together after a deploy) is slowed, never refused.
    Under Sentinel the pool asks the sentinels for the primary on each new connection, so after
    a failover the next connection reaches the promoted one (redis-py has no blocking pool of
    that kind: past ``max_connections`` a request fails instead of waiting)."""
    options: dict[str, Any] = {
        "decode_responses": True,
        "socket_timeout": socket_timeout,
        "health_check_interval": 30,
        "retry": AsyncRetry(ExponentialBackoff(cap=_BACKOFF_CAP_SECONDS), _RETRIES),
        "retry_on_error": [ConnectionError, TimeoutError],
    }
    if sentinels is None:
        pool = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=max_connections, timeout=10, **options
        )
        return aioredis.Redis.from_pool(pool)
    finder = aiosentinel.Sentinel(list(sentinels.addresses), sentinel_kwargs=sentinels._sentinel_options())
    client: aioredis.Redis = finder.master_for(
        sentinels.master,
        redis_class=aioredis.Redis,
        max_connections=max_connections,
        **_database_and_credentials(url),
        **options,
    )
    return client


async def close_async_redis(client: aioredis.Redis) -> None:
    """Close ``client``, and under Sentinel the connections it kept to the sentinels."""
    manager = getattr(client.connection_pool, "sentinel_manager", None)
    await client.aclose()
    for sentinel in getattr(manager, "sentinels", []):
        await sentinel.aclose()


def primary_answers(url: str, sentinels: Sentinels | None, timeout: float) -> str:
    """Ping Redis's primary once; says where it answered. Raises when it does not."""
    if sentinels is None:
        client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        where = url.rsplit("@", 1)[-1]
    else:
        finder = redis.sentinel.Sentinel(
            list(sentinels.addresses), sentinel_kwargs=sentinels._sentinel_options()
        )
        host, port = finder.discover_master(sentinels.master)
        client = finder.master_for(
            sentinels.master,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            **_database_and_credentials(url),
        )
        where = f"{host}:{port}, primary {sentinels.master!r} by the sentinels"
    try:
        client.ping()
    finally:
        client.close()
    return f"answers at {where}"
