--! uses: shared feed
-- A ticket that needs no build (one file linked directly): created and ready at once.
-- KEYS: shared, then 8 the ticket's key.
-- ARGV: 1 ticket id, 2 its fields (JSON), 3 created (epoch ms), 4 forget at (epoch s), 5 first event.
local tkey = KEYS[8]
for k, v in pairs(cjson.decode(ARGV[2])) do redis.call('HSET', tkey, k, v) end
redis.call('EXPIREAT', tkey, ARGV[4])
list_ticket(ARGV[1], ARGV[3], tonumber(ARGV[4]))
emit_event(ARGV[1], 'status', ARGV[5], false)
redis.call('EXPIREAT', K.ticket_events(ARGV[1]), ARGV[4])
count('tickets:created')
count('tickets:' .. TS.ready)
count('direct_links')
return 1
