"""Tickets in Redis: the record hash and its event stream, on the API's asyncio client.

A ticket's status changes only through the build scripts of
``archive/registry.py``, which write the change and its event together for
every ticket holding a build.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from filegate.archive.registry import (
    BUILD_TRANSITION_SCRIPT,
    CANCEL_SCRIPT,
    CLAIM_SCRIPT,
    DISCARD_SCRIPT,
    DROP_SCRIPT,
    BuildRecord,
    BuildStatus,
    build_key,
    fingerprint_key,
    transition_args,
)
from filegate.metrics.cluster import count_direct_ticket
from filegate.scheduling.dispatcher import (
    DISPATCH_SCRIPT,
    RELEASE_SCRIPT,
    Admission,
    Limits,
    admissions,
    estimate_bytes,
    queue_score,
)
from filegate.scheduling.priority import Priority
from filegate.snapshot.manifest import Manifest
from filegate.tickets.feed import EMIT_EVENT_LUA
from filegate.tickets.keys import events_key, owner_feed_key, owner_tickets_key, ticket_key
from filegate.tickets.record import TicketRecord
from filegate.tickets.states import TicketStatus

Event = tuple[str, str, dict[str, Any]]
"""(stream id, event name, data)"""


# ARGV: ticket id, its fields (JSON), created (epoch ms), forget at (epoch s), first event.
CREATE_SCRIPT = (
    EMIT_EVENT_LUA
    + """
