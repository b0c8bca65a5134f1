-- sweep: reap expired holds of SKUs nobody touches. The caller picks due SKUs from the sweep
-- index (lowest scores first) and passes their keys; each SKU is reaped in a bounded batch and
-- its index score moved to its next expiry (or removed when it has no holds left).
local sweep   = KEYS[1]               -- sweep index
local events  = KEYS[2]               -- events stream
local locs    = KEYS[3]               -- location settings (levels are computed on shipping ones)
-- then for SKU i: KEYS[3+2i-1] = stock:{sku_i}, KEYS[3+2i] = holds:{sku_i}
local offset  = ARGV[1]               -- clock offset in ms (tests only)
-- ARGV[2 ..]: sku_1, ..., sku_n

if #ARGV - 1 > 500 or #KEYS ~= 3 + 2 * (#ARGV - 1) then
  return redis.error_reply('ERR sweep takes at most 500 SKUs, each with its stock and holds keys')
end
local now = clock(offset)
local ship = ship_list(locs)
local reaped = 0
for i = 1, #ARGV - 1 do
  local sku = ARGV[1 + i]
  local stock, holds = KEYS[3 + 2 * i - 1], KEYS[3 + 2 * i]
  local s = load_stock(stock, ship)
  local freed = reap(s, holds, events, sku, now)
  if freed > 0 then
    if s then store_stock(stock, events, sku, now, s) end
    reaped = reaped + freed
  end
  local first = redis.call('ZRANGE', holds, 0, 0, 'WITHSCORES')
  if first[2] then
    redis.call('ZADD', sweep, first[2], sku)
  else
    redis.call('ZREM', sweep, sku)
  end
end
return { #ARGV - 1, reaped, now }
