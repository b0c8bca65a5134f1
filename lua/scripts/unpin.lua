-- unpin: undo a pin whose order could not be recorded (docs/design.md, the lifecycle, step 1):
-- a 'confirming' reservation goes back to 'held' with the expiry it had before the pin, so a
-- refused place or confirm never leaves units held longer than the shopper's hold.
local rsv_key = KEYS[1]               -- rsv:{rid}
local events  = KEYS[2]               -- events stream
local sweep   = KEYS[3]               -- sweep index (sku -> earliest expiry)
-- KEYS[4]: location settings (unused: an unpin moves no units; declared like every write script's)
-- then for part i (in the record's order): KEYS[4+2i-1] = stock:{sku_i}, KEYS[4+2i] = holds:{sku_i}
-- then, for a reservation bound to a customer, one cap key per part (see prelude: the cap)
local rid     = ARGV[1]               -- reservation id
local offset  = ARGV[2]               -- clock offset in ms (tests only)
local n_items = tonumber(ARGV[3])     -- number of parts; ARGV[4 ..] = sku, qty, loc per part

local now = clock(offset)
local r, items, refusal, cap_first = load_declared(rsv_key, n_items, 4, 4)
if refusal then return refusal end
if r.status ~= 'confirming' then return { 'not_pinned', r.status } end
local back = r.held_expires
if not back or back <= 0 then back = now end
for i, it in ipairs(items) do
  redis.call('ZADD', KEYS[4 + 2 * i], 'XX', back, member(rid, it.qty, it.loc))
  redis.call('ZADD', sweep, 'LT', back, it.sku)
end
if cap_first then
  for i, it in ipairs(items) do
    redis.call('ZADD', KEYS[cap_first + i - 1], 'XX', back, member(rid, it.qty, it.loc))
  end
end
r.status = 'held'
r.expires = back
r.held_expires = 0
r.deadline = 0
save_rsv(rsv_key, r, math.max(back - now, 0) + RETENTION_MS)
return { 'ok', back, now }
