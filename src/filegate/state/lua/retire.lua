--! uses: shared feed queue
-- The sweeper's step for one build due by now: 'gone', 'held' (a live ticket holds it), 'busy'
-- (still building: next sweep) or 'delete' (it is now deleting: no new request can reach it,
-- and its tickets are expired).
-- KEYS: shared, then 8 the build's key. ARGV: 1 build id, 2 now (epoch s).
local bkey, build_id = KEYS[8], ARGV[1]
if redis.call('EXISTS', bkey) == 0 then
  redis.call('ZREM', BY_EXPIRY, build_id)
  return 'gone'
end
local held_until = tonumber(redis.call('HGET', bkey, 'expires_at'))
if held_until > tonumber(ARGV[2]) then
  redis.call('ZADD', BY_EXPIRY, held_until, build_id)
  return 'held'
end
local status = redis.call('HGET', bkey, 'status')
if status == BS.deleting then return 'delete' end
if not BUILD_FROM[BS.deleting][status] then return 'busy' end
dequeue(build_id)
redis.call('HSET', bkey, 'status', BS.deleting)
local fpkey = K.fingerprint(redis.call('HGET', bkey, 'fingerprint'))
if redis.call('GET', fpkey) == build_id then redis.call('DEL', fpkey) end
local event = cjson.encode({status = TS.expired})
local expired = 0
for _, ticket_id in ipairs(redis.call('SMEMBERS', K.build_tickets(build_id))) do
  local tkey = K.ticket(ticket_id)
  local ticket_status = redis.call('HGET', tkey, 'status')
  if ticket_status and TICKET_FROM[TS.expired][ticket_status] then
    redis.call('HSET', tkey, 'status', TS.expired)
    emit_event(ticket_id, 'status', event, false)
    expired = expired + 1
  end
end
if expired > 0 then count('tickets:' .. TS.expired, expired) end
return 'delete'
