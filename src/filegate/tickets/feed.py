"""Each ticket event goes to two streams: the ticket's own, and its owner's feed.

A page follows all of its caller's tickets through one connection (browsers
allow six per origin over HTTP/1.1), so every script that writes a ticket's
event also appends it, naming the ticket, to the feed of the ticket's owner.
One stream per owner makes the feed resumable by one ``Last-Event-ID``, and a
ticket made in another tab appears in it without anything to subscribe to.
"""

from __future__ import annotations

FEED_MAXLEN = 10_000
"""About this many recent events stay in a feed; a client further behind is told to resync."""

# Lua functions for the scripts that write tickets and their events.
# ``list_ticket`` adds a new ticket to its owner's list (GET /tickets). ``capped``: a frequent
# kind (progress, position) that trims the ticket's stream to ~1000 entries.
# The feed lives as long as the longest-lived ticket it has carried.
EMIT_EVENT_LUA = f"""
local function list_ticket(ticket_id, created_ms, forget_at)
  local owner = redis.call('HGET', 'filegate:ticket:' .. ticket_id, 'owner')
  if not owner or owner == '' then return end
  local listed = 'filegate:owner:' .. owner .. ':tickets'
  redis.call('ZADD', listed, created_ms, ticket_id)
  if forget_at * 1000 > redis.call('PEXPIRETIME', listed) then redis.call('EXPIREAT', listed, forget_at) end
end
local function emit_event(ticket_id, name, data, capped)
  local tkey = 'filegate:ticket:' .. ticket_id
  if capped then
    redis.call('XADD', tkey .. ':events', 'MAXLEN', '~', 1000, '*', 'event', name, 'data', data)
  else
    redis.call('XADD', tkey .. ':events', '*', 'event', name, 'data', data)
  end
  local owner = redis.call('HGET', tkey, 'owner')
  if owner and owner ~= '' then
    local feed = 'filegate:owner:' .. owner .. ':events'
    redis.call('XADD', feed, 'MAXLEN', '~', {FEED_MAXLEN}, '*',
      'ticket', ticket_id, 'event', name, 'data', data)
    local ttl = redis.call('PTTL', tkey)
    if ttl > redis.call('PTTL', feed) then redis.call('PEXPIRE', feed, ttl) end
  end
end
"""
