-- unpin: undo a pin whose order could not be recorded (docs/design.md, the lifecycle, step 1):
-- a 'confirming' reservation goes back to 'held' with the expiry it had before the pin, so a
-- refused place or confirm never leaves units held longer than the shopper's hold.
local rsv_key = KEYS[1]               -- rsv:{rid}
local events  = KEYS[2]               -- events stream
local sweep   = KEYS[3]               -- sweep index (sku -> earliest expiry)
-- then for item i (in the record's order): KEYS[3+2i-1] = stock:{sku_i}, KEYS[3+2i] = holds:{sku_i}
-- then, for a reservation bound to a customer, one cap key per item (see prelude: the cap)
local rid     = ARGV[1]               -- reservation id
local offset  = ARGV[2]               -- clock offset in ms (tests only)
local n_items = tonumber(ARGV[3])     -- number of items; ARGV[4 ..] = sku_1, qty_1, ...

local now = clock(offset)
local r = load_rsv(rsv_key)
if not r then return { 'not_found' } end
local items = parse_items(r.items)
local cap_first = nil
if #KEYS == 3 + 3 * n_items then cap_first = 4 + 2 * n_items end
if #items ~= n_items or not (#KEYS == 3 + 2 * n_items or cap_first) or not items_match(items, 4) then
  return { 'bad_request', 'items do not match the reservation' }
end
if r.status ~= 'confirming' then return { 'not_pinned', r.status } end
local back = r.held_expires
if not back or back <= 0 then back = now end
for i, it in ipairs(items) do
  redis.call('ZADD', KEYS[3 + 2 * i], 'XX', back, rid .. '|' .. it.qty)
  redis.call('ZADD', sweep, 'LT', back, it.sku)
end
if cap_first then
  for i, it in ipairs(items) do
    redis.call('ZADD', KEYS[cap_first + i - 1], 'XX', back, rid .. '|' .. it.qty)
  end
end
r.status = 'held'
r.expires = back
r.held_expires = 0
r.deadline = 0
save_rsv(rsv_key, r, math.max(back - now, 0) + RETENTION_MS)
return { 'ok', back, now }
