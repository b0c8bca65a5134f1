-- pin: first step of confirm (docs/design.md#confirm-protocol). A live hold becomes 'confirming' and its expiry is
-- pushed to at least now + grace, so it cannot expire while the origin records the order.
local rsv_key  = KEYS[1]              -- rsv:{rid}
local events   = KEYS[2]              -- events stream
-- then for item i (in the record's order): KEYS[2+2i-1] = stock:{sku_i}, KEYS[2+2i] = holds:{sku_i}
local rid      = ARGV[1]              -- reservation id
local grace_ms = tonumber(ARGV[2])    -- how long the origin gets to record and commit
local offset   = ARGV[3]              -- clock offset in ms (tests only)
local n_items  = tonumber(ARGV[4])    -- number of items; ARGV[5 ..] = sku_1, qty_1, ...

local now = clock(offset)
local r, items, refusal = load_declared(rsv_key, n_items, 5)
if refusal then return refusal end
local status, expires = r.status, r.expires
if status == 'committed' then return { 'committed' } end
if status == 'released' or status == 'expired' then return { 'expired', status } end
if expires <= now or not all_held(rid, items, 2) then
  drop_holds(rid, items, 2, events, now, 'hold_expired')
  r.status = 'expired'
  save_rsv(rsv_key, r, RETENTION_MS)
  return { 'expired', 'expired' }
end
local new_expires = math.max(expires, now + grace_ms)
for i, it in ipairs(items) do
  redis.call('ZADD', KEYS[2 + 2 * i], 'XX', new_expires, rid .. '|' .. it.qty)
end
r.status = 'confirming'
r.expires = new_expires
save_rsv(rsv_key, r, new_expires - now + RETENTION_MS)
return { 'ok', new_expires, now }
