--! uses: shared feed
-- A build changes status, and every ticket holding it that may follow shows it.
-- KEYS: shared, then 8 the build's key.
-- ARGV: 1 build id, 2 new build status, 3 event JSON, 4 the worker that must hold the build's
-- lease for the change ('' when any may change it), then field/value pairs set on the build and
-- on each ticket. Returns the number of tickets changed, -1 when the build's status does not
-- allow the change (BUILD_FROM), -2 when another worker holds the build (lua/lease.lua).
local bkey, build_id, to = KEYS[8], ARGV[1], ARGV[2]
local current = redis.call('HGET', bkey, 'status')
if not current or not BUILD_FROM[to][current] then return -1 end
if ARGV[4] ~= '' and redis.call('HGET', bkey, 'holder') ~= ARGV[4] then return -2 end
redis.call('HSET', bkey, 'status', to)
for i = 5, #ARGV, 2 do redis.call('HSET', bkey, ARGV[i], ARGV[i + 1]) end
if ENDED[to] then
  local fpkey = K.fingerprint(redis.call('HGET', bkey, 'fingerprint'))
  if redis.call('GET', fpkey) == build_id then redis.call('DEL', fpkey) end
end
local shown = SHOWN[to]
local changed = 0
for _, ticket_id in ipairs(redis.call('SMEMBERS', K.build_tickets(build_id))) do
  local tkey = K.ticket(ticket_id)
  local status = redis.call('HGET', tkey, 'status')
  if status and TICKET_FROM[shown][status] then
    redis.call('HSET', tkey, 'status', shown)
    for i = 5, #ARGV, 2 do redis.call('HSET', tkey, ARGV[i], ARGV[i + 1]) end
    emit_event(ticket_id, 'status', ARGV[3], false)
    changed = changed + 1
  end
end
if to ~= BS.building then count('builds:' .. to) end
if changed > 0 and shown ~= TS.preparing then count('tickets:' .. shown, changed) end
return changed
