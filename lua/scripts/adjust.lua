-- adjust: restock, return or shrink a SKU at one location by a signed delta, idempotent by
-- movement id. On-hand there never falls below what is reserved there. Creates the SKU when it
-- does not exist yet (delta >= 0).
local stock    = KEYS[1]              -- stock:{sku}
local holds    = KEYS[2]              -- holds:{sku}
local events   = KEYS[3]              -- events stream
local movement = KEYS[4]              -- mv:{movement_id}: marks the movement as applied (7 days)
local locs     = KEYS[5]              -- location settings (levels are computed on shipping ones)
local sku      = ARGV[1]              -- the SKU
local delta    = tonumber(ARGV[2])    -- signed change of on-hand
local offset   = ARGV[3]              -- clock offset in ms (tests only)
local loc      = ARGV[4]              -- the location
local MOVEMENT_RETENTION_MS = 604800000

local now = clock(offset)
if not delta or delta % 1 ~= 0 then return { 'bad_request', 'delta must be an integer' } end
if not loc or loc == '' then return { 'bad_request', 'location missing' } end
local ship = ship_list(locs)
local s = load_stock(stock, ship)
if not s then
  -- The threshold may already be set (the origin writes it first): read it, do not assume 0.
  s = new_stock(stock, ship, tonumber(redis.call('HGET', stock, 'low')) or 0)
end
local c = at(s, loc)
if redis.call('EXISTS', movement) == 1 then return { 'duplicate', c.on_hand, c.reserved } end
local freed = reap(s, holds, events, sku, now)
if c.on_hand + delta < c.reserved then
  if freed > 0 then store_stock(stock, events, sku, now, s) end
  return { 'below_reserved', c.on_hand, c.reserved }
end
c = touch(s, loc)
c.on_hand = c.on_hand + delta
-- A new SKU's first level is where it starts, not a transition: it emits no level event.
if s.created then s.state = level(ship_available(s), s.low) end
store_stock(stock, events, sku, now, s)
redis.call('SET', movement, now, 'PX', MOVEMENT_RETENTION_MS)
emit(events, now, 'stock_adjusted', sku, '', delta, loc)
return { 'ok', c.on_hand, c.reserved }
