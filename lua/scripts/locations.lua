-- locations: replace the location settings the reserve and read scripts allocate by, in one
-- step, so no script ever sees half of a change. The caller computes the ordered lists.
local locs = KEYS[1]                  -- location settings hash
-- ARGV: field, value pairs: <code> -> "priority;active;ships;pickup;name" per location,
--       ~ship -> active shipping codes in allocation order, ~pickup -> active pickup codes
local MAX_FIELDS = 2 * (64 + 2)

if #ARGV % 2 ~= 0 or #ARGV > MAX_FIELDS then
  return { 'bad_request', 'location settings are field, value pairs' }
end
local ship_seen = false
for i = 1, #ARGV, 2 do if ARGV[i] == '~ship' then ship_seen = true end end
if not ship_seen then return { 'bad_request', 'settings need ~ship' } end
-- The shard's seeded marker is not a setting: it outlives the replacement.
local marker = redis.call('HGET', locs, '~seeded')
redis.call('DEL', locs)
redis.call('HSET', locs, unpack(ARGV))
if marker then redis.call('HSET', locs, '~seeded', marker) end
return { 'ok', #ARGV / 2 }
