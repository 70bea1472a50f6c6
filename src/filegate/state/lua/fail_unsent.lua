--! uses: shared feed
-- An admitted build whose message could not be sent to the workers: it fails with the reason,
-- and its slot and reservation are given back. KEYS: shared, then 8 the build's key.
-- ARGV: 1 build id, 2 event JSON, 3 reason. Returns the tickets failed.
local bkey, build_id = KEYS[8], ARGV[1]
local changed = 0
local current = redis.call('HGET', bkey, 'status')
if current and BUILD_FROM[BS.failed][current] then
  redis.call('HSET', bkey, 'status', BS.failed, 'error', ARGV[3])
  local fpkey = K.fingerprint(redis.call('HGET', bkey, 'fingerprint'))
  if redis.call('GET', fpkey) == build_id then redis.call('DEL', fpkey) end
  for _, ticket_id in ipairs(redis.call('SMEMBERS', K.build_tickets(build_id))) do
    local tkey = K.ticket(ticket_id)
    if TICKET_FROM[TS.failed][redis.call('HGET', tkey, 'status') or ''] then
      redis.call('HSET', tkey, 'status', TS.failed, 'error', ARGV[3])
      emit_event(ticket_id, 'status', ARGV[2], false)
      changed = changed + 1
    end
  end
  count('builds:' .. BS.failed)
  if changed > 0 then count('tickets:' .. TS.failed, changed) end
end
if redis.call('SREM', RUNNING, build_id) == 1 then
  redis.call('DECRBY', RESERVED, tonumber(redis.call('HGET', bkey, 'reserved') or '0'))
  redis.call('HSET', bkey, 'reserved', 0, 'held', 0)
end
return changed
