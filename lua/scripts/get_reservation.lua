-- get_reservation: a reservation's record, read-only (EVALSHA_RO). A held reservation past its
-- expiry reads as 'expired' even before anyone reaps it.
local rsv_key = KEYS[1]               -- rsv:{rid}
local offset  = ARGV[1]               -- clock offset in ms (tests only)

local now = clock(offset)
local r = load_rsv(rsv_key)
if not r then return { 'not_found', now } end
local status = r.status
if (status == 'held' or status == 'confirming') and r.expires <= now then status = 'expired' end
return { 'found', status, r.items, r.created, r.expires, r.max_expires, r.owner, now }
