--! uses: rate
-- Counts one request against a rate limit (lib/rate.lua). KEYS: 1 the caller's rate key.
-- ARGV: 1 now (ms), 2 emission interval (ms), 3 burst. Returns 0 when allowed, else the
-- milliseconds until the next request would be.
return rate_hit(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))
