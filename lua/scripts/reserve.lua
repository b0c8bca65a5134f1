-- reserve: hold stock for a reservation of 1..MAX_ITEMS items, all-or-nothing, in one round trip:
-- idempotency, rate limit, reaping expired holds, allocation over locations and the hold itself.
-- Allocation: with a pickup location every item comes from it; otherwise each item is taken from
-- the active shipping locations in the settings' order (priority, then code), splitting where one
-- is short: a location is skipped only when it has no unit available.
local rsv_key     = KEYS[1]            -- rsv:{rid}: reservation record, also the idempotency record
local events      = KEYS[2]            -- events stream
local sweep       = KEYS[3]            -- sweep index (sku -> earliest expiry)
local locs        = KEYS[4]            -- location settings (written by the origin)
-- KEYS[5 .. 4+n_rl]: rate-limit counters, one per subject (ip or its /64, cart, customer, or anon)
-- then for item i: KEYS[4+n_rl+2i-1] = stock:{sku_i}, KEYS[4+n_rl+2i] = holds:{sku_i}
-- then, with a customer cap: KEYS[4+n_rl+2n+i] = cap:{sku_i}:<customer> (see prelude: the cap)
local rid         = ARGV[1]            -- reservation id
local fingerprint = ARGV[2]            -- hash of the request, tells a replay from a key reuse
local ttl_ms      = tonumber(ARGV[3])  -- hold lifetime
local max_hold_ms = tonumber(ARGV[4])  -- cap on the total hold time, extensions included
local rl_limits   = ARGV[5]            -- requests per window, "l1,l2,...": one per subject, in
                                       -- KEYS order (0 = unlimited; one value applies to all)
local rl_window   = tonumber(ARGV[6])  -- rate-limit window (ms)
local n_rl        = tonumber(ARGV[7])  -- number of rate-limit keys
local owner       = ARGV[8]            -- who holds it: "c:<customer-hash>" for a verified customer
                                       -- (the reservation is bound to it), else the cart or client
local offset      = ARGV[9]            -- clock offset in ms (tests only; 0 in production)
local n_items     = tonumber(ARGV[10]) -- number of items
-- ARGV[11 ..]: sku_1, qty_1, ..., sku_n, qty_n
-- ARGV[11+2n]: units of one SKU a customer may hold + place + buy (0 = no cap)
-- ARGV[12+2n]: how long a customer's count lives after a reserve (ms)
-- ARGV[13+2n]: the pickup location ('' to ship: allocate over the shipping locations)
-- ARGV[14+2n]: the shard as the caller places it, "<shard>/<shards>/": the seeded marker must match
local MAX_ITEMS = 50

local now = clock(offset)

