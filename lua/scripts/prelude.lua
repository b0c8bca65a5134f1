-- prelude.lua: helpers shared by every edgestock script. The lua crate places this file after the
-- shebang and before each script body, so every script stays one self-contained EVAL source.
-- Data model (docs/design.md#redis-data-model, with the held quantity folded into the zset member):
--   stock:{sku}  hash  on_hand, reserved, sold, low, rc (1: reserving needs a customer login)
--   holds:{sku}  zset  member "<rid>|<qty>", score = expiry (ms, Redis clock)
--   rsv:{rid}    string "status;created;expires;max_expires;fp;items;held_expires;deadline;owner"
--                with items "sku|qty,sku|qty" (one SET ... PX per change: the cheapest record Redis
--                can keep); held_expires and deadline are set by a pin (0 otherwise): the expiry to
--                go back to if the pin is undone, and the payment deadline the pin fixed; owner
--                is "c:<customer-hash>" for a reservation bound to a verified customer
--   events       stream, capped; sweep  zset sku -> (a lower bound of) its earliest hold expiry

local RETENTION_MS = 86400000        -- reservations stay readable (and idempotent) 24 h after they end
local COMMITTED_RETENTION_MS = 604800000 -- committed ones 7 days: outbox retries must find them
local REAP_BATCH = 64                -- expired holds reaped per SKU per script call
local EVENTS_MAXLEN = 100000         -- events stream cap (approximate trimming)

-- Redis's own clock in ms, plus a test-only offset (always 0 in production).
local function clock(offset)
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + (tonumber(offset) or 0)
end

local function emit(events, now, kind, sku, rid, qty)
  redis.call('XADD', events, 'MAXLEN', '~', EVENTS_MAXLEN, '*',
    'type', kind, 'sku', sku, 'rid', rid, 'qty', qty, 'at', now)
end

local function qty_of(member)
  return tonumber(string.match(member, '|(%d+)$'))
end

local function rid_of(member)
  return string.match(member, '^([^|]+)|')
end

-- Removes up to REAP_BATCH expired holds of one SKU, emitting hold_expired; returns units freed.
local function reap(holds, events, sku, now)
  local expired = redis.call('ZRANGEBYSCORE', holds, '-inf', now, 'LIMIT', 0, REAP_BATCH)
  local n = #expired
  if n == 0 then return 0 end
  local freed = 0
  for i = 1, n do
    local q = qty_of(expired[i])
    freed = freed + q
    emit(events, now, 'hold_expired', sku, rid_of(expired[i]), q)
  end
  redis.call('ZREM', holds, unpack(expired))
  return freed
end

-- A SKU's level: 'out' with nothing available, 'low' at or below its threshold, else 'in'.
local function level(available, low)
  if available <= 0 then return 'out' elseif available <= low then return 'low' end
  return 'in'
end

-- Writes the SKU's counters and emits low_stock / sold_out / back_in_stock when its level moved
-- away from `s.state` (the level when the counters were read).
local function store_stock(stock, events, sku, now, s)
  local available = s.on_hand - s.reserved
  local state = level(available, s.low)
  if state ~= s.state then
    if state == 'out' then
      emit(events, now, 'sold_out', sku, '', available)
    elseif s.state == 'out' then
      emit(events, now, 'back_in_stock', sku, '', available)
    elseif state == 'low' then
      emit(events, now, 'low_stock', sku, '', available)
    end
  end
  redis.call('HSET', stock, 'on_hand', s.on_hand, 'reserved', s.reserved, 'sold', s.sold)
  s.state = state
end

-- Reads a SKU's counters and their level; nil when the SKU does not exist.
local function load_stock(stock)
  local v = redis.call('HMGET', stock, 'on_hand', 'reserved', 'sold', 'low')
  if not v[1] then return nil end
  local s = { on_hand = tonumber(v[1]), reserved = tonumber(v[2] or 0), sold = tonumber(v[3] or 0),
              low = tonumber(v[4] or 0) }
  s.state = level(s.on_hand - s.reserved, s.low)
  return s
end

-- Reads a reservation record; nil when absent. Records written before pins kept held_expires
-- and deadline (seven fields) read with both at 0.
local function load_rsv(key)
  local v = redis.call('GET', key)
  if not v then return nil end
  local status, created, expires, max_expires, fp, items, held_expires, deadline, owner =
    string.match(v, '^([^;]*);([^;]*);([^;]*);([^;]*);([^;]*);([^;]*);(%d+);(%d+);(.*)$')
  if not status then
    status, created, expires, max_expires, fp, items, owner =
      string.match(v, '^([^;]*);([^;]*);([^;]*);([^;]*);([^;]*);([^;]*);(.*)$')
    held_expires, deadline = 0, 0
  end
  return { status = status, created = tonumber(created), expires = tonumber(expires),
           max_expires = tonumber(max_expires), fp = fp, items = items, owner = owner,
           held_expires = tonumber(held_expires), deadline = tonumber(deadline) }
end

-- Writes a reservation record with a time to live (ms).
local function save_rsv(key, r, ttl_ms)
  redis.call('SET', key, r.status .. ';' .. r.created .. ';' .. r.expires .. ';' .. r.max_expires
    .. ';' .. r.fp .. ';' .. r.items .. ';' .. (r.held_expires or 0) .. ';' .. (r.deadline or 0)
    .. ';' .. r.owner, 'PX', ttl_ms)
end

-- Parses "sku|qty,sku|qty" into { {sku=, qty=}, ... }.
local function parse_items(s)
  local items = {}
  for sku, q in string.gmatch(s or '', '([^,|]+)|(%d+)') do
    items[#items + 1] = { sku = sku, qty = tonumber(q) }
  end
  return items
end

-- Checks that the items the caller passed (ARGV from `first`) match the record, so KEYS line up.
local function items_match(items, first)
  for i, it in ipairs(items) do
    if ARGV[first + 2 * i - 2] ~= it.sku or tonumber(ARGV[first + 2 * i - 1]) ~= it.qty then
      return false
    end
  end
  return true
end

-- Loads the reservation a script acts on and checks that the caller declared its items' keys
-- (stock/holds pairs from KEYS[3]) in the record's order, items from ARGV[first_arg]. Returns the
-- record and its items, or nil, nil and the reply to give.
-- A reservation bound to a customer also declares, after its stock/holds pairs, one cap key per
-- item (cap:{sku}:<customer>): the fourth value returned is the index of the first, or nil.
local function load_declared(rsv_key, n_items, first_arg)
  local r = load_rsv(rsv_key)
  if not r then return nil, nil, { 'not_found' } end
  local items = parse_items(r.items)
  local capped = #KEYS == 2 + 3 * n_items
  if #items ~= n_items or not (#KEYS == 2 + 2 * n_items or capped) or not items_match(items, first_arg) then
    return nil, nil, { 'bad_request', 'items do not match the reservation' }
  end
  if capped then return r, items, nil, 3 + 2 * n_items end
  return r, items
end

-- The per-customer cap: cap:{sku}:<customer> is a zset of the customer's reservations of the SKU,
-- member "<rid>|<qty>", scored by when the units stop counting: the hold's expiry while held
-- (an expired hold drops out by itself), +inf once placed or bought. The key lives at least the
-- cap window after a reserve, and at least as long as any hold it counts.

-- Units of a SKU the customer holds, has placed or bought (members past their score removed).
local function cap_units(cap, now)
  redis.call('ZREMRANGEBYSCORE', cap, '-inf', now)
  local total = 0
  for _, m in ipairs(redis.call('ZRANGE', cap, 0, -1)) do total = total + (qty_of(m) or 0) end
  return total
end

-- Sets the reservation's member of each cap key from KEYS[first] to `score` (a number or
-- '+inf'), keeping the key alive at least `min_ttl_ms` and until a numeric score.
local function cap_set(first, items, rid, score, now, min_ttl_ms)
  for i, it in ipairs(items) do
    local cap = KEYS[first + i - 1]
    redis.call('ZADD', cap, score, rid .. '|' .. it.qty)
    local ttl = min_ttl_ms or 0
    if score ~= '+inf' then ttl = math.max(ttl, score - now) end
    local left = redis.call('PTTL', cap)
    if left >= 0 and left < ttl or left == -1 then redis.call('PEXPIRE', cap, math.max(ttl, 1)) end
  end
end

-- Removes the reservation's member of each cap key from KEYS[first].
local function cap_drop(first, items, rid)
  for i, it in ipairs(items) do redis.call('ZREM', KEYS[first + i - 1], rid .. '|' .. it.qty) end
end

-- Removes a reservation's holds (those still present), returning their units; `kind` is the
-- event to emit (hold_released, hold_expired). Keys: stock/holds pairs from KEYS[base + 1].
local function drop_holds(rid, items, base, events, now, kind)
  for i, it in ipairs(items) do
    local stock, holds = KEYS[base + 2 * i - 1], KEYS[base + 2 * i]
    if redis.call('ZREM', holds, rid .. '|' .. it.qty) == 1 then
      local s = load_stock(stock)
      if s then
        s.reserved = s.reserved - it.qty
        store_stock(stock, events, it.sku, now, s)
      end
      emit(events, now, kind, it.sku, rid, it.qty)
    end
  end
end

-- True when every hold of the reservation is still in its zset.
local function all_held(rid, items, base)
  for i, it in ipairs(items) do
    if not redis.call('ZSCORE', KEYS[base + 2 * i], rid .. '|' .. it.qty) then return false end
  end
  return true
end