local tkey = 'filegate:ticket:' .. ARGV[1]
for k, v in pairs(cjson.decode(ARGV[2])) do redis.call('HSET', tkey, k, v) end
redis.call('EXPIREAT', tkey, ARGV[4])
list_ticket(ARGV[1], ARGV[3], tonumber(ARGV[4]))
emit_event(ARGV[1], 'status', ARGV[5], false)
redis.call('EXPIREAT', tkey .. ':events', ARGV[4])
return 1
"""
)


def _decode_event(entry_id: str, fields: dict[str, str]) -> Event:
    """An entry of a ticket's stream, or of an owner's feed (which names the ticket)."""
    data = json.loads(fields["data"])
    if "ticket" in fields:
        data = {"ticket_id": fields["ticket"], **data}
    return entry_id, fields["event"], data


class TicketStore:
    def __init__(self, client: aioredis.Redis, grace_seconds: int) -> None:
        self._redis = client
        self._grace_seconds = grace_seconds

    def _forget_at(self, record: TicketRecord) -> int:
        return int(record.expires_at.timestamp()) + self._grace_seconds

    async def create(self, record: TicketRecord) -> None:
        """A ticket that needs no build (one file linked directly)."""
        first_event = json.dumps({"status": record.status.value, "ticket_id": record.ticket_id})
        await self._redis.eval(
            CREATE_SCRIPT,
            0,
            record.ticket_id,
            json.dumps(record.to_redis()),
            str(int(record.created_at.timestamp() * 1000)),
            str(self._forget_at(record)),
            first_event,
        )
        await count_direct_ticket(self._redis)

    async def claim_build(
        self,
        record: TicketRecord,
        manifest: Manifest,
        fingerprint: str,
        new_build_id: str,
        priority: Priority,
    ) -> tuple[str, str]:
        """Create the ticket holding the build of ``fingerprint``: the one queued, building or
        ready, else a new one. Returns (outcome, build id); outcome is 'new', 'joined' or 'ready'."""
        ticket_fields = {k: v for k, v in record.to_redis().items() if k != "status"}
        now_ms = int(record.created_at.timestamp() * 1000)
        build_fields = {
            "options": json.dumps(record.options.to_dict()),
            "created_at": repr(record.created_at.timestamp()),
        }
        outcome, build_id = await self._redis.eval(
            CLAIM_SCRIPT,
            0,
            fingerprint,
            new_build_id,
            record.ticket_id,
            repr(record.expires_at.timestamp()),
            str(self._forget_at(record)),
            json.dumps(ticket_fields),
            json.dumps(build_fields),
            manifest.to_json(),
            str(queue_score(priority, now_ms)),
            str(estimate_bytes(manifest)),
            str(now_ms),
        )
        return str(outcome), str(build_id)

    async def dispatch(self, limits: Limits) -> list[Admission]:
        """Admit the queued builds that fit now (see scheduling/dispatcher.py)."""
        now_ms = int(datetime.now(UTC).timestamp() * 1000)
        return admissions(await self._redis.eval(DISPATCH_SCRIPT, 0, *limits.args(now_ms)))

    async def ready_build(self, fingerprint: str) -> BuildRecord | None:
        """The ready build an identical request would reuse, if there is one."""
        build_id = await self._redis.get(fingerprint_key(fingerprint))
        if build_id is None:
            return None
        fields = await self._redis.hgetall(build_key(build_id))
        if not fields or fields.get("status") != BuildStatus.READY:
            return None
        return BuildRecord.from_redis(build_id, fields)

    async def cancel(self, ticket_id: str) -> str:
        """Cancel the ticket (and its build when no other ticket holds it); see CANCEL_SCRIPT."""
        return str(await self._redis.eval(CANCEL_SCRIPT, 0, ticket_id))

    async def discard(self, ticket_id: str, now: datetime) -> str:
        """End a ready ticket now; see DISCARD_SCRIPT."""
        return str(await self._redis.eval(DISCARD_SCRIPT, 0, ticket_id, repr(now.timestamp())))

    async def fail_build(self, build_id: str, reason: str) -> None:
        args = transition_args(build_id, BuildStatus.FAILED, {"error": reason}, {"error": reason})
        await self._redis.eval(BUILD_TRANSITION_SCRIPT, 0, *args)
        await self._redis.eval(RELEASE_SCRIPT, 0, build_id, "0")

    async def drop_build(self, build: BuildRecord, now: datetime) -> None:
        """Stop reusing a ready build whose objects went missing; the sweeper removes the rest."""
        await self._redis.eval(DROP_SCRIPT, 0, build.build_id, build.fingerprint, repr(now.timestamp()))

    async def get(self, ticket_id: str) -> TicketRecord | None:
        fields = await self._redis.hgetall(ticket_key(ticket_id))
        if not fields:
            return None
        return TicketRecord.from_redis(ticket_id, fields)

    async def events_after(self, ticket_id: str, after_id: str, count: int = 500) -> list[Event]:
        """Events with ids greater than ``after_id`` ('0' for all), oldest first."""
        rows = await self._redis.xrange(events_key(ticket_id), min=f"({after_id}", count=count)
        return [_decode_event(entry_id, fields) for entry_id, fields in rows]

    async def owned(self, owner: str, limit: int) -> list[TicketRecord]:
        """The owner's tickets that are not expired, newest first; forgotten ones leave the list."""
        key = owner_tickets_key(owner)
        ids: list[str] = await self._redis.zrevrange(key, 0, _OWNED_SCAN - 1)
        async with self._redis.pipeline(transaction=False) as pipe:
            for ticket_id in ids:
                pipe.hgetall(ticket_key(ticket_id))
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
        rows = await self._redis.xrevrange(owner_feed_key(owner), count=1)
        return str(rows[0][0]) if rows else "0-0"

    async def feed_trimmed_up_to(self, owner: str) -> str:
        """The latest id trimmed from the owner's feed ('0-0' when nothing was)."""
        try:
            info = await self._redis.xinfo_stream(owner_feed_key(owner))
        except ResponseError:  # no such key: nothing was ever trimmed
            return "0-0"
        return str(info.get("max-deleted-entry-id") or "0-0")

    async def feed_after(self, owner: str, after_id: str, count: int = 500) -> list[Event]:
        rows = await self._redis.xrange(owner_feed_key(owner), min=f"({after_id}", count=count)
        return [_decode_event(entry_id, fields) for entry_id, fields in rows]


_OWNED_SCAN = 1000
"""GET /tickets looks at most at this many of an owner's newest tickets."""
