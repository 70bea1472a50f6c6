-- GCRA (the generic cell rate algorithm): one key per caller holding the theoretical arrival
-- time. KEYS: 1 the caller's rate key. ARGV: 1 now (ms), 2 emission interval (ms), 3 burst.
-- Returns 0 when allowed, else the milliseconds until the next request would be.
local now, interval, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or ARGV[1]), now)
local new_tat = tat + interval
local wait = new_tat - now - burst * interval
if wait > 0 then return wait end
redis.call('SET', KEYS[1], new_tat, 'PX', new_tat - now)
return 0
