"""Builds in Redis: one per fingerprint, shared by every ticket that holds it.

A build is the archive of one pinned manifest with one set of options. Its
fingerprint maps to it while it is queued, building or ready, so identical
requests join it or reuse it; each holding ticket is in its ``tickets`` set,
and the build's expiry is the latest of theirs. Builds are listed in a sorted
set by expiry, where the sweeper finds the ones no live ticket holds.

Every change is one Lua script, so the build, its tickets and their event
streams change together. The scripts build key names from ids (a single
Redis, not a cluster). They also count the states tickets and builds reach in
``filegate:metrics`` (see metrics/cluster.py), in the same step, so each is
counted exactly once; through ``redis.pcall``, so counting cannot fail a change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import redis

from filegate.scheduling.dispatcher import (
    DISPATCH_SCRIPT,
    LEASE_SECONDS,
    POSITION_WINDOW,
    QUEUE_LUA,
    RECLAIM_SCRIPT,
    RELEASE_SCRIPT,
    UNSTARTED_SECONDS,
    Admission,
    Limits,
    admissions,
    lease_key,
)
from filegate.snapshot.manifest import Manifest
from filegate.tickets.feed import EMIT_EVENT_LUA
from filegate.tickets.record import ArchiveOptions, Part
from filegate.tickets.states import ALLOWED_FROM, TicketStatus

PREFIX = "filegate"
BUILDS_BY_EXPIRY = f"{PREFIX}:builds:expiry"


class BuildStatus(StrEnum):
    QUEUED = "queued"
    BUILDING = "building"
    READY = "ready"
    FAILED = "failed"
    EXPIRED = "expired"
    """Every holding ticket expired before the build started: it never will."""
    CANCELLED = "cancelled"
    """Its last holding ticket was cancelled."""
    DELETING = "deleting"


# The ticket status each build status shows through.
TICKET_STATUS = {
    BuildStatus.QUEUED: TicketStatus.QUEUED,
    BuildStatus.BUILDING: TicketStatus.PREPARING,
    BuildStatus.READY: TicketStatus.READY,
    BuildStatus.FAILED: TicketStatus.FAILED,
    BuildStatus.EXPIRED: TicketStatus.EXPIRED,
    BuildStatus.CANCELLED: TicketStatus.CANCELLED,
}

BUILD_ALLOWED_FROM: dict[BuildStatus, frozenset[BuildStatus]] = {
    BuildStatus.BUILDING: frozenset({BuildStatus.QUEUED, BuildStatus.BUILDING}),
    BuildStatus.READY: frozenset({BuildStatus.BUILDING}),
    BuildStatus.FAILED: frozenset({BuildStatus.QUEUED, BuildStatus.BUILDING}),
    BuildStatus.EXPIRED: frozenset({BuildStatus.QUEUED}),
    BuildStatus.CANCELLED: frozenset({BuildStatus.QUEUED, BuildStatus.BUILDING}),
}


def build_key(build_id: str) -> str:
    return f"{PREFIX}:build:{build_id}"


def fingerprint_key(fingerprint: str) -> str:
    return f"{PREFIX}:fingerprint:{fingerprint}"


# ARGV: fingerprint, new build id, ticket id, ticket expiry (epoch s), ticket
# forget time, ticket fields (JSON object), build fields (JSON object), manifest,
# queue score, size estimate, now (ms). A new build waits in the queue for the
# dispatcher (scheduling/dispatcher.py).
# Returns {outcome, build id}: 'new' (queue it), 'joined' (it is queued or
# building) or 'ready' (the ticket is ready now, with the build's parts).
CLAIM_SCRIPT = (
    EMIT_EVENT_LUA
    + QUEUE_LUA
    + """
local p = 'filegate:'
local fp, ticket_id = ARGV[1], ARGV[3]
local expires_at, forget_at = tonumber(ARGV[4]), tonumber(ARGV[5])
local fpkey = p .. 'fingerprint:' .. fp
local build_id = redis.call('GET', fpkey)
local status = false
if build_id then
  status = redis.call('HGET', p .. 'build:' .. build_id, 'status')
  if status ~= 'queued' and status ~= 'building' and status ~= 'ready' then build_id = false end
