-- mark_seeded: the origin has seeded this shard (its location settings, every SKU's stock from
-- the ledger, its placed orders pinned again); until now its reserves and reads refused.
local locs = KEYS[1]                  -- the shard's location settings hash
local shard = ARGV[1]                 -- "<shard>/<shards>/", what reserves and reads check
local epoch = ARGV[2]                 -- the origin's seeding epoch (a new one at every seeding)

if not redis.call('HGET', locs, '~ship') then return { 'no_locations' } end
redis.call('HSET', locs, '~seeded', shard .. epoch)
return { 'ok' }
