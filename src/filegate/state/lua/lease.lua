--! uses: shared
-- The one worker building a build holds its lease; a build delivered twice, or reclaimed while
-- its old worker was only cut off, never has two workers writing its parts. The holder is named
-- on the build ('holder'); the lease key, renewed while the holder works, lapses when it stops.
-- KEYS: shared, then 8 the build's key. ARGV: 1 build id, 2 holder, 3 seconds, 4 'take', 'renew'
-- or 'drop', 5 for 'take': '1' to take it from a holder known to be dead.
-- take: 1 when taken; 0 when another holder's lease is still running (that holder is returned
-- second). renew: 1, or 0 when another holder took the build over. drop: 1, or 0 when not held.
local bkey, lkey, holder, mode = KEYS[8], K.lease(ARGV[1]), ARGV[2], ARGV[4]
local current = redis.call('HGET', bkey, 'holder')
if mode == 'take' then
  local running = redis.call('GET', lkey)
  if running and current and current ~= holder and ARGV[5] ~= '1' then return {0, current} end
  redis.call('HSET', bkey, 'holder', holder)
  redis.call('SET', lkey, holder, 'EX', tonumber(ARGV[3]))
  return {1, holder}
end
if current ~= holder then return 0 end
if mode == 'renew' then
  redis.call('SET', lkey, holder, 'EX', tonumber(ARGV[3]))
else
  redis.call('DEL', lkey)
end
return 1
