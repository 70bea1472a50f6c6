--! uses: shared feed
-- A build's progress, stored on and sent to every ticket holding it.
-- KEYS: shared, then 8 the build's ticket set. ARGV: 1 progress JSON.
for _, ticket_id in ipairs(redis.call('SMEMBERS', KEYS[8])) do
  local tkey = K.ticket(ticket_id)
  if redis.call('EXISTS', tkey) == 1 then
    redis.call('HSET', tkey, 'progress', ARGV[1])
    -- a long build sends thousands: the stream keeps about the last TICKET_EVENTS_MAXLEN
    emit_event(ticket_id, 'progress', ARGV[1], true)
  end
end
return 1
