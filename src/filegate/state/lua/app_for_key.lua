--! uses: rate
-- The app an API key belongs to, in one round trip; with a rate limit, the request is counted
-- against the app's limit in the same trip (lib/rate.lua).
-- KEYS: 1 the key's digest entry. ARGV (optional): 1 the limit's rate key for apps without the
-- app id, 2 now (ms), 3 emission interval (ms), 4 burst.
-- Returns {wait ms (0: allowed or no limit), app id, field, value, ...} or nil.
local app_id = redis.call('GET', KEYS[1])
if not app_id then return nil end
local fields = redis.call('HGETALL', K.app(app_id))
if #fields == 0 then return nil end
local wait = 0
if ARGV[1] then
  wait = rate_hit(ARGV[1] .. app_id, tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]))
end
table.insert(fields, 1, app_id)
table.insert(fields, 1, wait)
return fields