end
local outcome = 'joined'
if not build_id then
  build_id, status, outcome = ARGV[2], 'queued', 'new'
  local bkey = p .. 'build:' .. build_id
  redis.call('HSET', bkey, 'status', 'queued', 'fingerprint', fp, 'expires_at', ARGV[4])
  for k, v in pairs(cjson.decode(ARGV[7])) do redis.call('HSET', bkey, k, v) end
  redis.call('SET', bkey .. ':manifest', ARGV[8])
  redis.call('SET', fpkey, build_id)
  redis.call('HSET', bkey, 'estimate', ARGV[10], 'queued_at', ARGV[11], 'score', ARGV[9])
  enqueue(build_id, tonumber(ARGV[9]), tonumber(ARGV[10]))
elseif status == 'ready' then
  outcome = 'ready'
else
  -- a request of higher priority lifts a build still waiting (only ever forward); one
  -- admitted or building is not in the queue and stays out of it
  local current = redis.call('ZSCORE', p .. 'queue', build_id)
  if current and tonumber(ARGV[9]) < tonumber(current) then
    local bkey = p .. 'build:' .. build_id
    dequeue(build_id)
    enqueue(build_id, tonumber(ARGV[9]), tonumber(redis.call('HGET', bkey, 'estimate') or '0'))
    redis.call('HSET', bkey, 'score', ARGV[9])
  end
end
local bkey = p .. 'build:' .. build_id
redis.call('SADD', bkey .. ':tickets', ticket_id)
local held_until = tonumber(redis.call('HGET', bkey, 'expires_at'))
if expires_at > held_until then
  redis.call('HSET', bkey, 'expires_at', ARGV[4])
  held_until = expires_at
end
redis.call('ZADD', p .. 'builds:expiry', held_until, build_id)
local shown = ({queued = 'queued', building = 'preparing', ready = 'ready'})[status]
local tkey = p .. 'ticket:' .. ticket_id
redis.call('HSET', tkey, 'status', shown, 'build_id', build_id)
for k, v in pairs(cjson.decode(ARGV[6])) do redis.call('HSET', tkey, k, v) end
if status == 'ready' then redis.call('HSET', tkey, 'parts', redis.call('HGET', bkey, 'parts')) end
redis.call('EXPIREAT', tkey, forget_at)
list_ticket(ticket_id, ARGV[11], forget_at)
emit_event(ticket_id, 'status', cjson.encode({status = shown, ticket_id = ticket_id}), false)
redis.call('EXPIREAT', tkey .. ':events', forget_at)
redis.pcall('HINCRBY', p .. 'metrics', 'tickets:created', 1)
if status == 'ready' then
  redis.pcall('HINCRBY', p .. 'metrics', 'tickets:ready', 1)
  redis.pcall('HINCRBY', p .. 'metrics', 'cache_hits', 1)
end
return {outcome, build_id}
"""
)

# ARGV: build id, new build status, allowed build statuses, ticket status,
# allowed ticket statuses, event JSON, then field/value pairs set on the build
# and on each ticket. Returns the number of tickets changed, or -1 when the
# build's status does not allow the change.
BUILD_TRANSITION_SCRIPT = (
    EMIT_EVENT_LUA
    + """
local p = 'filegate:'
local bkey = p .. 'build:' .. ARGV[1]
local function listed(value, csv)
  for item in string.gmatch(csv, '[^,]+') do if item == value then return true end end
  return false
end
local current = redis.call('HGET', bkey, 'status')
if not current or not listed(current, ARGV[3]) then return -1 end
redis.call('HSET', bkey, 'status', ARGV[2])
for i = 7, #ARGV, 2 do redis.call('HSET', bkey, ARGV[i], ARGV[i + 1]) end
if ARGV[2] == 'failed' or ARGV[2] == 'expired' or ARGV[2] == 'cancelled' then
  local fpkey = p .. 'fingerprint:' .. redis.call('HGET', bkey, 'fingerprint')
  if redis.call('GET', fpkey) == ARGV[1] then redis.call('DEL', fpkey) end
end
local changed = 0
for _, ticket_id in ipairs(redis.call('SMEMBERS', bkey .. ':tickets')) do
  local tkey = p .. 'ticket:' .. ticket_id
  local status = redis.call('HGET', tkey, 'status')
  if status and listed(status, ARGV[5]) then
    redis.call('HSET', tkey, 'status', ARGV[4])
    for i = 7, #ARGV, 2 do redis.call('HSET', tkey, ARGV[i], ARGV[i + 1]) end
    emit_event(ticket_id, 'status', ARGV[6], false)
    changed = changed + 1
  end
