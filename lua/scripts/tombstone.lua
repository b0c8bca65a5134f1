-- tombstone: one shard's part of a reservation across shards that must never be created: a
-- released record with no parts, so a reserve still in flight for it replays `released` instead
-- of holding units (its edge then gives back its other parts). An existing record is left as is.
local rsv_key = KEYS[1]               -- rsv:{rid} on the part's shard
local fingerprint = ARGV[1]           -- the request's fingerprint (the in-flight one replays)
local offset = ARGV[2]                -- clock offset in ms (tests only; 0 in production)

if redis.call('EXISTS', rsv_key) == 1 then return { 'exists' } end
local now = clock(offset)
save_rsv(rsv_key, { status = 'released', created = now, expires = now, max_expires = now,
  fp = fingerprint, items = '', owner = '' }, RETENTION_MS)
return { 'written' }
