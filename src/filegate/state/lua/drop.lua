--! uses: shared
-- A ready build whose objects went missing: no new request may reuse it, and the sweeper
-- deletes what is left.
-- KEYS: shared, then 8 the build's key, 9 its fingerprint's key. ARGV: 1 build id, 2 now (epoch s).
local bkey, fpkey, build_id = KEYS[8], KEYS[9], ARGV[1]
if redis.call('GET', fpkey) == build_id then redis.call('DEL', fpkey) end
if redis.call('HGET', bkey, 'status') == BS.ready then
  redis.call('HSET', bkey, 'status', BS.deleting)
  redis.call('ZADD', BY_EXPIRY, ARGV[2], build_id)
end
return 1
