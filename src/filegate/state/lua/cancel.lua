--! uses: shared feed queue
-- Cancels the ticket; when no other pending ticket holds its build, the build too: a queued one
-- leaves the queue, a running one is flagged and stops at its next check.
-- KEYS: shared, then 8 the ticket's key. ARGV: 1 ticket id.
-- Returns 'final' (nothing to cancel), 'ticket' (others still hold the build), 'dequeued' (a
-- queued build left the queue) or 'running'.
local tkey, ticket_id = KEYS[8], ARGV[1]
local status = redis.call('HGET', tkey, 'status')
if not status or not TICKET_FROM[TS.cancelled][status] then return 'final' end
redis.call('HSET', tkey, 'status', TS.cancelled)
emit_event(ticket_id, 'status', cjson.encode({status = TS.cancelled}), false)
count('tickets:' .. TS.cancelled)
local build_id = redis.call('HGET', tkey, 'build_id')
if not build_id then return 'ticket' end
local bkey = K.build(build_id)
redis.call('SREM', K.build_tickets(build_id), ticket_id)
for _, other in ipairs(redis.call('SMEMBERS', K.build_tickets(build_id))) do
  if PENDING[redis.call('HGET', K.ticket(other), 'status')] then return 'ticket' end
end
local fpkey = K.fingerprint(redis.call('HGET', bkey, 'fingerprint'))
if redis.call('GET', fpkey) == build_id then redis.call('DEL', fpkey) end
if redis.call('HGET', bkey, 'status') == BS.queued then
  redis.call('HSET', bkey, 'status', BS.cancelled)
  dequeue(build_id)
  count('builds:' .. BS.cancelled)
  return 'dequeued'
end
redis.call('HSET', bkey, 'cancel', '1')
return 'running'
