"""Tickets in Redis: the record hash, its manifest and its event stream.

The API uses the asyncio client (``TicketStore``); workers use the
synchronous one (``BuildTicketStore``). Both change status only through
TRANSITION_SCRIPT, so a change and its event are written together.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis
import redis.asyncio as aioredis

from filegate.snapshot.manifest import Manifest
from filegate.tickets.keys import TRANSITION_SCRIPT, events_key, manifest_key, ticket_key
from filegate.tickets.record import TicketRecord
from filegate.tickets.states import ALLOWED_FROM, TicketStatus

Event = tuple[str, str, dict[str, Any]]
"""(stream id, event name, data)"""


def _transition_args(status: TicketStatus, event: dict[str, Any], fields: dict[str, str]) -> list[str]:
    allowed = ",".join(state.value for state in ALLOWED_FROM[status])
    args = [status.value, allowed, json.dumps({"status": status.value, **event})]
    for name, value in fields.items():
        args += [name, value]
    return args


def _decode_event(entry_id: str, fields: dict[str, str]) -> Event:
    return entry_id, fields["event"], json.loads(fields["data"])


class TicketStore:
    def __init__(self, client: aioredis.Redis, grace_seconds: int) -> None:
        self._redis = client
        self._grace_seconds = grace_seconds

    async def create(self, record: TicketRecord, manifest: Manifest) -> None:
        keys = (ticket_key(record.ticket_id), manifest_key(record.ticket_id), events_key(record.ticket_id))
        forget_at = int(record.expires_at.timestamp()) + self._grace_seconds
        first_event = json.dumps({"status": record.status.value, "ticket_id": record.ticket_id})
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys[0], mapping=record.to_redis())
            pipe.set(keys[1], manifest.to_json())
            pipe.xadd(keys[2], {"event": "status", "data": first_event})
            for key in keys:
                pipe.expireat(key, forget_at)
            await pipe.execute()

    async def get(self, ticket_id: str) -> TicketRecord | None:
        fields = await self._redis.hgetall(ticket_key(ticket_id))
        if not fields:
            return None
        return TicketRecord.from_redis(ticket_id, fields)

    async def events_after(self, ticket_id: str, after_id: str, count: int = 500) -> list[Event]:
        """Events with ids greater than ``after_id`` ('0' for all), oldest first."""
        rows = await self._redis.xrange(events_key(ticket_id), min=f"({after_id}", count=count)
        return [_decode_event(entry_id, fields) for entry_id, fields in rows]

    async def transition(
        self, ticket_id: str, status: TicketStatus, event: dict[str, Any] | None = None, **fields: str
    ) -> str | None:
        result = await self._redis.eval(
            TRANSITION_SCRIPT,
            2,
            ticket_key(ticket_id),
            events_key(ticket_id),
            *_transition_args(status, event or {}, fields),
        )
        return str(result) if result else None


class BuildTicketStore:
    """What a build reads and writes; throttles progress events."""

    def __init__(self, client: redis.Redis, progress_interval_ms: int) -> None:
        self._redis = client
        self._progress_interval = progress_interval_ms / 1000
        self._last_progress = 0.0

    def get(self, ticket_id: str) -> TicketRecord | None:
        fields = self._redis.hgetall(ticket_key(ticket_id))
        return TicketRecord.from_redis(ticket_id, fields) if fields else None

    def manifest(self, ticket_id: str) -> Manifest | None:
        text = self._redis.get(manifest_key(ticket_id))
        return Manifest.from_json(text) if text is not None else None

    def transition(
        self, ticket_id: str, status: TicketStatus, event: dict[str, Any] | None = None, **fields: str
    ) -> str | None:
        result = self._redis.eval(
            TRANSITION_SCRIPT,
            2,
            ticket_key(ticket_id),
            events_key(ticket_id),
            *_transition_args(status, event or {}, fields),
        )
        return str(result) if result else None

    def progress(self, ticket_id: str, progress: dict[str, Any], force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_progress < self._progress_interval:
            return
        self._last_progress = now
        data = json.dumps(progress)
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.hset(ticket_key(ticket_id), "progress", data)
            pipe.xadd(events_key(ticket_id), {"event": "progress", "data": data})
            pipe.execute()
