--! uses: shared
-- A build gives its slot back and its reservation becomes what it stores.
-- KEYS: shared, then 8 the build's key. ARGV: 1 build id, 2 bytes now stored for it (0 when it
-- failed). Returns 0 when it held no slot.
local bkey = KEYS[8]
if redis.call('SREM', RUNNING, ARGV[1]) == 0 then return 0 end
redis.call('DECRBY', RESERVED, tonumber(redis.call('HGET', bkey, 'reserved') or '0'))
redis.call('HSET', bkey, 'reserved', 0, 'held', ARGV[2])
redis.call('INCRBY', HELD, ARGV[2])
return 1
