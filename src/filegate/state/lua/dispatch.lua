--! uses: shared feed queue dispatch
-- Admit what fits now (lib/dispatch.lua). KEYS: shared. ARGV: 1-7 the limits (state/queue.py).
return dispatch_from(1)
