-- release: give a reservation's units back. Idempotent: releasing a released or expired
-- reservation answers its status and changes nothing.
local rsv_key = KEYS[1]               -- rsv:{rid}
local events  = KEYS[2]               -- events stream
-- then for item i (in the record's order): KEYS[2+2i-1] = stock:{sku_i}, KEYS[2+2i] = holds:{sku_i}
-- then, for a reservation bound to a customer, one cap key per item (see prelude: the cap)
local rid     = ARGV[1]               -- reservation id
local offset  = ARGV[2]               -- clock offset in ms (tests only)
local allow_confirming = ARGV[3] == '1' -- the origin may cancel a pinned (confirming) reservation; browsers may not
local n_items = tonumber(ARGV[4])     -- number of items; ARGV[5 ..] = sku_1, qty_1, ...

local now = clock(offset)
local r, items, refusal, cap_first = load_declared(rsv_key, n_items, 5)
if refusal then return refusal end
local status, expires = r.status, r.expires
if status == 'released' or status == 'expired' then return { 'ok', status, 0 } end
if status == 'committed' then return { 'committed' } end
if status == 'confirming' and not allow_confirming then return { 'confirming' } end
local kind, final = 'hold_released', 'released'
if expires <= now then kind, final = 'hold_expired', 'expired' end
drop_holds(rid, items, 2, events, now, kind)
if cap_first then cap_drop(cap_first, items, rid) end
r.status = final
save_rsv(rsv_key, r, RETENTION_MS)
return { 'ok', final, 1 }
