--! uses: shared feed
-- A ready ticket its owner is done with ends now ('released'; 'not_ready' otherwise): it expires,
-- and its build is held only as long as the other live tickets holding it, so the sweep can
-- delete it and give its space back at once when none does.
-- KEYS: shared, then 8 the ticket's key. ARGV: 1 ticket id, 2 now (epoch s).
local tkey, ticket_id = KEYS[8], ARGV[1]
if redis.call('HGET', tkey, 'status') ~= TS.ready then return 'not_ready' end
redis.call('HSET', tkey, 'status', TS.expired, 'expires_at', ARGV[2])
emit_event(ticket_id, 'status', cjson.encode({status = TS.expired, reason = 'released'}), false)
count('tickets:' .. TS.expired)
local build_id = redis.call('HGET', tkey, 'build_id')
if not build_id then return 'released' end
local bkey = K.build(build_id)
local held_until = tonumber(ARGV[2])
for _, other in ipairs(redis.call('SMEMBERS', K.build_tickets(build_id))) do
  local okey = K.ticket(other)
  if LIVE[redis.call('HGET', okey, 'status')] then
    held_until = math.max(held_until, tonumber(redis.call('HGET', okey, 'expires_at')))
  end
end
if redis.call('HGET', bkey, 'status') == BS.ready then
  redis.call('HSET', bkey, 'expires_at', held_until)
  redis.call('ZADD', BY_EXPIRY, held_until, build_id)
end
return 'released'
