"""The dispatcher: admits queued builds while a slot is free and the space budget holds them.

Celery alone runs tasks first in, first out; filegate decides instead. Queued
builds wait in a sorted set (priority, then arrival). One Lua script walks it
in order and admits each build while it fits. The first that does not fit in
the free space is passed over, and the builds behind it that fit are admitted
instead, largest first (backfill): no slot idles while a waiting build fits,
and the small builds are left to run beside the large ones still waiting. Once
the build passed over has waited longer than ``max_wait``, or has less than
``max_wait`` left before its tickets expire, nothing overtakes it any more
until it fits (no starvation).
Running the script twice at once is harmless: Redis runs scripts one at a time,
and each admitted build leaves the queue as it is admitted.

Space: ``held`` counts the bytes of ready archives still stored, ``reserved``
the estimates of running builds. A fixed budget must hold both; with
``auto`` the free space of the output file system (which already excludes
what is held) minus a reserve must hold the reservations.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass

from filegate.archive.parts import END_RECORDS_BOUND, entry_bound
from filegate.scheduling.priority import BY_RANK, RANK, Priority
from filegate.settings import Settings, StorageKind
from filegate.snapshot.manifest import Manifest
from filegate.tickets.feed import EMIT_EVENT_LUA

QUEUE = "filegate:queue"
BY_SIZE = "filegate:queue:by-size"
RUNNING = "filegate:running"
HELD = "filegate:space:held"
RESERVED = "filegate:space:reserved"
# Priority dominates the score; arrival (ms) orders within a priority.
_PRIORITY_WEIGHT = 10**14
POSITION_WINDOW = 100
"""Each dispatch tells the first this many waiting builds their place; the sweep tells all."""
ALL_POSITIONS = 100_000


def by_size_member(score: int, build_id: str) -> str:
    """A queued build in the index by size: its queue score first, so equal sizes keep queue order."""
    return f"{score:020d}:{build_id}"


# Lua functions for the scripts that change the queue. The queue is two sorted sets kept
# together: by score (priority, then arrival) and by size (largest first, then queue order),
# so the dispatcher finds the head and the largest build that fits in O(log n).
QUEUE_LUA = """
local function by_size_member(score, build_id)
  return string.format('%020.0f', score) .. ':' .. build_id
end
local function enqueue(build_id, score, estimate)
  redis.call('ZADD', 'filegate:queue', score, build_id)
  redis.call('ZADD', 'filegate:queue:by-size', -estimate, by_size_member(score, build_id))
end
local function dequeue(build_id)
  local score = redis.call('ZSCORE', 'filegate:queue', build_id)
  if not score then return false end
  redis.call('ZREM', 'filegate:queue', build_id)
  redis.call('ZREM', 'filegate:queue:by-size', by_size_member(tonumber(score), build_id))
  return true
end
"""

# ARGV: max slots, fixed budget (-1: none), free space for builds (-1: not
# measured), now (ms), max wait (ms), priority weight, how many waiting builds
# learn their place. Returns the admitted builds as {build id, priority rank} pairs.
# Its cost grows with the slots and that window, not with the queue: the head is
# read one build at a time, and backfill asks the index by size for the largest
# build that fits.
DISPATCH_SCRIPT = (
    EMIT_EVENT_LUA
    + QUEUE_LUA
    + """
local p = 'filegate:'
local max_slots, budget, free = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local now, max_wait, weight = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local window = tonumber(ARGV[7])
local running = redis.call('SCARD', p .. 'running')
local held = tonumber(redis.call('GET', p .. 'space:held') or '0')
local reserved = tonumber(redis.call('GET', p .. 'space:reserved') or '0')
local admitted = {}
local function estimate_of(build_id)
  return tonumber(redis.call('HGET', p .. 'build:' .. build_id, 'estimate') or '0')
end
-- A queue left by a release without the index by size (an upgrade) gets it once, here.
if redis.call('ZCARD', p .. 'queue') ~= redis.call('ZCARD', p .. 'queue:by-size') then
  redis.call('DEL', p .. 'queue:by-size')
  local queued = redis.call('ZRANGE', p .. 'queue', 0, -1, 'WITHSCORES')
  for i = 1, #queued, 2 do
    local member = by_size_member(tonumber(queued[i + 1]), queued[i])
    redis.call('ZADD', p .. 'queue:by-size', -estimate_of(queued[i]), member)
  end
