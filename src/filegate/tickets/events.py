"""Server-Sent Events from tickets' Redis Streams, one reader per API process.

A blocking XREAD per listener would need one Redis connection per open
stream (redis-py's pool stops at 100) and costs about four times the CPU:
instead ``EventHub`` runs a single XREAD over every followed stream and
fans new entries out to in-memory queues, one per listener.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from filegate.state.keys import owner_feed, ticket_events
from filegate.state.states import TicketStatus
from filegate.tickets.store import Event, TicketStore, _decode_event

log = logging.getLogger(__name__)


def format_event(data: str, event: str | None = None, event_id: str | None = None) -> str:
    """One SSE message; each line of ``data`` becomes its own ``data:`` field."""
    for name, value in (("event", event), ("id", event_id)):
        if value is not None and ("\n" in value or "\r" in value):
            raise ValueError(f"an SSE {name} cannot contain a line break")
    lines = []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    if event is not None:
        lines.append(f"event: {event}")
    lines.extend(f"data: {line}" for line in (data.splitlines() or [""]))
    return "\n".join(lines) + "\n\n"


def encode(event: Event) -> str:
    return format_event(json.dumps(event[2]), event[1], event[0])


def stream_id(text: str) -> tuple[int, int]:
    """A Redis Stream id as a comparable pair; malformed ids sort first."""
    millis, _, sequence = text.partition("-")
    try:
        return int(millis), int(sequence or 0)
    except ValueError:
        return (0, 0)


def is_final(event: Event) -> bool:
    _, name, data = event
    return name == "status" and TicketStatus(data["status"]).is_final


MAX_PENDING = 1000
"""Deliveries each followed stream keeps in memory; a listener further behind reads from Redis."""


@dataclass(frozen=True, slots=True)
class Delivery:
    event: Event
    frame: bytes
    """The event as an SSE message: encoded once by the hub, written to every listener."""


class Channel:
    """One followed stream in this process: its latest deliveries, shared by every listener.

    A listener keeps only how many deliveries it has taken; the hub wakes the listeners waiting
    for the next one by resolving their futures, a few C calls each (an asyncio.Queue per
    listener, with a timer per wait, cost several times that at 2,000 listeners)."""

    __slots__ = ("appended", "cursor", "keepalive", "key", "listeners", "recent", "waiters", "woken_at")

    def __init__(self, key: str, cursor: str, keepalive_seconds: float) -> None:
        self.key = key
        self.cursor = cursor
        """The hub has read the stream up to this id."""
        self.recent: deque[Delivery] = deque(maxlen=MAX_PENDING)
        self.appended = 0
        """Deliveries ever appended: a listener that has taken this many is up to date."""
        self.waiters: list[asyncio.Future[None]] = []
        self.listeners = 0
        self.woken_at = time.monotonic()
        self.keepalive = keepalive_seconds

    def append(self, delivery: Delivery) -> None:
        self.recent.append(delivery)
        self.appended += 1

    def wake(self) -> None:
        waiters, self.waiters = self.waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        self.woken_at = time.monotonic()


_BEHIND = object()
"""What ``Subscription.take`` gives when the deliveries it missed have left memory."""


@dataclass(eq=False, slots=True)
class Subscription:
    channel: Channel
    cursor: str
    """Every event after this id reaches this subscription through its channel."""
    taken: int
    """Deliveries of the channel taken so far (or skipped)."""

    @property
    def key(self) -> str:
        return self.channel.key

    def take(self) -> Delivery | object | None:
        """The next delivery; None when there is none yet; _BEHIND when it has left memory."""
        channel = self.channel
        if self.taken >= channel.appended:
            return None
        oldest = channel.appended - len(channel.recent)
        if self.taken < oldest:
            self.taken = channel.appended  # what was missed is read from Redis instead
            return _BEHIND
        delivery = channel.recent[self.taken - oldest]
        self.taken += 1
        return delivery

    async def wait(self) -> None:
        """Until the channel has something new, or a keep-alive is due."""
        waiter = asyncio.get_running_loop().create_future()
        self.channel.waiters.append(waiter)
        await waiter


class EventHub:
    def __init__(self, client: aioredis.Redis, block_ms: int = 500) -> None:
        # The client must have no socket timeout shorter than block_ms.
        self._redis = client
        self._block_ms = block_ms
        self._channels: dict[str, Channel] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def subscribe(self, key: str, seen_id: str, keepalive_seconds: float = 15) -> Subscription:
        """Follow stream ``key`` from ``seen_id`` on; the subscription's cursor may be later than it."""
        channel = self._channels.get(key)
        if channel is None:
            channel = self._channels[key] = Channel(key, seen_id, keepalive_seconds)
        channel.keepalive = min(channel.keepalive, keepalive_seconds)
        channel.listeners += 1
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="filegate-event-hub")
        return Subscription(channel, channel.cursor, channel.appended)

    def unsubscribe(self, subscription: Subscription) -> None:
        channel = subscription.channel
        channel.listeners -= 1
        if channel.listeners <= 0 and self._channels.get(channel.key) is channel:
            del self._channels[channel.key]

    @property
    def listener_count(self) -> int:
        return sum(channel.listeners for channel in self._channels.values())

    def cursor_of(self, key: str) -> str | None:
        """How far the hub has read stream ``key``; None when nobody follows it."""
        channel = self._channels.get(key)
        return channel.cursor if channel is not None else None

    async def _run(self) -> None:
        while True:
            if not self._channels:
                self._wake.clear()
                await self._wake.wait()
                continue
            cursors = {key: channel.cursor for key, channel in self._channels.items()}
            try:
                replies = await self._redis.xread(cursors, block=self._block_ms, count=100)
            except RedisError as exc:
                log.warning("event hub cannot read from Redis: %s", exc)
                await asyncio.sleep(1)
                continue
            self._dispatch(replies or [])
            self._keep_alive()

    def _dispatch(self, replies: list[tuple[str, list[tuple[str, dict[str, str]]]]]) -> None:
        for key, entries in replies:
            channel = self._channels.get(key)
            if channel is None:
                continue  # every listener left while the read was under way
            for entry_id, fields in entries:
                # The cursor moves first: a malformed entry is skipped, not read forever.
                channel.cursor = entry_id
                try:
                    event = _decode_event(entry_id, fields)
                except (KeyError, ValueError):
                    log.warning("skipping malformed event %s of %s", entry_id, key)
                    continue
                # Encoded once here, not once per listener: a thousand listeners share it.
                channel.append(Delivery(event, encode(event).encode()))
            channel.wake()

    def _keep_alive(self) -> None:
        """Wakes the listeners of every stream quiet for its keep-alive interval."""
        now = time.monotonic()
        for channel in self._channels.values():
            if now - channel.woken_at >= channel.keepalive:
                channel.wake()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


