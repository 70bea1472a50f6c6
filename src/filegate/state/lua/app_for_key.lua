-- The app an API key belongs to, in one round trip.
-- KEYS: 1 the key's digest entry. Returns {app id, field, value, ...} or nil.
local app_id = redis.call('GET', KEYS[1])
if not app_id then return nil end
local fields = redis.call('HGETALL', K.app(app_id))
if #fields == 0 then return nil end
table.insert(fields, 1, app_id)
return fields
