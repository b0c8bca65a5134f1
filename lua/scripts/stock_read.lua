-- stock_read: availability of 1..100 SKUs, excluding expired holds, without writing anything
-- (runs as EVALSHA_RO, so a read replica can answer it). A SKU's numbers are the sums over the
-- active shipping locations; with `with_locations` (one SKU only) each active pickup location
-- follows with its own availability, for "available at Store 12".
-- KEYS[1]: location settings; then for SKU i, KEYS[2i] = stock:{sku_i}, KEYS[2i+1] = holds:{sku_i}
local offset = ARGV[1]                -- clock offset in ms (tests only; 0 in production)
local with_locations = ARGV[2] == '1' -- add the pickup locations (one SKU only)
local shard = ARGV[3]                 -- the shard as the caller places it, "<shard>/<shards>/"
-- Reply: { 'ok', now, then per SKU: exists, on_hand, reserved, low [, pickups] } on a seeded
-- shard, { 'shard_unseeded', marker } otherwise (a shard that came back empty answers no level).
local SCAN_LIMIT = 1000               -- expired holds counted per SKU; beyond it availability is under-reported, never over

local n = (#KEYS - 1) / 2
if #KEYS % 2 ~= 1 or n < 1 or n > 100 or (with_locations and n ~= 1) then
  return redis.error_reply('ERR stock_read takes the settings key and 1..100 stock/holds key pairs')
end
local now = clock(offset)
local ship, marker = ship_list(KEYS[1])
if not seeded_as(marker, shard) then return { 'shard_unseeded', marker or '' } end
local out = { 'ok', now }
for i = 1, n do
  local s = load_stock(KEYS[2 * i], ship)
  if not s then
    out[#out + 1] = 0; out[#out + 1] = 0; out[#out + 1] = 0; out[#out + 1] = 0
  else
    local expired = redis.call('ZRANGEBYSCORE', KEYS[2 * i + 1], '-inf', now, 'LIMIT', 0, SCAN_LIMIT)
    for j = 1, #expired do
      local c = at(s, loc_of(expired[j]))
      c.reserved = c.reserved - qty_of(expired[j])
    end
    local on_hand, reserved = 0, 0
    for _, loc in ipairs(ship) do
      local c = at(s, loc)
      on_hand = on_hand + c.on_hand
      reserved = reserved + c.reserved
    end
    out[#out + 1] = 1
    out[#out + 1] = on_hand
    out[#out + 1] = reserved
    out[#out + 1] = s.low
    if with_locations then
      local pickup = split(redis.call('HGET', KEYS[1], '~pickup'))
      out[#out + 1] = #pickup
      for _, loc in ipairs(pickup) do
        local cfg = redis.call('HGET', KEYS[1], loc) or ''
        out[#out + 1] = loc
        out[#out + 1] = string.match(cfg, '^[^;]*;[^;]*;[^;]*;[^;]*;(.*)$') or loc
        out[#out + 1] = math.max(avail(s, loc), 0)
      end
    end
  end
end
return out
