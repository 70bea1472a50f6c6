--! uses: shared feed
-- A running build committed a part: it is listed on the build (a build delivered again after its
-- worker died starts after its last listed part) and every ticket following the build is told.
-- KEYS: shared, then 8 the build's key. ARGV: 1 build id, 2 the committed part (JSON), 3 the
-- event (JSON), 4 the worker that holds the build's lease. Returns the number of tickets told, -1
-- when the build is not building, -2 when another worker took the build over (lua/lease.lua).
local bkey, build_id = KEYS[8], ARGV[1]
if redis.call('HGET', bkey, 'status') ~= BS.building then return -1 end
if redis.call('HGET', bkey, 'holder') ~= ARGV[4] then return -2 end
redis.call('RPUSH', K.build_parts(build_id), ARGV[2])
local told = 0
for _, ticket_id in ipairs(redis.call('SMEMBERS', K.build_tickets(build_id))) do
  if redis.call('HGET', K.ticket(ticket_id), 'status') == TS.preparing then
    emit_event(ticket_id, 'part_ready', ARGV[3], false)
    told = told + 1
  end
end
return told
