-- repin: after Redis lost its data, hold again the units of an order placed in Postgres and not
-- yet paid (docs/design.md, the lifecycle, step 6), so they are not resold before its payment
-- deadline. Does nothing when Redis still has the reservation. All-or-nothing: when a SKU no
-- longer has the units (sold while the order's hold was missing), nothing is held and the short
-- SKU is reported; a confirm then is a late one.
local rsv_key = KEYS[1]               -- rsv:{rid}
local events  = KEYS[2]               -- events stream
local sweep   = KEYS[3]               -- sweep index (sku -> earliest expiry)
-- then for item i: KEYS[3+2i-1] = stock:{sku_i}, KEYS[3+2i] = holds:{sku_i}
local rid     = ARGV[1]               -- reservation id
local hold_ms = tonumber(ARGV[2])     -- how long from now to keep the units (deadline + grace)
local grace_ms = tonumber(ARGV[3])    -- the grace part of it (the deadline is hold - grace)
local offset  = ARGV[4]               -- clock offset in ms (tests only)
local n_items = tonumber(ARGV[5])     -- number of items; ARGV[6 ..] = sku_1, qty_1, ...

local now = clock(offset)
if not n_items or n_items < 1 or n_items > 50 or #KEYS ~= 3 + 2 * n_items
   or #ARGV ~= 5 + 2 * n_items or not hold_ms or hold_ms < 1 or not grace_ms then
  return { 'bad_request', 'malformed repin arguments' }
end
local existing = load_rsv(rsv_key)
if existing then return { 'exists', existing.status } end
local stocks = {}
for i = 1, n_items do
  local sku, qty = ARGV[4 + 2 * i], tonumber(ARGV[5 + 2 * i])
  if not qty or qty < 1 then return { 'bad_request', 'qty must be positive' } end
  local stock, holds = KEYS[3 + 2 * i - 1], KEYS[3 + 2 * i]
  local s = load_stock(stock)
  if not s then return { 'short', sku, 0 } end
  local freed = reap(holds, events, sku, now)
  if freed > 0 then
    s.reserved = s.reserved - freed
    store_stock(stock, events, sku, now, s)
  end
  if s.on_hand - s.reserved < qty then return { 'short', sku, s.on_hand - s.reserved } end
  stocks[i] = s
end
local expires = now + hold_ms
local parts = {}
for i = 1, n_items do
  local sku, qty = ARGV[4 + 2 * i], tonumber(ARGV[5 + 2 * i])
  local s = stocks[i]
  s.reserved = s.reserved + qty
  store_stock(KEYS[3 + 2 * i - 1], events, sku, now, s)
  redis.call('ZADD', KEYS[3 + 2 * i], expires, rid .. '|' .. qty)
  redis.call('ZADD', sweep, 'LT', expires, sku)
  emit(events, now, 'hold_created', sku, rid, qty)
  parts[i] = sku .. '|' .. qty
end
save_rsv(rsv_key, { status = 'confirming', created = now, expires = expires, max_expires = now,
  fp = '', items = table.concat(parts, ','), owner = 'repin', held_expires = now,
  deadline = expires - grace_ms }, hold_ms + RETENTION_MS)
return { 'ok', expires, now }
