-- adjust: restock, return or shrink a SKU by a signed delta, idempotent by movement id. On-hand
-- never falls below what is reserved. Creates the SKU when it does not exist yet (delta >= 0).
local stock    = KEYS[1]              -- stock:{sku}
local holds    = KEYS[2]              -- holds:{sku}
local events   = KEYS[3]              -- events stream
local movement = KEYS[4]              -- mv:{movement_id}: marks the movement as applied (7 days)
local sku      = ARGV[1]              -- the SKU
local delta    = tonumber(ARGV[2])    -- signed change of on-hand
local offset   = ARGV[3]              -- clock offset in ms (tests only)
local MOVEMENT_RETENTION_MS = 604800000

local now = clock(offset)
if not delta or delta % 1 ~= 0 then return { 'bad_request', 'delta must be an integer' } end
local s = load_stock(stock)
local created = not s
if created then
  -- The threshold may already be set (the origin writes it first): read it, do not assume 0.
  s = { on_hand = 0, reserved = 0, sold = 0, low = tonumber(redis.call('HGET', stock, 'low')) or 0,
        state = 'out' }
end
if redis.call('EXISTS', movement) == 1 then return { 'duplicate', s.on_hand, s.reserved } end
local freed = reap(holds, events, sku, now)
s.reserved = s.reserved - freed
if s.on_hand + delta < s.reserved then
  if freed > 0 then store_stock(stock, events, sku, now, s) end
  return { 'below_reserved', s.on_hand, s.reserved }
end
s.on_hand = s.on_hand + delta
-- A new SKU's first level is where it starts, not a transition: it emits no level event.
if created then s.state = level(s.on_hand - s.reserved, s.low) end
store_stock(stock, events, sku, now, s)
redis.call('SET', movement, now, 'PX', MOVEMENT_RETENTION_MS)
emit(events, now, 'stock_adjusted', sku, '', delta)
return { 'ok', s.on_hand, s.reserved }
