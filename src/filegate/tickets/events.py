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
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

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
"""Events a listener may have waiting; one that falls further behind is cut off (see below)."""


@dataclass(frozen=True, slots=True)
class Delivery:
    event: Event
    frame: str
    """The event as an SSE message: encoded once by the hub, written to every listener."""


@dataclass(eq=False)
class Subscription:
    key: str
    """The Redis stream followed: a ticket's events, or an owner's feed."""
    cursor: str
    """The hub delivers every event after this id to ``queue``."""
    queue: asyncio.Queue[Delivery] = field(default_factory=lambda: asyncio.Queue(MAX_PENDING))
    overflowed: bool = False
    """Events were dropped: the stream ends once the queue is drained, and the client, resuming
    after the last event it got (Last-Event-ID), reads the rest from Redis."""


class EventHub:
    def __init__(self, client: aioredis.Redis, block_ms: int = 500) -> None:
        # The client must have no socket timeout shorter than block_ms.
        self._redis = client
        self._block_ms = block_ms
        self._cursors: dict[str, str] = {}
        self._subscriptions: dict[str, set[Subscription]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def subscribe(self, key: str, seen_id: str) -> Subscription:
        """Follow stream ``key`` from ``seen_id`` on; the subscription's cursor may be later than it."""
        cursor = self._cursors.setdefault(key, seen_id)
        subscription = Subscription(key, cursor)
        self._subscriptions.setdefault(key, set()).add(subscription)
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="filegate-event-hub")
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        listeners = self._subscriptions.get(subscription.key)
        if listeners is None:
            return
        listeners.discard(subscription)
        if not listeners:
            del self._subscriptions[subscription.key]
            self._cursors.pop(subscription.key, None)

    @property
    def listener_count(self) -> int:
        return sum(len(listeners) for listeners in self._subscriptions.values())

    async def _run(self) -> None:
        while True:
            if not self._cursors:
                self._wake.clear()
                await self._wake.wait()
                continue
            try:
                replies = await self._redis.xread(dict(self._cursors), block=self._block_ms, count=100)
            except RedisError as exc:
                log.warning("event hub cannot read from Redis: %s", exc)
                await asyncio.sleep(1)
                continue
            self._dispatch(replies or [])

    def _dispatch(self, replies: list[tuple[str, list[tuple[str, dict[str, str]]]]]) -> None:
        for key, entries in replies:
            if key not in self._cursors:
                continue  # every listener left while the read was under way
            for entry_id, fields in entries:
                # The cursor moves first: a malformed entry is skipped, not read forever.
                self._cursors[key] = entry_id
                try:
                    event = _decode_event(entry_id, fields)
                except (KeyError, ValueError):
                    log.warning("skipping malformed event %s of %s", entry_id, key)
                    continue
                # Encoded once here, not once per listener: a thousand listeners share it.
                delivery = Delivery(event, encode(event))
                for subscription in self._subscriptions.get(key, ()):
                    try:
                        subscription.queue.put_nowait(delivery)
                    except asyncio.QueueFull:
                        subscription.overflowed = True

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


ReadAfter = Callable[[str], Awaitable[list[Event]]]
"""Events of one stream with ids greater than the one given, oldest first (a batch)."""


async def follow_stream(
    hub: EventHub,
    key: str,
    read_after: ReadAfter,
    seen: str,
    keepalive_seconds: float,
    is_still_followed: Callable[[], Awaitable[bool]],
    *,
    ends_at_final: bool,
) -> AsyncIterator[str]:
    """Replay the events of stream ``key`` after ``seen``, then follow them live.

    Ends after a final status when ``ends_at_final``, and when ``is_still_followed``, asked
    at each keep-alive, says no (the ticket expired, the session ended).
    """

    async def replay() -> AsyncIterator[Event]:
        nonlocal seen
        while batch := await read_after(seen):
            for event in batch:
                seen = event[0]
                yield event

    async for event in replay():
        yield encode(event)
        if ends_at_final and is_final(event):
            return
    subscription = hub.subscribe(key, seen)
    try:
        # Events up to the hub's cursor reach the queue no more: read them here.
        if stream_id(subscription.cursor) > stream_id(seen):
            async for event in replay():
                yield encode(event)
                if ends_at_final and is_final(event):
                    return
        while True:
            try:
                # asyncio.timeout, not wait_for: no task made per event and listener.
                async with asyncio.timeout(keepalive_seconds):
                    delivery = await subscription.queue.get()
            except TimeoutError:
                if not await is_still_followed():
                    return
                yield ": keep-alive\n\n"
                continue
            event = delivery.event
            if stream_id(event[0]) > stream_id(seen):
                seen = event[0]
                yield delivery.frame
                if ends_at_final and is_final(event):
                    return
            if subscription.overflowed and subscription.queue.empty():
                log.info("a listener of %s fell %d events behind: its stream ends", key, MAX_PENDING)
                return
    finally:
        hub.unsubscribe(subscription)


async def follow_ticket(
    store: TicketStore, hub: EventHub, ticket_id: str, last_event_id: str | None, keepalive_seconds: float
) -> AsyncIterator[str]:
    """Replay the ticket's events after ``last_event_id``, then follow them live until a final state."""

    async def read_after(seen: str) -> list[Event]:
        return await store.events_after(ticket_id, seen)

    async def is_live() -> bool:
        record = await store.get(ticket_id)
        return record is not None and not record.is_expired  # else forgotten or expired meanwhile

    async for message in follow_stream(
        hub, ticket_events(ticket_id), read_after, last_event_id or "0", keepalive_seconds, is_live,
        ends_at_final=True,
    ):  # fmt: skip
        yield message


async def follow_feed(
    store: TicketStore,
    hub: EventHub,
    owner: str,
    after: str | None,
    keepalive_seconds: float,
    is_still_allowed: Callable[[], Awaitable[bool]],
) -> AsyncIterator[str]:
    """Every event of the owner's tickets after ``after`` (None: from now on), live, each naming
    its ticket; an ``event: resync`` first when events after ``after`` were trimmed away."""
    seen = after if after is not None else await store.feed_last_id(owner)
    if after is not None and stream_id(await store.feed_trimmed_up_to(owner)) > stream_id(after):
        # Events the client has not seen are gone: it reads the tickets' states again instead.
        seen = await store.feed_last_id(owner)
        yield format_event("{}", "resync", seen)

    async def read_after(cursor: str) -> list[Event]:
        return await store.feed_after(owner, cursor)

    async for message in follow_stream(
        hub, owner_feed(owner), read_after, seen, keepalive_seconds, is_still_allowed,
        ends_at_final=False,
    ):  # fmt: skip
        yield message