ReadAfter = Callable[[str], Awaitable[list[Event]]]
"""Events of one stream with ids greater than the one given, oldest first (a batch)."""

KEEPALIVE = b": keep-alive\n\n"
RETRY_MS = 3000
"""How long a browser waits before it reconnects a dropped stream (sent once per stream)."""
RETRY = f"retry: {RETRY_MS}\n\n".encode()


async def follow_stream(
    hub: EventHub,
    key: str,
    read_after: ReadAfter,
    seen: str,
    keepalive_seconds: float,
    is_still_followed: Callable[[], Awaitable[bool]],
    *,
    ends_at_final: bool,
) -> AsyncGenerator[bytes]:
    """Replay the events of stream ``key`` after ``seen``, then follow them live.

    Ends after a final status when ``ends_at_final``, and when ``is_still_followed``, asked
    at each keep-alive, says no (the ticket expired, the session ended). A listener that falls
    more than MAX_PENDING deliveries behind reads what it missed from Redis, and goes on.
    """

    async def replay() -> AsyncIterator[Event]:
        nonlocal seen
        while batch := await read_after(seen):
            for event in batch:
                seen = event[0]
                yield event

    yield RETRY
    async for event in replay():
        yield encode(event).encode()
        if ends_at_final and is_final(event):
            return
    subscription = hub.subscribe(key, seen, keepalive_seconds)
    try:
        # Events up to the hub's cursor reach the channel no more: read them here.
        behind = stream_id(subscription.cursor) > stream_id(seen)
        while True:
            if behind:
                behind = False
                async for event in replay():
                    yield encode(event).encode()
                    if ends_at_final and is_final(event):
                        return
            taken = subscription.take()
            if taken is None:
                await subscription.wait()
                if subscription.taken >= subscription.channel.appended:  # woken for a keep-alive
                    if not await is_still_followed():
                        return
                    yield KEEPALIVE
                continue
            if taken is _BEHIND:
                log.info("a listener of %s fell %d events behind: it reads them from Redis", key, MAX_PENDING)
                behind = True
                continue
            assert isinstance(taken, Delivery)
            event = taken.event
            if stream_id(event[0]) > stream_id(seen):
                seen = event[0]
                yield taken.frame
                if ends_at_final and is_final(event):
                    return
    finally:
        hub.unsubscribe(subscription)


def follow_ticket(
    store: TicketStore, hub: EventHub, ticket_id: str, last_event_id: str | None, keepalive_seconds: float
) -> AsyncIterator[bytes]:
    """Replay the ticket's events after ``last_event_id``, then follow them live until a final state."""

    async def read_after(seen: str) -> list[Event]:
        return await store.events_after(ticket_id, seen)

    async def is_live() -> bool:
        record = await store.get(ticket_id)
        return record is not None and not record.is_expired  # else forgotten or expired meanwhile

    return follow_stream(
        hub, ticket_events(ticket_id), read_after, last_event_id or "0", keepalive_seconds, is_live,
        ends_at_final=True,
    )  # fmt: skip


async def follow_feed(
    store: TicketStore,
    hub: EventHub,
    owner: str,
    after: str | None,
    keepalive_seconds: float,
    is_still_allowed: Callable[[], Awaitable[bool]],
) -> AsyncIterator[bytes]:
    """Every event of the owner's tickets after ``after`` (None: from now on), live, each naming
    its ticket; an ``event: resync`` first when events after ``after`` were trimmed away."""
    seen = after if after is not None else await store.feed_last_id(owner)
    if after is not None and stream_id(await store.feed_trimmed_up_to(owner)) > stream_id(after):
        # Events the client has not seen are gone: it reads the tickets' states again instead.
        seen = await store.feed_last_id(owner)
        yield format_event("{}", "resync", seen).encode()

    async def read_after(cursor: str) -> list[Event]:
        return await store.feed_after(owner, cursor)

    frames = follow_stream(
        hub, owner_feed(owner), read_after, seen, keepalive_seconds, is_still_allowed,
        ends_at_final=False,
    )  # fmt: skip
    async with contextlib.aclosing(frames):  # unsubscribed as soon as this stream ends
        async for frame in frames:
            yield frame
