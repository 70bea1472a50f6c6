--! uses: shared
-- Forgets a deleting build whose objects are deleted, giving back what it held.
-- KEYS: shared, then 8 the build's key. ARGV: 1 build id.
local bkey, build_id = KEYS[8], ARGV[1]
if redis.call('HGET', bkey, 'status') ~= BS.deleting then return 0 end
if redis.call('SREM', RUNNING, build_id) == 1 then
  -- admitted but never started (its tickets expired first): give the slot back
  redis.call('DECRBY', RESERVED, tonumber(redis.call('HGET', bkey, 'reserved') or '0'))
else
  local held = tonumber(redis.call('HGET', bkey, 'held') or '0')
  redis.call('DECRBY', HELD, held)
  -- a stored archive deleted (a failed or cancelled build left nothing to delete)
  if held > 0 then
    redis.pcall('HINCRBY', METRICS, 'deletes', 1)
    redis.pcall('HINCRBY', METRICS, 'deleted_bytes', held)
  end
end
redis.call('DEL', bkey, K.build_manifest(build_id), K.build_tickets(build_id), K.build_parts(build_id))
redis.call('ZREM', BY_EXPIRY, build_id)
return 1
