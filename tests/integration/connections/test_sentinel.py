"""Redis under Sentinel: filegate's clients find the primary through the sentinels, and after a
failover (the primary killed, its replica promoted) reach the new one without a restart."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery

from filegate.connections import Sentinels, async_redis, close_async_redis, primary_answers, sync_redis
from tests.sentinels import MASTER, SentinelGroup, sentinel_group

DATABASE = 30


@pytest.fixture
def group(tmp_path: Path) -> Iterator[SentinelGroup]:
    with sentinel_group(tmp_path / "sentinel") as running:
        yield running


def _sentinels(group: SentinelGroup) -> Sentinels:
    return Sentinels(tuple(("127.0.0.1", port) for port in group.sentinel_ports), MASTER)


def _eventually(call: object, timeout: float = 30) -> object:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()  # type: ignore[operator]
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_a_client_follows_the_primary_across_a_failover(group: SentinelGroup) -> None:
    client = sync_redis(f"redis://127.0.0.1:1/{DATABASE}", _sentinels(group))  # the URL's host is not used
    client.set("before", "1")
    assert client.connection_pool.get_master_address()[1] == group.primary_port
    assert "primary 'filegate-primary' by the sentinels" in primary_answers(
        f"redis://127.0.0.1:1/{DATABASE}", _sentinels(group), 2
    )

    group.kill_primary()
    promoted = group.wait_for_failover()

    _eventually(lambda: client.set("after", "2"))
    assert client.connection_pool.get_master_address()[1] == promoted
    assert client.get("after") == "2"
    assert client.get("before") == "1"  # replicated before the primary died
    client.close()


async def test_the_async_client_follows_it_too(group: SentinelGroup) -> None:
    client = async_redis(f"redis://127.0.0.1:1/{DATABASE}", max_connections=10, sentinels=_sentinels(group))
    try:
        await client.set("k", "v")
        group.kill_primary()
        await asyncio.to_thread(group.wait_for_failover)
        deadline = time.monotonic() + 30
        while True:
            try:
                await client.set("k", "w")
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
        assert await client.get("k") == "w"
    finally:
        await close_async_redis(client)


def test_celery_reaches_the_broker_and_result_backend_through_the_sentinels(group: SentinelGroup) -> None:
    url = _sentinels(group).celery_url(f"redis://127.0.0.1:1/{DATABASE}")
    assert url.count("sentinel://") == 3 and url.endswith(f"/{DATABASE}")
    app = Celery("sentinel-test", broker=url, backend=url)
    app.conf.broker_transport_options = {"master_name": MASTER}
    app.conf.result_backend_transport_options = {"master_name": MASTER}
    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=2)
        with connection.SimpleQueue("sentinel-check") as queue:
            queue.put({"hello": "primary"})
            assert queue.get(timeout=5).payload == {"hello": "primary"}
    app.backend.set("celery-key", "stored")
    assert app.backend.get("celery-key") in (b"stored", "stored")