end
local function room()
  local left = math.huge
  if budget >= 0 then left = math.min(left, budget - held - reserved) end
  if free >= 0 then left = math.min(left, free - reserved) end
  return left
end
local function fits(estimate) return estimate <= room() end
local function admit(build_id, score, estimate)
  redis.call('ZREM', p .. 'queue', build_id)
  redis.call('ZREM', p .. 'queue:by-size', by_size_member(score, build_id))
  redis.call('SADD', p .. 'running', build_id)
  redis.call('HSET', p .. 'build:' .. build_id, 'reserved', estimate, 'position', 0, 'admitted_at', now)
  reserved = reserved + estimate
  running = running + 1
  table.insert(admitted, {build_id, math.floor(score / weight)})
end
-- In order while each fits; the first that does not is passed over.
local passed_over = nil
while running < max_slots do
  local head = redis.call('ZRANGE', p .. 'queue', 0, 0, 'WITHSCORES')
  if #head == 0 then break end
  local estimate = estimate_of(head[1])
  if not fits(estimate) then passed_over = head[1] break end
  admit(head[1], tonumber(head[2]), estimate)
end
-- Backfill: the builds behind it that fit, largest first, so that small ones are left to
-- run beside the large ones still waiting. Not once the passed-over build has waited
-- max_wait, or has less than that left to live: then nothing overtakes it (no starvation).
if passed_over and running < max_slots then
  local pkey = p .. 'build:' .. passed_over
  local queued_at = tonumber(redis.call('HGET', pkey, 'queued_at') or now)
  local expires_at = tonumber(redis.call('HGET', pkey, 'expires_at') or '-1')
  local starving = now - queued_at > max_wait
    or (expires_at >= 0 and expires_at * 1000 - now < max_wait)
  while not starving and running < max_slots do
    local left = room()
    if left < 0 then break end
    local least = left == math.huge and '-inf' or string.format('%.0f', -left)
    -- The largest that fits (scores are minus the size), skipping the one passed over.
    local pick = nil
    local largest = redis.call('ZRANGEBYSCORE', p .. 'queue:by-size', least, '+inf', 'LIMIT', 0, 2)
    for _, member in ipairs(largest) do
      if string.sub(member, 22) ~= passed_over then pick = member break end
    end
    if not pick then break end
    local build_id = string.sub(pick, 22)
    admit(build_id, tonumber(string.sub(pick, 1, 20)), estimate_of(build_id))
  end
end
-- The first builds still waiting learn their place and why, when either changed.
for position, build_id in ipairs(redis.call('ZRANGE', p .. 'queue', 0, window - 1)) do
  local bkey = p .. 'build:' .. build_id
  local known = redis.call('HMGET', bkey, 'position', 'estimate')
  local reason = 'waiting_for_slot'
  if running < max_slots or build_id == passed_over or not fits(tonumber(known[2] or '0')) then
    reason = 'waiting_for_space'
  end
  local shown = tostring(position) .. ':' .. reason
  if known[1] ~= shown then
    redis.call('HSET', bkey, 'position', shown)
    local event = cjson.encode({position = position, reason = reason})
    for _, ticket_id in ipairs(redis.call('SMEMBERS', bkey .. ':tickets')) do
      local tkey = p .. 'ticket:' .. ticket_id
      if redis.call('HGET', tkey, 'status') == 'queued' then
        redis.call('HSET', tkey, 'position', event)
        emit_event(ticket_id, 'position', event, true)
      end
    end
  end
end
redis.call('SET', p .. 'space:reserved', reserved)
return admitted
"""
)

# ARGV: build id, bytes now stored for it (0 when it failed). Gives the slot
# back and turns its reservation into what it really holds.
RELEASE_SCRIPT = """
local p = 'filegate:'
local bkey = p .. 'build:' .. ARGV[1]
if redis.call('SREM', p .. 'running', ARGV[1]) == 0 then return 0 end
local reserved = tonumber(redis.call('HGET', bkey, 'reserved') or '0')
redis.call('DECRBY', p .. 'space:reserved', reserved)
redis.call('HSET', bkey, 'reserved', 0, 'held', ARGV[2])
redis.call('INCRBY', p .. 'space:held', ARGV[2])
return 1
"""


def estimate_bytes(manifest: Manifest) -> int:
    """What a build may take on disk: its sources, plus headers and deflate's worst case."""
    return sum(entry_bound(entry) for entry in manifest.entries) + END_RECORDS_BOUND


