-- GCRA (the generic cell rate algorithm): one key per caller holding the theoretical arrival
-- time. Returns 0 when the request is allowed (and counts it), else the milliseconds until the
-- next one would be.
local function rate_hit(key, now, interval, burst)
  local tat = math.max(tonumber(redis.call('GET', key) or now), now)
  local new_tat = tat + interval
  local wait = new_tat - now - burst * interval
  if wait > 0 then return wait end
  redis.call('SET', key, new_tat, 'PX', new_tat - now)
  return 0
end
