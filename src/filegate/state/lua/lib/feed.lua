-- Each ticket event goes to two streams: the ticket's own, and its owner's feed.
-- A page follows all of its caller's tickets through one connection (browsers allow six per
-- origin over HTTP/1.1), so every event is also appended, naming the ticket, to the feed of
-- the ticket's owner: one stream per owner, resumable by one Last-Event-ID, in which a ticket
-- made in another tab appears without anything to subscribe to. The feed lives as long as
-- the longest-lived ticket it has carried.

-- A new ticket joins its owner's list (GET /tickets).
local function list_ticket(ticket_id, created_ms, forget_at)
  local owner = redis.call('HGET', K.ticket(ticket_id), 'owner')
  if not owner or owner == '' then return end
  local listed = K.owner_tickets(owner)
  redis.call('ZADD', listed, created_ms, ticket_id)
  if forget_at * 1000 > redis.call('PEXPIRETIME', listed) then redis.call('EXPIREAT', listed, forget_at) end
end

-- ``capped``: a frequent kind (progress, position) that trims the ticket's stream.
local function emit_event(ticket_id, name, data, capped)
  local tkey = K.ticket(ticket_id)
  if capped then
    redis.call('XADD', K.ticket_events(ticket_id), 'MAXLEN', '~', TICKET_EVENTS_MAXLEN, '*',
      'event', name, 'data', data)
  else
    redis.call('XADD', K.ticket_events(ticket_id), '*', 'event', name, 'data', data)
  end
  local owner = redis.call('HGET', tkey, 'owner')
  if owner and owner ~= '' then
    local feed = K.owner_feed(owner)
    redis.call('XADD', feed, 'MAXLEN', '~', FEED_MAXLEN, '*', 'ticket', ticket_id, 'event', name, 'data', data)
    local ttl = redis.call('PTTL', tkey)
    if ttl > redis.call('PTTL', feed) then redis.call('PEXPIRE', feed, ttl) end
  end
end

-- Counting cannot fail a change: pcall.
local function count(field, by)
  redis.pcall('HINCRBY', METRICS, field, by or 1)
end
