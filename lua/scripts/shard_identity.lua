-- shard_identity: the shard's seeded marker and the replication id of the Redis that serves it,
-- read-only. A failover to a replica changes the replication id: the origin then reconciles the
-- shard, since asynchronous replication may have lost acknowledged writes. Where INFO is not
-- allowed in scripts the id is '' and only the marker is compared.
local locs = KEYS[1]                  -- the shard's location settings hash (routes to its slot)

local marker = redis.call('HGET', locs, '~seeded') or ''
local replid = ''
local info = redis.pcall('INFO', 'replication')
if type(info) == 'string' then replid = string.match(info, 'master_replid:(%w+)') or '' end
return { marker, replid }
