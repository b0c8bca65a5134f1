-- seed: set a SKU's on-hand and low-stock threshold from the system of record without
-- disturbing live holds. On-hand is never set below what live holds reserve: it is clamped and
-- the answer says so, so reconcile can report the drift.
local stock   = KEYS[1]               -- stock:{sku}
local holds   = KEYS[2]               -- holds:{sku}
local events  = KEYS[3]               -- events stream
local sku     = ARGV[1]               -- the SKU
local on_hand = tonumber(ARGV[2])     -- on-hand per the ledger (plus sales not yet committed here)
local low     = tonumber(ARGV[3])     -- low-stock threshold
local offset  = ARGV[4]               -- clock offset in ms (tests only)
local rc      = ARGV[5]               -- '1' / '0': the SKU requires a customer or not; else unchanged

local now = clock(offset)
if not on_hand or on_hand < 0 or on_hand % 1 ~= 0 or not low or low < 0 then
  return { 'bad_request', 'on_hand and low must be non-negative integers' }
end
local s = load_stock(stock)
local created = not s
if created then s = { on_hand = 0, reserved = 0, sold = 0 } end
-- The level before this seed under the new threshold: changing the threshold crosses nothing.
s.low = low
s.state = level(s.on_hand - s.reserved, low)
s.reserved = s.reserved - reap(holds, events, sku, now)
redis.call('HSET', stock, 'low', low)
if rc == '1' then
  redis.call('HSET', stock, 'rc', 1)
elseif rc == '0' then
  redis.call('HDEL', stock, 'rc')
end
local before = s.on_hand
local answer = 'ok'
if on_hand < s.reserved then
  on_hand = s.reserved
  answer = 'clamped'
end
s.on_hand = on_hand
-- A SKU seeded anew (first seed, or Redis lost it) starts at its level: no level event.
if created then s.state = level(s.on_hand - s.reserved, low) end
store_stock(stock, events, sku, now, s)
if on_hand ~= before then emit(events, now, 'stock_adjusted', sku, '', on_hand - before) end
return { answer, s.on_hand, s.reserved }