end
if ARGV[2] ~= 'building' then redis.pcall('HINCRBY', p .. 'metrics', 'builds:' .. ARGV[2], 1) end
if changed > 0 and ARGV[4] ~= 'preparing' then
  redis.pcall('HINCRBY', p .. 'metrics', 'tickets:' .. ARGV[4], changed)
end
return changed
"""
)

# ARGV: build id, progress JSON: stored on, and sent to, every holding ticket.
PROGRESS_SCRIPT = (
    EMIT_EVENT_LUA
    + """
local p = 'filegate:'
for _, ticket_id in ipairs(redis.call('SMEMBERS', p .. 'build:' .. ARGV[1] .. ':tickets')) do
  local tkey = p .. 'ticket:' .. ticket_id
  if redis.call('EXISTS', tkey) == 1 then
    redis.call('HSET', tkey, 'progress', ARGV[2])
    -- a long build sends thousands: keep the stream to about the last thousand events
    emit_event(ticket_id, 'progress', ARGV[2], true)
  end
end
return 1
"""
)

# ARGV: ticket id. Cancels the ticket; when no other ticket holds its build,
# the build too: a queued one leaves the queue, a running one is flagged and
# stops at its next check. Returns 'final' (nothing to cancel), 'ticket'
# (others still hold the build), 'queued' or 'running'.
CANCEL_SCRIPT = (
    EMIT_EVENT_LUA
    + QUEUE_LUA
    + """
local p = 'filegate:'
local tkey = p .. 'ticket:' .. ARGV[1]
local status = redis.call('HGET', tkey, 'status')
if status ~= 'queued' and status ~= 'preparing' then return 'final' end
redis.call('HSET', tkey, 'status', 'cancelled')
emit_event(ARGV[1], 'status', cjson.encode({status = 'cancelled'}), false)
redis.pcall('HINCRBY', p .. 'metrics', 'tickets:cancelled', 1)
local build_id = redis.call('HGET', tkey, 'build_id')
if not build_id then return 'ticket' end
local bkey = p .. 'build:' .. build_id
redis.call('SREM', bkey .. ':tickets', ARGV[1])
for _, other in ipairs(redis.call('SMEMBERS', bkey .. ':tickets')) do
  local other_status = redis.call('HGET', p .. 'ticket:' .. other, 'status')
  if other_status == 'queued' or other_status == 'preparing' then return 'ticket' end
end
local fpkey = p .. 'fingerprint:' .. redis.call('HGET', bkey, 'fingerprint')
if redis.call('GET', fpkey) == build_id then redis.call('DEL', fpkey) end
if redis.call('HGET', bkey, 'status') == 'queued' then
  redis.call('HSET', bkey, 'status', 'cancelled')
  dequeue(build_id)
  redis.pcall('HINCRBY', p .. 'metrics', 'builds:cancelled', 1)
  return 'queued'
end
redis.call('HSET', bkey, 'cancel', '1')
return 'running'
"""
)

# ARGV: ticket id, now (epoch s). A ready ticket its owner is done with ends now
# ('released'; 'not_ready' otherwise): it expires, and its build is held only
# as long as the other live tickets holding it, so the sweep can delete it and
# give its space back at once when none does.
DISCARD_SCRIPT = (
    EMIT_EVENT_LUA
    + """
local p = 'filegate:'
local tkey = p .. 'ticket:' .. ARGV[1]
if redis.call('HGET', tkey, 'status') ~= 'ready' then return 'not_ready' end
redis.call('HSET', tkey, 'status', 'expired', 'expires_at', ARGV[2])
emit_event(ARGV[1], 'status', cjson.encode({status = 'expired', reason = 'released'}), false)
redis.pcall('HINCRBY', p .. 'metrics', 'tickets:expired', 1)
local build_id = redis.call('HGET', tkey, 'build_id')
if not build_id then return 'released' end
local bkey = p .. 'build:' .. build_id
local held_until = tonumber(ARGV[2])
for _, other in ipairs(redis.call('SMEMBERS', bkey .. ':tickets')) do
  local okey = p .. 'ticket:' .. other
  local status = redis.call('HGET', okey, 'status')
  if status == 'queued' or status == 'preparing' or status == 'ready' then
    held_until = math.max(held_until, tonumber(redis.call('HGET', okey, 'expires_at')))
  end
