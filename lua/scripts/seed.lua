-- seed: set a SKU's on-hand at one or more locations and its low-stock threshold from the
-- system of record without disturbing live holds. On-hand is never set below what live holds
-- reserve at a location: it is clamped and the answer says so, so reconcile can report the drift.
-- Seeding every location of a SKU in one call makes one level transition, not one per location.
local stock   = KEYS[1]               -- stock:{sku}
local holds   = KEYS[2]               -- holds:{sku}
local events  = KEYS[3]               -- events stream
local locs    = KEYS[4]               -- location settings (levels are computed on shipping ones)
local sku     = ARGV[1]               -- the SKU
local low     = tonumber(ARGV[2])     -- low-stock threshold
local offset  = ARGV[3]               -- clock offset in ms (tests only)
local rc      = ARGV[4]               -- '1' / '0': the SKU requires a customer or not; else unchanged
local n       = tonumber(ARGV[5])     -- number of locations; ARGV[6 ..] = loc, on_hand per location
local MAX_LOCATIONS = 64

local now = clock(offset)
if not low or low < 0 or not n or n < 1 or n > MAX_LOCATIONS or #ARGV ~= 5 + 2 * n then
  return { 'bad_request', 'malformed seed arguments' }
end
for i = 1, n do
  local v = tonumber(ARGV[5 + 2 * i])
  if ARGV[4 + 2 * i] == '' or not v or v < 0 or v % 1 ~= 0 then
    return { 'bad_request', 'on_hand must be a non-negative integer at a named location' }
  end
end
local ship = ship_list(locs)
local s = load_stock(stock, ship)
if not s then s = new_stock(stock, ship, low) end
-- The level before this seed under the new threshold: changing the threshold crosses nothing.
s.low = low
s.state = level(ship_available(s), low)
reap(s, holds, events, sku, now)
redis.call('HSET', stock, 'low', low)
if rc == '1' then
  redis.call('HSET', stock, 'rc', 1)
elseif rc == '0' then
  redis.call('HDEL', stock, 'rc')
end
local out = {}
local moved = {}
for i = 1, n do
  local loc, on_hand = ARGV[4 + 2 * i], tonumber(ARGV[5 + 2 * i])
  local c = touch(s, loc)
  local answer = 'ok'
  if on_hand < c.reserved then
    on_hand = c.reserved
    answer = 'clamped'
  end
  if on_hand ~= c.on_hand then moved[#moved + 1] = { loc, on_hand - c.on_hand } end
  c.on_hand = on_hand
  out[#out + 1] = answer; out[#out + 1] = c.on_hand; out[#out + 1] = c.reserved
end
-- A SKU seeded anew (first seed, or Redis lost it) starts at its level: no level event.
if s.created then s.state = level(ship_available(s), low) end
store_stock(stock, events, sku, now, s)
for _, m in ipairs(moved) do emit(events, now, 'stock_adjusted', sku, '', m[2], m[1]) end
return out
