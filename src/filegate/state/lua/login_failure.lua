-- Counts one more failed login for a name or an address; past the free ones each failure
-- blocks it for 1, 2, 4 ... seconds up to the longest.
-- KEYS: 1 the failure count, 2 the wait flag. ARGV: 1 free failures, 2 longest delay (s), 3 window (s).
local failures = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
local over = failures - tonumber(ARGV[1])
if over > 0 then
  local delay = math.min(2 ^ (over - 1), tonumber(ARGV[2]))
  redis.call('SET', KEYS[2], '1', 'EX', math.floor(delay))
end
return failures