end
if redis.call('HGET', bkey, 'status') == 'ready' then
  redis.call('HSET', bkey, 'expires_at', held_until)
  redis.call('ZADD', p .. 'builds:expiry', held_until, build_id)
end
return 'released'
"""
)

# ARGV: build id, now (epoch s). 'gone', 'held' (a live ticket holds it),
# 'busy' (still building: next sweep) or 'delete' (it is now deleting: no
# new request can reach it, and its tickets are marked expired).
RETIRE_SCRIPT = (
    EMIT_EVENT_LUA
    + QUEUE_LUA
    + """
local p = 'filegate:'
local bkey = p .. 'build:' .. ARGV[1]
if redis.call('EXISTS', bkey) == 0 then
  redis.call('ZREM', p .. 'builds:expiry', ARGV[1])
  return 'gone'
end
local held_until = tonumber(redis.call('HGET', bkey, 'expires_at'))
if held_until > tonumber(ARGV[2]) then
  redis.call('ZADD', p .. 'builds:expiry', held_until, ARGV[1])
  return 'held'
end
local status = redis.call('HGET', bkey, 'status')
if status == 'building' then return 'busy' end
if status == 'deleting' then return 'delete' end
dequeue(ARGV[1])
redis.call('HSET', bkey, 'status', 'deleting')
local fpkey = p .. 'fingerprint:' .. redis.call('HGET', bkey, 'fingerprint')
if redis.call('GET', fpkey) == ARGV[1] then redis.call('DEL', fpkey) end
local event = cjson.encode({status = 'expired'})
local expired = 0
for _, ticket_id in ipairs(redis.call('SMEMBERS', bkey .. ':tickets')) do
  local tkey = p .. 'ticket:' .. ticket_id
  local ticket_status = redis.call('HGET', tkey, 'status')
  if ticket_status and ticket_status ~= 'expired' and ticket_status ~= 'cancelled' then
    redis.call('HSET', tkey, 'status', 'expired')
    emit_event(ticket_id, 'status', event, false)
    expired = expired + 1
  end
end
if expired > 0 then redis.pcall('HINCRBY', p .. 'metrics', 'tickets:expired', expired) end
return 'delete'
"""
)

# ARGV: build id. Forgets a build whose objects are deleted.
FORGET_SCRIPT = """
local p = 'filegate:'
local bkey = p .. 'build:' .. ARGV[1]
if redis.call('HGET', bkey, 'status') ~= 'deleting' then return 0 end
if redis.call('SREM', p .. 'running', ARGV[1]) == 1 then
  -- admitted but never started (its tickets expired first): give the slot back
  redis.call('DECRBY', p .. 'space:reserved', tonumber(redis.call('HGET', bkey, 'reserved') or '0'))
else
  local held = tonumber(redis.call('HGET', bkey, 'held') or '0')
  redis.call('DECRBY', p .. 'space:held', held)
  -- a stored archive deleted (a failed or cancelled build left nothing to delete)
  if held > 0 then
    redis.pcall('HINCRBY', p .. 'metrics', 'deletes', 1)
    redis.pcall('HINCRBY', p .. 'metrics', 'deleted_bytes', held)
  end
end
redis.call('DEL', bkey, bkey .. ':manifest', bkey .. ':tickets')
redis.call('ZREM', p .. 'builds:expiry', ARGV[1])
return 1
"""

# ARGV: build id, fingerprint, now. A ready build whose objects went missing:
# no new request may reuse it, and the sweeper deletes what is left.
DROP_SCRIPT = """
local p = 'filegate:'
local bkey = p .. 'build:' .. ARGV[1]
local fpkey = p .. 'fingerprint:' .. ARGV[2]
if redis.call('GET', fpkey) == ARGV[1] then redis.call('DEL', fpkey) end
if redis.call('HGET', bkey, 'status') == 'ready' then
  redis.call('HSET', bkey, 'status', 'deleting')
  redis.call('ZADD', p .. 'builds:expiry', ARGV[3], ARGV[1])
