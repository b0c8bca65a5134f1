-- commit: turn a reservation's holds into sold units (step 3 of docs/design.md#confirm-protocol). Idempotent. If the
-- holds are gone (expired, released, or Redis lost them), a late commit takes the units from
-- what is available at each part's own location if it can (never another location), and
-- otherwise reports the short part and changes nothing.
local rsv_key = KEYS[1]               -- rsv:{rid}
local events  = KEYS[2]               -- events stream
local locs    = KEYS[3]               -- location settings (levels are computed on shipping ones)
-- then for part i: KEYS[3+2i-1] = stock:{sku_i}, KEYS[3+2i] = holds:{sku_i}
local rid     = ARGV[1]               -- reservation id
local offset  = ARGV[2]               -- clock offset in ms (tests only)
local n_items = tonumber(ARGV[3])     -- number of parts; ARGV[4 ..] = sku, qty, loc per part (from the order)

local now = clock(offset)
local items = arg_items(n_items, 4)
if not items or #KEYS ~= 3 + 2 * n_items or #ARGV ~= 3 + 3 * n_items then
  return { 'bad_request', 'malformed commit arguments' }
end
local ship = ship_list(locs)
local r = load_rsv(rsv_key)
if r and r.status == 'committed' then return { 'ok', 'already' } end
if r and not items_match(parse_items(r.items), 4) then
  return { 'bad_request', 'items do not match the reservation' }
end

local live = r and (r.status == 'held' or r.status == 'confirming') and r.expires > now
  and all_held(rid, items, 3)
local how = 'committed'
if live then
  for i, it in ipairs(items) do
    local stock = KEYS[3 + 2 * i - 1]
    redis.call('ZREM', KEYS[3 + 2 * i], member(rid, it.qty, it.loc))
    local s = load_stock(stock, ship) or new_stock(stock, ship, 0)
    local c = touch(s, it.loc)
    c.reserved = c.reserved - it.qty
    c.on_hand = c.on_hand - it.qty
    c.sold = c.sold + it.qty
    store_stock(stock, events, it.sku, now, s)
    emit(events, now, 'hold_committed', it.sku, rid, it.qty, it.loc)
  end
else
  -- Late: drop whatever is left of the holds, then take the units from available at each part's
  -- location, all or nothing. Parts of one SKU share its counters, so they are checked together.
  drop_holds(rid, items, 3, events, now, 'hold_expired', ship)
  local stocks, short = check_parts(items, 3, events, now, ship)
  if not stocks then return short end
  for i, it in ipairs(items) do
    local stock = KEYS[3 + 2 * i - 1]
    local s = stocks[stock]
    local c = touch(s, it.loc)
    c.on_hand = c.on_hand - it.qty
    c.sold = c.sold + it.qty
    store_stock(stock, events, it.sku, now, s)
    emit(events, now, 'hold_committed', it.sku, rid, it.qty, it.loc)
  end
  how = 'late'
end
r = r or { created = now, expires = now, max_expires = now, fp = '', owner = '' }
r.status = 'committed'
r.items = format_items(items)
save_rsv(rsv_key, r, COMMITTED_RETENTION_MS)
return { 'ok', how }
