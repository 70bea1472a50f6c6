"""Tickets in Redis: the record hash and its event stream, on the API's asyncio client.

A ticket's status changes only through the scripts of ``filegate.state``,
which write the change and its event together for every ticket holding a
build.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from filegate.archive.record import CommittedPart
from filegate.state import builds, keys, tickets
from filegate.state.queue import Limits
from filegate.state.scripts import AsyncState, Call
from filegate.state.states import TicketStatus
from filegate.state.tickets import Claim, NewBuild
from filegate.tickets.record import TicketRecord

Event = tuple[str, str, dict[str, Any]]
"""(stream id, event name, data)"""


def _decode_event(entry_id: str, fields: dict[str, str]) -> Event:
    """An entry of a ticket's stream, or of an owner's feed (which names the ticket)."""
    data = json.loads(fields["data"])
    if "ticket" in fields:
        data = {"ticket_id": fields["ticket"], **data}
    return entry_id, fields["event"], data


class TicketStore:
    def __init__(self, state: AsyncState, grace_seconds: int) -> None:
        self._state = state
        self._redis: aioredis.Redis = state.client
        self._grace_seconds = grace_seconds

    def forget_at(self, record: TicketRecord) -> int:
        """When Redis forgets the ticket: its expiry plus the grace in which it answers 410."""
        return int(record.expires_at.timestamp()) + self._grace_seconds

    async def run(self, call: Call[Any]) -> Any:
        """Run one typed call of ``filegate.state`` (the admission step's failures, for one)."""
        return await self._state.run(call)

    async def committed_parts(self, build_id: str) -> list[CommittedPart]:
        """The parts a running build has committed so far, in order (each number once)."""
        rows: list[str] = await self._redis.lrange(keys.build_parts(build_id), 0, -1)
        by_number = {part.number: part for part in map(CommittedPart.from_json, rows)}
        return [by_number[number] for number in sorted(by_number)]

    async def create(self, record: TicketRecord) -> None:
        """A ticket that needs no build (one file linked directly)."""
        first_event = {"status": record.status.value, "ticket_id": record.ticket_id}
        created_ms = int(record.created_at.timestamp() * 1000)
        await self._state.run(
            tickets.create(
                record.ticket_id, record.to_redis(), created_ms, self.forget_at(record), first_event
            )
        )

    async def claim_build(
        self,
        record: TicketRecord,
        fingerprint: str,
        new: NewBuild,
        verified_build_id: str,
        limits: Limits | None,
    ) -> Claim:
        """Create the ticket holding the build of ``fingerprint`` (see state/lua/claim.lua)."""
        ticket_fields = {k: v for k, v in record.to_redis().items() if k != "status"}
        now_ms = int(record.created_at.timestamp() * 1000)
        call = tickets.claim(
            fingerprint,
            record.ticket_id,
            ticket_fields,
            record.expires_at.timestamp(),
            self.forget_at(record),
            now_ms,
            new,
            verified_build_id,
            limits,
        )
        return await self._state.run(call)

    async def cancel(self, ticket_id: str) -> str:
        """Cancel the ticket (and its build when no other ticket holds it); see state/lua/cancel.lua."""
        return await self._state.run(tickets.cancel(ticket_id))

    async def discard(self, ticket_id: str, now: datetime) -> str:
        """End a ready ticket now; see state/lua/discard.lua."""
        return await self._state.run(tickets.discard(ticket_id, now.timestamp()))

    async def drop_build(self, build_id: str, fingerprint: str, now: datetime) -> None:
        """Stop reusing a ready build whose objects went missing; the sweeper removes the rest."""
        await self._state.run(builds.drop(build_id, fingerprint, now.timestamp()))

    async def get(self, ticket_id: str) -> TicketRecord | None:
        fields = await self._redis.hgetall(keys.ticket(ticket_id))
        if not fields:
            return None
        return TicketRecord.from_redis(ticket_id, fields)

    async def callbacks(self, build_id: str, status: TicketStatus) -> list[str]:
        """The tickets holding the build that are in ``status`` and have a callback URL."""
        ticket_ids = sorted(await self._redis.smembers(keys.build_tickets(build_id)))
        async with self._redis.pipeline(transaction=False) as pipe:
            for ticket_id in ticket_ids:
                pipe.hmget(keys.ticket(ticket_id), "status", "callback_url")
            rows: list[list[str | None]] = await pipe.execute()
        return [
            ticket_id
            for ticket_id, (shown, url) in zip(ticket_ids, rows, strict=True)
            if shown == status.value and url
        ]

    async def events_after(self, ticket_id: str, after_id: str, count: int = 500) -> list[Event]:
        """Events with ids greater than ``after_id`` ('0' for all), oldest first."""
        rows = await self._redis.xrange(keys.ticket_events(ticket_id), min=f"({after_id}", count=count)
        return [_decode_event(entry_id, fields) for entry_id, fields in rows]

    async def owned(self, owner: str, limit: int) -> list[TicketRecord]:
        """The owner's tickets that are not expired, newest first; forgotten ones leave the list."""
        key = keys.owner_tickets(owner)
        ids: list[str] = await self._redis.zrevrange(key, 0, _OWNED_SCAN - 1)
        async with self._redis.pipeline(transaction=False) as pipe:
            for ticket_id in ids:
                pipe.hgetall(keys.ticket(ticket_id))
            rows: list[dict[str, str]] = await pipe.execute()
        forgotten = [ticket_id for ticket_id, fields in zip(ids, rows, strict=True) if not fields]
        if forgotten:
            await self._redis.zrem(key, *forgotten)
        records = [
            TicketRecord.from_redis(ticket_id, fields)
            for ticket_id, fields in zip(ids, rows, strict=True)
            if fields
        ]
        live = [r for r in records if not r.is_expired and r.status is not TicketStatus.EXPIRED]
        return live[:limit]

    async def feed_last_id(self, owner: str) -> str:
        """The id of the owner's latest event ('0-0' when there is none yet)."""
        rows = await self._redis.xrevrange(keys.owner_feed(owner), count=1)
        return str(rows[0][0]) if rows else "0-0"

    async def feed_trimmed_up_to(self, owner: str) -> str:
        """The latest id trimmed from the owner's feed ('0-0' when nothing was)."""
        try:
            info = await self._redis.xinfo_stream(keys.owner_feed(owner))
        except ResponseError:  # no such key: nothing was ever trimmed
            return "0-0"
        return str(info.get("max-deleted-entry-id") or "0-0")

    async def feed_after(self, owner: str, after_id: str, count: int = 500) -> list[Event]:
        rows = await self._redis.xrange(keys.owner_feed(owner), min=f"({after_id}", count=count)
        return [_decode_event(entry_id, fields) for entry_id, fields in rows]


_OWNED_SCAN = 1000
"""GET /tickets looks at most at this many of an owner's newest tickets."""
