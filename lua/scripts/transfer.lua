-- transfer: move units of a SKU from one location to another, idempotent by movement id. Both
-- counters change in this one script, so no reader ever sees the units missing or twice. Only
-- units available at the source move (never held ones); an inactive source may be emptied.
local stock    = KEYS[1]              -- stock:{sku}
local holds    = KEYS[2]              -- holds:{sku}
local events   = KEYS[3]              -- events stream
local movement = KEYS[4]              -- mv:{movement_id}: marks the movement as applied (7 days)
local locs     = KEYS[5]              -- location settings (levels are computed on shipping ones)
local sku      = ARGV[1]              -- the SKU
local from     = ARGV[2]              -- source location
local to       = ARGV[3]              -- destination location
local qty      = tonumber(ARGV[4])    -- units to move (>= 1)
local offset   = ARGV[5]              -- clock offset in ms (tests only)
local MOVEMENT_RETENTION_MS = 604800000

local now = clock(offset)
if not qty or qty < 1 or qty % 1 ~= 0 or not from or from == '' or not to or to == '' or from == to then
  return { 'bad_request', 'a transfer moves a positive integer between two different locations' }
end
local ship = ship_list(locs)
local s = load_stock(stock, ship)
if redis.call('EXISTS', movement) == 1 then
  if not s then return { 'duplicate', 0, 0 } end
  return { 'duplicate', at(s, from).on_hand, at(s, to).on_hand }
end
if not s then return { 'short', 0 } end
if reap(s, holds, events, sku, now) > 0 then store_stock(stock, events, sku, now, s) end
if avail(s, from) < qty then return { 'short', math.max(avail(s, from), 0) } end
local a, b = touch(s, from), touch(s, to)
a.on_hand = a.on_hand - qty
b.on_hand = b.on_hand + qty
store_stock(stock, events, sku, now, s)
redis.call('SET', movement, now, 'PX', MOVEMENT_RETENTION_MS)
emit(events, now, 'stock_adjusted', sku, '', -qty, from)
emit(events, now, 'stock_adjusted', sku, '', qty, to)
return { 'ok', a.on_hand, b.on_hand }
