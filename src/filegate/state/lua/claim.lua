--! uses: shared feed queue dispatch
-- A new ticket holding the build of one fingerprint: the one queued, building or ready, else a
-- new one, queued; then, for a new build or one lifted in the queue, a dispatch. One round
-- trip for a POST /download.
-- KEYS: shared, then 8 the fingerprint's key, 9 the ticket's key.
-- ARGV: 1 fingerprint, 2 new build id, 3 ticket id, 4 ticket expiry (epoch s), 5 ticket forget
-- time, 6 ticket fields (JSON object), 7 build fields (JSON object), 8 manifest, 9 queue score,
-- 10 size estimate, 11 now (ms), 12 the ready build whose objects the caller found stored ('' for
-- none), 13-19 the dispatcher's limits (absent: no dispatch).
-- Returns {outcome, build id, ticket fields, admitted}; outcome 'new' (queued), 'joined' (it
-- is queued or building), 'reused' (the ticket is ready now with the build's parts), or
-- 'verify' with the ready build's parts and nothing written: the caller checks they are still
-- stored and calls again naming the build in ARGV[12].
local fpkey, tkey = KEYS[8], KEYS[9]
local ticket_id = ARGV[3]
local expires_at, forget_at = tonumber(ARGV[4]), tonumber(ARGV[5])
local build_id = redis.call('GET', fpkey)
local status = false
if build_id then
  status = redis.call('HGET', K.build(build_id), 'status')
  if not CLAIMABLE[status] then build_id = false end
end
if build_id and status == BS.ready and build_id ~= ARGV[12] then
  return {'verify', build_id, redis.call('HGET', K.build(build_id), 'parts')}
end
local outcome = 'joined'
local moved_to = false
if not build_id then
  build_id, status, outcome = ARGV[2], BS.queued, 'new'
  local bkey = K.build(build_id)
  redis.call('HSET', bkey, 'status', BS.queued, 'fingerprint', ARGV[1], 'expires_at', ARGV[4])
  for k, v in pairs(cjson.decode(ARGV[7])) do redis.call('HSET', bkey, k, v) end
  redis.call('SET', K.build_manifest(build_id), ARGV[8])
  redis.call('SET', fpkey, build_id)
  redis.call('HSET', bkey, 'estimate', ARGV[10], 'queued_at', ARGV[11], 'score', ARGV[9])
  enqueue(build_id, tonumber(ARGV[9]), tonumber(ARGV[10]))
  moved_to = redis.call('ZRANK', QUEUE, build_id)
elseif status == BS.ready then
  outcome = 'reused'
else
  -- a request of higher priority lifts a build still waiting (only ever forward); one
  -- admitted or building is not in the queue and stays out of it
  local current = redis.call('ZSCORE', QUEUE, build_id)
  if current and tonumber(ARGV[9]) < tonumber(current) then
    local bkey = K.build(build_id)
    dequeue(build_id)
    enqueue(build_id, tonumber(ARGV[9]), tonumber(redis.call('HGET', bkey, 'estimate') or '0'))
    redis.call('HSET', bkey, 'score', ARGV[9])
    moved_to = redis.call('ZRANK', QUEUE, build_id)
  end
end
local bkey = K.build(build_id)
redis.call('SADD', K.build_tickets(build_id), ticket_id)
local held_until = tonumber(redis.call('HGET', bkey, 'expires_at'))
if expires_at > held_until then
  redis.call('HSET', bkey, 'expires_at', ARGV[4])
  held_until = expires_at
end
redis.call('ZADD', BY_EXPIRY, held_until, build_id)
local shown = SHOWN[status]
redis.call('HSET', tkey, 'status', shown, 'build_id', build_id)
for k, v in pairs(cjson.decode(ARGV[6])) do redis.call('HSET', tkey, k, v) end
if status == BS.ready then redis.call('HSET', tkey, 'parts', redis.call('HGET', bkey, 'parts')) end
redis.call('EXPIREAT', tkey, forget_at)
list_ticket(ticket_id, ARGV[11], forget_at)
emit_event(ticket_id, 'status', cjson.encode({status = shown, ticket_id = ticket_id}), false)
if status == BS.building then
  -- a ticket joining a running build is told of the parts it has committed already
  for _, text in ipairs(redis.call('LRANGE', K.build_parts(build_id), 0, -1)) do
    local committed = cjson.decode(text)
    local part = committed.part
    emit_event(ticket_id, 'part_ready', cjson.encode({part = committed.number,
      parts_total = committed.parts_total, name = part.name, size = part.size, sha256 = part.sha256}), false)
  end
end
redis.call('EXPIREAT', K.ticket_events(ticket_id), forget_at)
count('tickets:created')
if status == BS.ready then
  count('tickets:' .. TS.ready)
  count('cache_hits')
end
local admitted = {}
-- A new build, or one lifted to a higher priority, changed the places from its own on.
if moved_to and ARGV[13] then admitted = dispatch_from(13, moved_to) end
return {outcome, build_id, redis.call('HGETALL', tkey), admitted}
