--! uses: shared queue
-- Running builds whose worker stopped renewing their lease (killed, machine lost), and admitted
-- builds whose message never reached a worker, go back to the front of their priority in the
-- queue, their slot and reservation given back; a cancelled one whose message was lost just
-- gives them back. KEYS: shared. ARGV: 1 now (ms), 2 how long an admitted build may stay
-- unstarted (ms). Returns the ids queued again.
local now, unstarted = tonumber(ARGV[1]), tonumber(ARGV[2])
local lost = {}
for _, build_id in ipairs(redis.call('SMEMBERS', RUNNING)) do
  local bkey = K.build(build_id)
  local status = redis.call('HGET', bkey, 'status')
  local admitted_at = tonumber(redis.call('HGET', bkey, 'admitted_at') or now)
  local dead = status == BS.building and redis.call('EXISTS', K.lease(build_id)) == 0
  local stranded = (status == BS.queued or status == BS.cancelled) and now - admitted_at > unstarted
  if dead or stranded then
    redis.call('SREM', RUNNING, build_id)
    redis.call('DECRBY', RESERVED, tonumber(redis.call('HGET', bkey, 'reserved') or '0'))
    redis.call('HSET', bkey, 'reserved', 0)
    if status ~= BS.cancelled then
      local score = tonumber(redis.call('HGET', bkey, 'score') or ARGV[1])
      enqueue(build_id, score, tonumber(redis.call('HGET', bkey, 'estimate') or '0'))
      table.insert(lost, build_id)
    end
  end
end
return lost
