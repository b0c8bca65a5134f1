-- stock_read: availability of 1..100 SKUs, excluding expired holds, without writing anything
-- (runs as EVALSHA_RO, so a read replica can answer it).
-- KEYS: for SKU i, KEYS[2i-1] = stock:{sku_i}, KEYS[2i] = holds:{sku_i}
local offset = ARGV[1]                -- clock offset in ms (tests only; 0 in production)
local SCAN_LIMIT = 1000               -- expired holds counted per SKU; beyond it availability is under-reported, never over

if #KEYS % 2 ~= 0 or #KEYS > 200 then
  return redis.error_reply('ERR stock_read takes 1..100 stock/holds key pairs')
end
local now = clock(offset)
local out = { now }
for i = 1, #KEYS / 2 do
  local v = redis.call('HMGET', KEYS[2 * i - 1], 'on_hand', 'reserved', 'low')
  if not v[1] then
    out[#out + 1] = 0; out[#out + 1] = 0; out[#out + 1] = 0; out[#out + 1] = 0
  else
    local expired = redis.call('ZRANGEBYSCORE', KEYS[2 * i], '-inf', now, 'LIMIT', 0, SCAN_LIMIT)
    local stale = 0
    for j = 1, #expired do stale = stale + qty_of(expired[j]) end
    out[#out + 1] = 1
    out[#out + 1] = tonumber(v[1])
    out[#out + 1] = tonumber(v[2] or 0) - stale
    out[#out + 1] = tonumber(v[3] or 0)
  end
end
return out
