-- extend: push a live hold's expiry out, never past created + max_hold (set at reserve time).
local rsv_key = KEYS[1]               -- rsv:{rid}
local events  = KEYS[2]               -- events stream
local locs    = KEYS[3]               -- location settings (levels are computed on shipping ones)
-- then for part i (in the record's order): KEYS[3+2i-1] = stock:{sku_i}, KEYS[3+2i] = holds:{sku_i}
-- then, for a reservation bound to a customer, one cap key per part (see prelude: the cap)
local rid     = ARGV[1]               -- reservation id
local add_ms  = tonumber(ARGV[2])     -- how much longer to hold
local offset  = ARGV[3]               -- clock offset in ms (tests only)
local n_items = tonumber(ARGV[4])     -- number of parts; ARGV[5 ..] = sku, qty, loc per part

local now = clock(offset)
local r, items, refusal, cap_first = load_declared(rsv_key, n_items, 5, 3)
if refusal then return refusal end
if not add_ms or add_ms < 1 then return { 'bad_request', 'seconds must be positive' } end
local status, expires, max_expires = r.status, r.expires, r.max_expires
if status ~= 'held' then return { 'not_held', status } end
if expires <= now or not all_held(rid, items, 3) then
  drop_holds(rid, items, 3, events, now, 'hold_expired', ship_list(locs))
  if cap_first then cap_drop(cap_first, items, rid) end
  r.status = 'expired'
  save_rsv(rsv_key, r, RETENTION_MS)
  return { 'expired' }
end
local new_expires = math.min(expires + add_ms, max_expires)
if new_expires <= expires then return { 'limit', max_expires } end
for i, it in ipairs(items) do
  redis.call('ZADD', KEYS[3 + 2 * i], 'XX', new_expires, member(rid, it.qty, it.loc))
  emit(events, now, 'hold_extended', it.sku, rid, it.qty, it.loc)
end
if cap_first then cap_set(cap_first, items, rid, new_expires, now) end
r.expires = new_expires
save_rsv(rsv_key, r, new_expires - now + RETENTION_MS)
return { 'ok', new_expires, max_expires, now }
