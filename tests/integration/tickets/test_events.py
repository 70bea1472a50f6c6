"""The event hub against the real Redis: one read fans out to many, a listener that falls too
far behind reads what it missed from Redis without loss or repeat, and a quiet stream gets its
keep-alives."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable

import redis.asyncio as aioredis

from filegate.connections import async_redis
from filegate.tickets.events import MAX_PENDING, RETRY, EventHub, follow_stream
from filegate.tickets.store import Event, _decode_event

KEY = "filegate:ticket:hub-test:events"


async def _read_after(client: aioredis.Redis, seen: str) -> list[Event]:
    rows = await client.xrange(KEY, min=f"({seen}", count=500)
    return [_decode_event(entry_id, fields) for entry_id, fields in rows]


async def _always() -> bool:
    return True


async def _text(frames: AsyncGenerator[bytes]) -> AsyncIterator[str]:
    async with contextlib.aclosing(frames):
        assert await anext(frames) == RETRY  # once, first, before any event
        async for frame in frames:
            yield frame.decode()


def _follow(
    hub: EventHub, client: aioredis.Redis, seen: str, keepalive_seconds: float = 30
) -> AsyncIterator[str]:
    async def read_after(cursor: str) -> list[Event]:
        return await _read_after(client, cursor)

    return _text(follow_stream(hub, KEY, read_after, seen, keepalive_seconds, _always, ends_at_final=False))


def _ids(frames: list[str]) -> list[str]:
    return [frame.split("\n", 1)[0].removeprefix("id: ") for frame in frames]


@contextlib.asynccontextmanager
async def _running_hub(redis_url: str) -> AsyncIterator[tuple[aioredis.Redis, EventHub]]:
    """A hub on a stream holding one event, with a client for the stream; closed on leaving."""
    client = async_redis(f"{redis_url}/47")
    hub_client = async_redis(f"{redis_url}/47", socket_timeout=None)
    await client.delete(KEY)
    await _add(client, 1)
    hub = EventHub(hub_client, block_ms=100)
    try:
        yield client, hub
    finally:
        await hub.close()
        await client.aclose()
        await hub_client.aclose()


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition did not come true in 10 s")


async def _add(client: aioredis.Redis, count: int, start: int = 0) -> None:
    async with client.pipeline(transaction=False) as pipe:
        for number in range(start, start + count):
            pipe.xadd(KEY, {"event": "progress", "data": json.dumps({"n": number})})
        await pipe.execute()


async def test_listeners_share_each_encoded_event(redis_url: str) -> None:
    async with _running_hub(redis_url) as (client, hub):
        streams = [_follow(hub, client, "0") for _ in range(3)]
        for stream in streams:  # each replays the first event, then subscribes
            assert '"n": 0' in await anext(stream)
        pending = [asyncio.ensure_future(anext(stream)) for stream in streams]
        await _until(lambda: hub.listener_count == 3)  # all caught up and following live
        await _add(client, 1, start=1)
        frames = await asyncio.wait_for(asyncio.gather(*pending), 10)
        assert len(set(frames)) == 1 and '"n": 1' in frames[0]
        for stream in streams:
            await stream.aclose()
        assert hub.listener_count == 0


async def test_a_listener_too_far_behind_reads_what_it_missed_from_redis_without_loss(redis_url: str) -> None:
    async with _running_hub(redis_url) as (client, hub):
        stream = _follow(hub, client, "0")
        received = [await anext(stream)]  # replayed
        following = asyncio.ensure_future(anext(stream))
        await _until(lambda: hub.listener_count == 1)  # subscribed, and from now on reading nothing
        total = MAX_PENDING + 500
        await _add(client, total - 1, start=1)
        for _ in range(100):  # the hub reads them all while this listener reads nothing
            if hub.cursor_of(KEY) == (await client.xrevrange(KEY, count=1))[0][0]:
                break
            await asyncio.sleep(0.05)
        received.append(await following)
        for _ in range(total - len(received)):
            received.append(await asyncio.wait_for(anext(stream), 10))
        all_ids = [entry_id for entry_id, _ in await client.xrange(KEY)]
        assert _ids(received) == all_ids

        await _add(client, 1, start=total)  # and it goes on following live
        assert f'"n": {total}' in await asyncio.wait_for(anext(stream), 10)
        await stream.aclose()
        assert hub.listener_count == 0


async def test_a_quiet_stream_gets_keep_alives_and_then_its_next_event(redis_url: str) -> None:
    async with _running_hub(redis_url) as (client, hub):
        stream = _follow(hub, client, "0", keepalive_seconds=0.3)
        assert '"n": 0' in await anext(stream)
        assert await asyncio.wait_for(anext(stream), 5) == ": keep-alive\n\n"
        assert await asyncio.wait_for(anext(stream), 5) == ": keep-alive\n\n"
        following = asyncio.ensure_future(anext(stream))
        await _add(client, 1, start=1)
        frame = await asyncio.wait_for(following, 5)
        while frame.startswith(":"):  # a keep-alive may come first
            frame = await asyncio.wait_for(anext(stream), 5)
        assert '"n": 1' in frame
        await stream.aclose()
