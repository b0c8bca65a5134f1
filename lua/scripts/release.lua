-- release: give a reservation's units back to the locations they came from. Idempotent:
-- releasing a released or expired reservation answers its status and changes nothing.
local rsv_key = KEYS[1]               -- rsv:{rid}
local events  = KEYS[2]               -- events stream
local locs    = KEYS[3]               -- location settings (levels are computed on shipping ones)
-- then for part i (in the record's order): KEYS[3+2i-1] = stock:{sku_i}, KEYS[3+2i] = holds:{sku_i}
-- then, for a reservation bound to a customer, one cap key per part (see prelude: the cap)
local rid     = ARGV[1]               -- reservation id
local offset  = ARGV[2]               -- clock offset in ms (tests only)
local allow_confirming = ARGV[3] == '1' -- the origin may cancel a pinned (confirming) reservation; browsers may not
local n_items = tonumber(ARGV[4])     -- number of parts; ARGV[5 ..] = sku, qty, loc per part

local now = clock(offset)
local r, items, refusal, cap_first = load_declared(rsv_key, n_items, 5, 3)
if refusal then return refusal end
local status, expires = r.status, r.expires
if status == 'released' or status == 'expired' then return { 'ok', status, 0 } end
if status == 'committed' then return { 'committed' } end
if status == 'confirming' and not allow_confirming then return { 'confirming' } end
local kind, final = 'hold_released', 'released'
if expires <= now then kind, final = 'hold_expired', 'expired' end
drop_holds(rid, items, 3, events, now, kind, ship_list(locs))
if cap_first then cap_drop(cap_first, items, rid) end
r.status = final
save_rsv(rsv_key, r, RETENTION_MS)
return { 'ok', final, 1 }
