-- pin: first step of placing an order or confirming a held reservation (docs/design.md, the
-- lifecycle). A live hold becomes 'confirming' with a payment deadline fixed here, once:
--   deadline = min(now + window, max_expires + window)   (max_expires = created + MAX_HOLD)
-- and its holds stay until deadline + grace, so Redis never frees units Postgres may still
-- confirm. A reservation already 'confirming' keeps the deadline of its first pin: pinning again
-- never pushes anything out, so no sequence of calls keeps a hold past
-- created + MAX_HOLD + window + grace. The expiry the hold had is kept so `unpin` can undo this.
local rsv_key   = KEYS[1]             -- rsv:{rid}
local events    = KEYS[2]             -- events stream
local locs      = KEYS[3]             -- location settings (levels are computed on shipping ones)
-- then for part i (in the record's order): KEYS[3+2i-1] = stock:{sku_i}, KEYS[3+2i] = holds:{sku_i}
-- then, for a reservation bound to a customer, one cap key per part: placed units count toward
-- the customer's cap until the order is released (see prelude: the cap)
local rid       = ARGV[1]             -- reservation id
local window_ms = tonumber(ARGV[2])   -- payment window (0: a backend confirm of a held reservation)
local grace_ms  = tonumber(ARGV[3])   -- how long past the deadline Redis keeps the units
local offset    = ARGV[4]             -- clock offset in ms (tests only)
local n_items   = tonumber(ARGV[5])   -- number of parts; ARGV[6 ..] = sku, qty, loc per part

local now = clock(offset)
local r, items, refusal, cap_first = load_declared(rsv_key, n_items, 6, 3)
if refusal then return refusal end
if not window_ms or window_ms < 0 or not grace_ms or grace_ms < 0 then
  return { 'bad_request', 'window and grace must be non-negative' }
end
local status, expires = r.status, r.expires
if status == 'committed' then return { 'committed' } end
if status == 'released' or status == 'expired' then return { 'expired', status } end
if expires <= now or not all_held(rid, items, 3) then
  drop_holds(rid, items, 3, events, now, 'hold_expired', ship_list(locs))
  if cap_first then cap_drop(cap_first, items, rid) end
  r.status = 'expired'
  save_rsv(rsv_key, r, RETENTION_MS)
  return { 'expired', 'expired' }
end
-- (A record pinned before deadlines were stored has deadline 0: it gets one now, like a first pin.)
if status == 'confirming' and r.deadline > 0 then
  return { 'ok', r.deadline, expires, now, 1 }
end
local deadline = math.min(now + window_ms, r.max_expires + window_ms)
local new_expires = math.max(expires, deadline + grace_ms)
for i, it in ipairs(items) do
  redis.call('ZADD', KEYS[3 + 2 * i], 'XX', new_expires, member(rid, it.qty, it.loc))
end
if status == 'held' then r.held_expires = expires end
if cap_first then cap_set(cap_first, items, rid, '+inf', now, new_expires - now) end
r.status = 'confirming'
r.deadline = deadline
r.expires = new_expires
save_rsv(rsv_key, r, new_expires - now + RETENTION_MS)
return { 'ok', deadline, new_expires, now, 0 }
