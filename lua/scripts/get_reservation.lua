-- get_reservation: a reservation's record, read-only (EVALSHA_RO). A held reservation past its
-- expiry reads as 'expired' even before anyone reaps it.
local rsv_key = KEYS[1]               -- rsv:{rid}
local offset  = ARGV[1]               -- clock offset in ms (tests only)

local now = clock(offset)
local v = redis.call('HMGET', rsv_key, 'status', 'items', 'created', 'expires', 'max_expires', 'owner')
if not v[1] then return { 'not_found', now } end
local status = v[1]
if (status == 'held' or status == 'confirming') and tonumber(v[4]) <= now then status = 'expired' end
return { 'found', status, v[2], tonumber(v[3]), tonumber(v[4]), tonumber(v[5]), v[6] or '', now }
