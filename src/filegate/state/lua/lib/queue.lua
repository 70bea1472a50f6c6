-- The queue is two sorted sets kept together: by score (priority, then arrival) and by size
-- (largest first, then queue order), so the dispatcher finds the head and the largest build
-- that fits in O(log n). Every script that queues or unqueues a build goes through these.
local function by_size_member(score, build_id)
  return string.format('%020.0f', score) .. ':' .. build_id
end

local function enqueue(build_id, score, estimate)
  redis.call('ZADD', QUEUE, score, build_id)
  redis.call('ZADD', BY_SIZE, -estimate, by_size_member(score, build_id))
end

local function dequeue(build_id)
  local score = redis.call('ZSCORE', QUEUE, build_id)
  if not score then return false end
  redis.call('ZREM', QUEUE, build_id)
  redis.call('ZREM', BY_SIZE, by_size_member(tonumber(score), build_id))
  return true
end
