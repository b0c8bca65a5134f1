-- commit: turn a reservation's holds into sold units (step 3 of docs/design.md#confirm-protocol). Idempotent. If the
-- holds are gone (expired, released, or Redis lost them), a late commit takes the units from
-- what is available if it can, and otherwise reports the short SKU and changes nothing.
local rsv_key = KEYS[1]               -- rsv:{rid}
local events  = KEYS[2]               -- events stream
-- then for item i: KEYS[2+2i-1] = stock:{sku_i}, KEYS[2+2i] = holds:{sku_i}
local rid     = ARGV[1]               -- reservation id
local offset  = ARGV[2]               -- clock offset in ms (tests only)
local n_items = tonumber(ARGV[3])     -- number of items; ARGV[4 ..] = sku_1, qty_1, ... (from the order)

local now = clock(offset)
if not n_items or n_items < 1 or n_items > 50 or #KEYS ~= 2 + 2 * n_items or #ARGV ~= 3 + 2 * n_items then
  return { 'bad_request', 'malformed commit arguments' }
end
local items = {}
for i = 1, n_items do
  items[i] = { sku = ARGV[2 + 2 * i], qty = tonumber(ARGV[3 + 2 * i]) }
  if not items[i].qty or items[i].qty < 1 then return { 'bad_request', 'qty must be positive' } end
end
local r = load_rsv(rsv_key)
if r and r.status == 'committed' then return { 'ok', 'already' } end
if r and not items_match(parse_items(r.items), 4) then
  return { 'bad_request', 'items do not match the reservation' }
end

local live = r and (r.status == 'held' or r.status == 'confirming') and r.expires > now
  and all_held(rid, items, 2)
local how = 'committed'
if live then
  for i, it in ipairs(items) do
    local stock = KEYS[2 + 2 * i - 1]
    redis.call('ZREM', KEYS[2 + 2 * i], rid .. '|' .. it.qty)
    local s = load_stock(stock) or { on_hand = it.qty, reserved = it.qty, sold = 0, low = 0, state = 'in' }
    s.reserved = s.reserved - it.qty
    s.on_hand = s.on_hand - it.qty
    s.sold = s.sold + it.qty
    store_stock(stock, events, it.sku, now, s)
    emit(events, now, 'hold_committed', it.sku, rid, it.qty)
  end
else
  -- Late: drop whatever is left of the holds, then take the units from available, all or nothing.
  drop_holds(rid, items, 2, events, now, 'hold_expired')
  local stocks = {}
  for i, it in ipairs(items) do
    local stock, holds = KEYS[2 + 2 * i - 1], KEYS[2 + 2 * i]
    local s = load_stock(stock)
    if not s then return { 'short', it.sku, 0 } end
    local freed = reap(holds, events, it.sku, now)
    if freed > 0 then
      s.reserved = s.reserved - freed
      store_stock(stock, events, it.sku, now, s)
    end
    if s.on_hand - s.reserved < it.qty then return { 'short', it.sku, s.on_hand - s.reserved } end
    stocks[i] = s
  end
  for i, it in ipairs(items) do
    local s = stocks[i]
    s.on_hand = s.on_hand - it.qty
    s.sold = s.sold + it.qty
    store_stock(KEYS[2 + 2 * i - 1], events, it.sku, now, s)
    emit(events, now, 'hold_committed', it.sku, rid, it.qty)
  end
  how = 'late'
end
local parts = {}
for i, it in ipairs(items) do parts[i] = it.sku .. '|' .. it.qty end
r = r or { created = now, expires = now, max_expires = now, fp = '', owner = '' }
r.status = 'committed'
r.items = table.concat(parts, ',')
save_rsv(rsv_key, r, COMMITTED_RETENTION_MS)
return { 'ok', how }