LEASE_SECONDS = 30

# A build admitted but not started after this long lost its message (the broker lost it,
# or its queue was purged): it goes back in the queue. A message merely waiting for a busy
# worker is at worst sent twice, and the second finds the build started or done.
UNSTARTED_SECONDS = 600

# ARGV: now (ms), how long an admitted build may stay unstarted (ms). Running builds whose
# worker stopped renewing their lease (killed, machine lost), and admitted builds whose
# message never reached a worker, go back to the front of their priority in the queue, their
# slot and reservation given back; a cancelled one whose message was lost just gives them
# back. Returns the ids queued again.
RECLAIM_SCRIPT = (
    QUEUE_LUA
    + """
local p = 'filegate:'
local now, unstarted = tonumber(ARGV[1]), tonumber(ARGV[2])
local lost = {}
for _, build_id in ipairs(redis.call('SMEMBERS', p .. 'running')) do
  local bkey = p .. 'build:' .. build_id
  local status = redis.call('HGET', bkey, 'status')
  local admitted_at = tonumber(redis.call('HGET', bkey, 'admitted_at') or now)
  local dead = status == 'building' and redis.call('EXISTS', p .. 'lease:' .. build_id) == 0
  local stranded = (status == 'queued' or status == 'cancelled') and now - admitted_at > unstarted
  if dead or stranded then
    redis.call('SREM', p .. 'running', build_id)
    redis.call('DECRBY', p .. 'space:reserved', tonumber(redis.call('HGET', bkey, 'reserved') or '0'))
    redis.call('HSET', bkey, 'reserved', 0)
    if status ~= 'cancelled' then
      local score = tonumber(redis.call('HGET', bkey, 'score') or ARGV[1])
      enqueue(build_id, score, tonumber(redis.call('HGET', bkey, 'estimate') or '0'))
      table.insert(lost, build_id)
    end
  end
end
return lost
"""
)


def lease_key(build_id: str) -> str:
    return f"filegate:lease:{build_id}"


def queue_score(priority: Priority, arrival_ms: int) -> int:
    return RANK[priority] * _PRIORITY_WEIGHT + arrival_ms


@dataclass(frozen=True, slots=True)
class Admission:
    """A build the dispatcher let in: it is to be sent to the workers at its priority."""

    build_id: str
    priority: Priority


def admissions(reply: list[list[str | int]]) -> list[Admission]:
    """The DISPATCH script's reply, read."""
    return [Admission(str(build_id), BY_RANK[int(rank)]) for build_id, rank in reply]


@dataclass(frozen=True, slots=True)
class Limits:
    max_slots: int
    budget: int
    """Bytes for held archives and running builds together; -1 for no fixed budget."""
    free: int
    """Bytes free on the output file system minus the reserve; -1 when not measured."""
    max_wait_ms: int

    def args(self, now_ms: int, window: int = POSITION_WINDOW) -> list[str]:
        return [
            str(self.max_slots),
            str(self.budget),
            str(self.free),
            str(now_ms),
            str(self.max_wait_ms),
            str(_PRIORITY_WEIGHT),
            str(window),
        ]


def current_limits(settings: Settings, max_builds: int) -> Limits:
    """The limits now, with at most ``max_builds`` at once (the setting, capped by the licence);
    ``auto`` measures the output folder's free space (local store only)."""
    budget = -1 if settings.space_budget is None else settings.space_budget
    free = -1
    if settings.space_budget is None and settings.storage is StorageKind.LOCAL:
        settings.output_dir.mkdir(parents=True, exist_ok=True)
        free = max(0, shutil.disk_usage(settings.output_dir).free - settings.space_reserve)
    return Limits(max_builds, budget, free, settings.max_wait * 1000)


def fits_at_all(settings: Settings, estimate: int) -> bool:
    """Whether a build of ``estimate`` bytes could ever run: not when it exceeds the whole budget."""
    if settings.space_budget is not None:
        return estimate <= settings.space_budget
    return True