local limits = {}
for l in string.gmatch(rl_limits or '', '[^,]+') do limits[#limits + 1] = tonumber(l) end
if #limits == 1 then
  for i = 2, (n_rl or 0) do limits[i] = limits[1] end
end
local customer = string.match(owner or '', '^c:(.+)$')

local cap_max = tonumber(ARGV[11 + 2 * (n_items or 0)])
local cap_window = tonumber(ARGV[12 + 2 * (n_items or 0)])
local pickup = ARGV[13 + 2 * (n_items or 0)]
local capped = customer ~= nil and cap_max ~= nil and cap_max > 0
local n_cap = 0
if capped then n_cap = n_items end
if not n_items or n_items < 1 or n_items > MAX_ITEMS or #ARGV ~= 14 + 2 * n_items
   or #KEYS ~= 4 + n_rl + 2 * n_items + n_cap or not ttl_ms or ttl_ms < 1 or not max_hold_ms
   or not cap_max or not cap_window or (n_rl > 0 and #limits ~= n_rl) then
  return { 'bad_request', 'malformed reserve arguments' }
end

-- Rate limit (fixed window per subject), before anything else: every attempt that gets past it
-- counts on every subject, whatever its outcome (replay, mismatch, unknown SKU, insufficient
-- stock or a hold), so polling for freed units costs the same as reserving them. An attempt over
-- the limit is refused without counting (all subjects are checked before any is counted). Each
-- subject has its own limit (a customer's tier is not an IP's); a subject at 0 is not counted.
-- The refusal names the subject (its 1-based position in KEYS order), so the edge can refuse that
-- subject's next attempts itself until the window ends.
for i = 1, n_rl do
  if limits[i] > 0 then
    local count = tonumber(redis.call('GET', KEYS[4 + i]) or '0')
    if count >= limits[i] then
      local left = redis.call('PTTL', KEYS[4 + i])
      if left < 0 then left = rl_window end
      return { 'rate_limited', left, i }
    end
  end
end
for i = 1, n_rl do
  if limits[i] > 0 and redis.call('INCR', KEYS[4 + i]) == 1 then
    redis.call('PEXPIRE', KEYS[4 + i], rl_window)
  end
end

-- Idempotency: the same key with the same request answers the stored reservation.
local existing = load_rsv(rsv_key)
if existing then
  if existing.fp ~= fingerprint then return { 'idempotency_mismatch' } end
  local status = existing.status
  if (status == 'held' or status == 'confirming') and existing.expires <= now then status = 'expired' end
  return { 'ok', rid, status, existing.created, existing.expires, 1, now, existing.items }
end

-- The shard must be seeded (settings written, stock seeded from the ledger, placed orders
-- pinned again) and be the one the caller means; else it refuses rather than guessing. A pickup
-- location must exist, be active and offer pickup.
local ship, marker = ship_list(locs)
if not seeded_as(marker, ARGV[14 + 2 * n_items]) then return { 'shard_unseeded', marker or '' } end
if pickup ~= '' then
  local cfg = redis.call('HGET', locs, pickup)
  if not cfg then return { 'unknown_location', pickup } end
  local active, offers = string.match(cfg, '^[^;]*;(%d);%d;(%d);')
  if active ~= '1' or offers ~= '1' then return { 'location_unavailable', pickup } end
end

local base = 4 + n_rl

-- Every SKU's counters in one read each; a SKU that requires a customer login (`rc` = 1 in its
-- hash) refuses an anonymous reserve before anything is touched (reaped or held).
local stocks = {}
for i = 1, n_items do
  stocks[i] = load_stock(KEYS[base + 2 * i - 1], ship)
end
if not customer then
  for i = 1, n_items do
    if stocks[i] and stocks[i].rc then return { 'customer_required', ARGV[9 + 2 * i] } end
  end
end

-- Reap, then allocate every item before holding any.
local parts = {}                       -- allocated parts, in line order: { sku=, qty=, loc= }
local first_part = {}                  -- line i's parts are parts[first_part[i] .. first_part[i + 1] - 1]
local seen = {}
for i = 1, n_items do
  local sku = ARGV[9 + 2 * i]
  local qty = tonumber(ARGV[10 + 2 * i])
  if not qty or qty < 1 or qty % 1 ~= 0 then return { 'bad_request', 'qty must be a positive integer' } end
  if seen[sku] then return { 'bad_request', 'duplicate sku ' .. sku } end
  seen[sku] = true
  local stock, holds = KEYS[base + 2 * i - 1], KEYS[base + 2 * i]
  local s = stocks[i]
  if not s then return { 'unknown_sku', sku } end
  -- The earliest hold tells whether anything expired (then reap) and whether the sweep index
  -- needs this SKU's new, earlier expiry.
  local first = redis.call('ZRANGE', holds, 0, 0, 'WITHSCORES')
  local earliest = tonumber(first[2])
  if earliest and earliest <= now then
    reap(s, holds, events, sku, now)
    store_stock(stock, events, sku, now, s)
    earliest = nil
  end
  s.earliest = earliest
  first_part[i] = #parts + 1
  if pickup ~= '' then
    local available = avail(s, pickup)
    if available < qty then return { 'insufficient', sku, math.max(available, 0), pickup } end
    parts[#parts + 1] = { sku = sku, qty = qty, loc = pickup }
  else
    local available = ship_available(s)
    if available < qty then return { 'insufficient', sku, math.max(available, 0) } end
    local left = qty
    for _, loc in ipairs(ship) do
      local here = avail(s, loc)
      if here >= 1 then
        local take = math.min(here, left)
        parts[#parts + 1] = { sku = sku, qty = take, loc = loc }
        left = left - take
        if left == 0 then break end
      end
    end
  end
end

-- The customer's cap, across its reservations and locations: units held (live holds only),
-- placed or bought.
local cap_first = base + 2 * n_items + 1
if capped then
  for i = 1, n_items do
    local used = cap_units(KEYS[cap_first + i - 1], now)
    local qty = tonumber(ARGV[10 + 2 * i])
    if used + qty > cap_max then
      return { 'customer_limit', ARGV[9 + 2 * i], math.max(cap_max - used, 0) }
    end
  end
end

first_part[n_items + 1] = #parts + 1
local expires = now + ttl_ms
for i = 1, n_items do
  local sku, s = ARGV[9 + 2 * i], stocks[i]
  local from, to = first_part[i], first_part[i + 1] - 1
  for j = from, to do
    local c = touch(s, parts[j].loc)
    c.reserved = c.reserved + parts[j].qty
  end
  store_stock(KEYS[base + 2 * i - 1], events, sku, now, s)
  for j = from, to do
    local p = parts[j]
    local m = member(rid, p.qty, p.loc)
    redis.call('ZADD', KEYS[base + 2 * i], expires, m)
    emit(events, now, 'hold_created', sku, rid, p.qty, p.loc)
    if capped then cap_put(KEYS[cap_first + i - 1], m, expires, now, cap_window) end
  end
  if not s.earliest or expires < s.earliest then redis.call('ZADD', sweep, 'LT', expires, sku) end
end

local items = format_items(parts)
save_rsv(rsv_key, { status = 'held', created = now, expires = expires, max_expires = now + max_hold_ms,
  fp = fingerprint, items = items, owner = owner }, ttl_ms + RETENTION_MS)

return { 'ok', rid, 'held', now, expires, 0, now, items }
