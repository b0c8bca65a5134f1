-- repin: after Redis lost its data, hold again the units of an order placed in Postgres and not
-- yet paid (docs/design.md, the lifecycle, step 6), so they are not resold before its payment
-- deadline. Does nothing when Redis still has the reservation. Each part is held again at its
-- own location, never another. All-or-nothing: when a location no longer has a part's units
-- (sold while the order's hold was missing), nothing is held and the short part is reported; a
-- confirm then is a late one.
local rsv_key = KEYS[1]               -- rsv:{rid}
local events  = KEYS[2]               -- events stream
local sweep   = KEYS[3]               -- sweep index (sku -> earliest expiry)
local locs    = KEYS[4]               -- location settings (levels are computed on shipping ones)
-- then for part i: KEYS[4+2i-1] = stock:{sku_i}, KEYS[4+2i] = holds:{sku_i}
local rid     = ARGV[1]               -- reservation id
local hold_ms = tonumber(ARGV[2])     -- how long from now to keep the units (deadline + grace)
local grace_ms = tonumber(ARGV[3])    -- the grace part of it (the deadline is hold - grace)
local offset  = ARGV[4]               -- clock offset in ms (tests only)
local n_items = tonumber(ARGV[5])     -- number of parts; ARGV[6 ..] = sku, qty, loc per part

local now = clock(offset)
local items = arg_items(n_items, 6)
if not items or #KEYS ~= 4 + 2 * n_items or #ARGV ~= 5 + 3 * n_items or not hold_ms or hold_ms < 1
   or not grace_ms then
  return { 'bad_request', 'malformed repin arguments' }
end
local existing = load_rsv(rsv_key)
if existing then return { 'exists', existing.status } end
local ship = ship_list(locs)
local stocks, short = check_parts(items, 4, events, now, ship)
if not stocks then return short end
local expires = now + hold_ms
for i, it in ipairs(items) do
  local stock = KEYS[4 + 2 * i - 1]
  local s = stocks[stock]
  local c = touch(s, it.loc)
  c.reserved = c.reserved + it.qty
  store_stock(stock, events, it.sku, now, s)
  redis.call('ZADD', KEYS[4 + 2 * i], expires, member(rid, it.qty, it.loc))
  redis.call('ZADD', sweep, 'LT', expires, it.sku)
  emit(events, now, 'hold_created', it.sku, rid, it.qty, it.loc)
end
save_rsv(rsv_key, { status = 'confirming', created = now, expires = expires, max_expires = now,
  fp = '', items = format_items(items), owner = 'repin', held_expires = now,
  deadline = expires - grace_ms }, hold_ms + RETENTION_MS)
return { 'ok', expires, now }
