"""Where a ticket lives in Redis, and the script that changes its status atomically."""

from __future__ import annotations

PREFIX = "filegate"


def ticket_key(ticket_id: str) -> str:
    return f"{PREFIX}:ticket:{ticket_id}"


def events_key(ticket_id: str) -> str:
    return f"{PREFIX}:ticket:{ticket_id}:events"


# KEYS: ticket hash, event stream.  ARGV: new status, allowed current
# statuses (comma separated), event JSON, then field/value pairs to set.
# Returns the event id, or false when the current status does not allow it:
# checking and changing in one step keeps two writers from crossing.
TRANSITION_SCRIPT = """
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return false end
local allowed = false
for state in string.gmatch(ARGV[2], '[^,]+') do
  if state == current then allowed = true end
end
if not allowed then return false end
redis.call('HSET', KEYS[1], 'status', ARGV[1])
for i = 4, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
return redis.call('XADD', KEYS[2], '*', 'event', 'status', 'data', ARGV[3])
"""
