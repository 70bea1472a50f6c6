-- The dispatcher (scheduling/dispatcher.py has the why): admits queued builds in order while
-- a slot is free and each fits in the space left; behind the first that does not fit, admits
-- the largest that do (backfill), unless that one is starving. Its cost grows with the slots
-- and the position window, not with the queue. Returns the admitted {build id, priority rank}.
local function estimate_of(build_id)
  return tonumber(redis.call('HGET', K.build(build_id), 'estimate') or '0')
end

-- from_rank (0-based, optional): the first place that may have changed since the last dispatch
-- (a build just queued at the tail changes no place before its own). When nothing is admitted,
-- nothing before it moved and the room is the same, so only the places from there are looked at.
local function dispatch(max_slots, budget, free, now, max_wait, weight, window, from_rank)
  local running = redis.call('SCARD', RUNNING)
  local held = tonumber(redis.call('GET', HELD) or '0')
  local reserved = tonumber(redis.call('GET', RESERVED) or '0')
  local admitted = {}
  -- A queue left by a release without the index by size (an upgrade) gets it once, here.
  if redis.call('ZCARD', QUEUE) ~= redis.call('ZCARD', BY_SIZE) then
    redis.call('DEL', BY_SIZE)
    local queued = redis.call('ZRANGE', QUEUE, 0, -1, 'WITHSCORES')
    for i = 1, #queued, 2 do
      redis.call('ZADD', BY_SIZE, -estimate_of(queued[i]), by_size_member(tonumber(queued[i + 1]), queued[i]))
    end
  end
  local function room()
    local left = math.huge
    if budget >= 0 then left = math.min(left, budget - held - reserved) end
    if free >= 0 then left = math.min(left, free - reserved) end
    return left
  end
  local function fits(estimate) return estimate <= room() end
  local function admit(build_id, score, estimate)
    redis.call('ZREM', QUEUE, build_id)
    redis.call('ZREM', BY_SIZE, by_size_member(score, build_id))
    redis.call('SADD', RUNNING, build_id)
    redis.call('HSET', K.build(build_id), 'reserved', estimate, 'position', 0, 'admitted_at', now)
    reserved = reserved + estimate
    running = running + 1
    table.insert(admitted, {build_id, math.floor(score / weight)})
  end
  -- In order while each fits; the first that does not is passed over.
  local passed_over = nil
  while running < max_slots do
    local head = redis.call('ZRANGE', QUEUE, 0, 0, 'WITHSCORES')
    if #head == 0 then break end
    local estimate = estimate_of(head[1])
    if not fits(estimate) then passed_over = head[1] break end
    admit(head[1], tonumber(head[2]), estimate)
  end
  -- Backfill: the builds behind it that fit, largest first, so that small ones are left to
  -- run beside the large ones still waiting. Not once the passed-over build has waited
  -- max_wait, or has less than that left to live: then nothing overtakes it (no starvation).
  if passed_over and running < max_slots then
    local pkey = K.build(passed_over)
    local queued_at = tonumber(redis.call('HGET', pkey, 'queued_at') or now)
    local expires_at = tonumber(redis.call('HGET', pkey, 'expires_at') or '-1')
    local starving = now - queued_at > max_wait
      or (expires_at >= 0 and expires_at * 1000 - now < max_wait)
    while not starving and running < max_slots do
      local left = room()
      if left < 0 then break end
      local least = left == math.huge and '-inf' or string.format('%.0f', -left)
      -- The largest that fits (scores are minus the size), skipping the one passed over.
      local pick = nil
      for _, member in ipairs(redis.call('ZRANGEBYSCORE', BY_SIZE, least, '+inf', 'LIMIT', 0, 2)) do
        if string.sub(member, 22) ~= passed_over then pick = member break end
      end
      if not pick then break end
      local build_id = string.sub(pick, 22)
      admit(build_id, tonumber(string.sub(pick, 1, 20)), estimate_of(build_id))
    end
  end
  -- The first builds still waiting learn their place and why, when either changed.
  local first = 0
  if #admitted == 0 and from_rank then first = math.min(from_rank, window) end
  for offset, build_id in ipairs(first < window and redis.call('ZRANGE', QUEUE, first, window - 1) or {}) do
    local position = first + offset
    local bkey = K.build(build_id)
    local known = redis.call('HMGET', bkey, 'position', 'estimate')
    local reason = 'waiting_for_slot'
    if running < max_slots or build_id == passed_over or not fits(tonumber(known[2] or '0')) then
      reason = 'waiting_for_space'
    end
    local shown = tostring(position) .. ':' .. reason
    if known[1] ~= shown then
      redis.call('HSET', bkey, 'position', shown)
      local event = cjson.encode({position = position, reason = reason})
      for _, ticket_id in ipairs(redis.call('SMEMBERS', K.build_tickets(build_id))) do
        local tkey = K.ticket(ticket_id)
        if redis.call('HGET', tkey, 'status') == TS.queued then
          redis.call('HSET', tkey, 'position', event)
          emit_event(ticket_id, 'position', event, true)
        end
      end
    end
  end
  redis.call('SET', RESERVED, reserved)
  return admitted
end

-- The limits as the Python side sends them (state/queue.py, Limits.args), from ARGV[first].
local function dispatch_from(first, from_rank)
  local a = {}
  for i = first, first + 6 do a[#a + 1] = tonumber(ARGV[i]) end
  return dispatch(a[1], a[2], a[3], a[4], a[5], a[6], a[7], from_rank)
end