end
return 1
"""


@dataclass(frozen=True, slots=True)
class BuildRecord:
    build_id: str
    status: BuildStatus
    fingerprint: str
    expires_at: datetime
    options: ArchiveOptions
    parts: list[Part]
    queued_at: datetime | None = None

    @classmethod
    def from_redis(cls, build_id: str, fields: dict[str, str]) -> BuildRecord:
        return cls(
            build_id=build_id,
            status=BuildStatus(fields["status"]),
            fingerprint=fields["fingerprint"],
            expires_at=datetime.fromtimestamp(float(fields["expires_at"]), UTC),
            options=ArchiveOptions(**json.loads(fields["options"])),
            parts=[Part(**part) for part in json.loads(fields.get("parts", "[]"))],
            queued_at=datetime.fromtimestamp(int(fields["queued_at"]) / 1000, UTC)
            if fields.get("queued_at")
            else None,
        )


def transition_args(
    build_id: str, status: BuildStatus, event: dict[str, Any], fields: dict[str, str]
) -> list[str]:
    ticket_status = TICKET_STATUS[status]
    args = [
        build_id,
        status.value,
        ",".join(state.value for state in BUILD_ALLOWED_FROM[status]),
        ticket_status.value,
        ",".join(state.value for state in ALLOWED_FROM[ticket_status]),
        json.dumps({"status": ticket_status.value, **event}),
    ]
    for name, value in fields.items():
        args += [name, value]
    return args


class BuildRegistry:
    """The worker's side (builds, sweeps, deletes), on the synchronous client."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def get(self, build_id: str) -> BuildRecord | None:
        fields = self._redis.hgetall(build_key(build_id))
        return BuildRecord.from_redis(build_id, fields) if fields else None

    def tickets(self, build_id: str) -> list[str]:
        """The tickets holding the build (for log lines that follow a ticket)."""
        return sorted(self._redis.smembers(f"{build_key(build_id)}:tickets"))

    def manifest(self, build_id: str) -> Manifest | None:
        text = self._redis.get(f"{build_key(build_id)}:manifest")
        return Manifest.from_json(text) if text is not None else None

    def transition(
        self, build_id: str, status: BuildStatus, event: dict[str, Any] | None = None, **fields: str
    ) -> bool:
        """Change the build and every ticket holding it; False when the build's status forbids it."""
        args = transition_args(build_id, status, event or {}, fields)
        return int(self._redis.eval(BUILD_TRANSITION_SCRIPT, 0, *args)) >= 0

    def progress(self, build_id: str, progress: dict[str, Any]) -> None:
        self._redis.eval(PROGRESS_SCRIPT, 0, build_id, json.dumps(progress))

    def due(self, now: datetime, limit: int = 100) -> list[str]:
        """Builds whose latest holder expired by ``now``, oldest first."""
        ids: list[str] = self._redis.zrangebyscore(
            BUILDS_BY_EXPIRY, "-inf", now.timestamp(), start=0, num=limit
        )
        return ids

    def retire(self, build_id: str, now: datetime) -> str:
        return str(self._redis.eval(RETIRE_SCRIPT, 0, build_id, repr(now.timestamp())))

    def forget(self, build_id: str) -> None:
        self._redis.eval(FORGET_SCRIPT, 0, build_id)

    def renew_lease(self, build_id: str, seconds: int = LEASE_SECONDS) -> None:
        """Tell the sweeper this build's worker is alive."""
        self._redis.set(lease_key(build_id), "1", ex=seconds)

    def drop_lease(self, build_id: str) -> None:
        self._redis.delete(lease_key(build_id))

    def reclaim_lost(self) -> list[str]:
        """Builds whose worker died, or whose message was lost: back in the queue (see
        RECLAIM_SCRIPT)."""
        now_ms = int(datetime.now(UTC).timestamp() * 1000)
        lost: list[str] = self._redis.eval(RECLAIM_SCRIPT, 0, str(now_ms), str(UNSTARTED_SECONDS * 1000))
        return lost

    def is_cancelled(self, build_id: str) -> bool:
        return bool(self._redis.hget(build_key(build_id), "cancel"))

    def release(self, build_id: str, held_bytes: int) -> None:
        """Give the build's slot back; its reservation becomes the bytes it now holds."""
        self._redis.eval(RELEASE_SCRIPT, 0, build_id, str(held_bytes))

    def dispatch(self, limits: Limits, window: int = POSITION_WINDOW) -> list[Admission]:
        """Admit what fits now; returns the builds to send to the workers. The first ``window``
        waiting builds learn their place."""
        now_ms = int(datetime.now(UTC).timestamp() * 1000)
        return admissions(self._redis.eval(DISPATCH_SCRIPT, 0, *limits.args(now_ms, window)))
