-- prelude.lua: helpers shared by every edgestock script. The lua crate places this file after the
-- shebang and before each script body, so every script stays one self-contained EVAL source.
-- Data model (docs/design.md#redis-data-model, with the held quantity folded into the zset member):
--   stock:{sku}  hash  per location L: on_hand@L, reserved@L, sold@L (the `default` location keeps
--                the plain names on_hand, reserved, sold: state from before locations is its);
--                low (threshold), rc (1: reserving needs a customer login) are per SKU
--   holds:{sku}  zset  member "<rid>|<qty>" (at default) or "<rid>|<qty>|<loc>", score = expiry
--                (ms, Redis clock)
--   rsv:{rid}    string "status;created;expires;max_expires;fp;items;held_expires;deadline;owner"
--                with items the allocated parts "sku|qty[|loc],..." (no loc: default; one SKU may
--                have several parts), one SET ... PX per change; held_expires and deadline are
--                set by a pin (0 otherwise): the expiry to go back to if the pin is undone, and
--                the payment deadline the pin fixed; owner is "c:<customer-hash>" for a
--                reservation bound to a verified customer
--   locs         hash  the shard's copy of the origin's location settings: <code> ->
--                "priority;active;ships;pickup;name", ~ship -> active shipping locations in
--                allocation order, ~pickup -> active pickup ones, ~seeded -> the shard's seeded
--                marker "<shard>/<shards>/<epoch>"
--   events       stream, capped; sweep  zset sku -> (a lower bound of) its earliest hold expiry
-- Every key carries its logical shard's hash tag {s<n>}: a script touches one shard (one slot).

local RETENTION_MS = 86400000        -- reservations stay readable (and idempotent) 24 h after they end
local COMMITTED_RETENTION_MS = 604800000 -- committed ones 7 days: outbox retries must find them
local REAP_BATCH = 64                -- expired holds reaped per SKU per script call
local EVENTS_MAXLEN = 100000         -- events stream cap (approximate trimming)
local MAX_PARTS = 50 * 64            -- allocated parts of one reservation: items x locations

-- Redis's own clock in ms, plus a test-only offset (always 0 in production).
local function clock(offset)
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + (tonumber(offset) or 0)
end

local DEFAULT_LOC = 'default'

-- A stock hash field of one location (`default` keeps the names from before locations).
local function fld(name, loc)
  if loc == DEFAULT_LOC then return name end
  return name .. '@' .. loc
end

-- The hold (and cap) member of one allocated part.
local function member(rid, qty, loc)
  if loc == DEFAULT_LOC then return rid .. '|' .. qty end
  return rid .. '|' .. qty .. '|' .. loc
end

local function qty_of(m)
  return tonumber(string.match(m, '^[^|]*|(%d+)'))
end

local function rid_of(m)
  return string.match(m, '^([^|]+)|')
end

local function loc_of(m)
  return string.match(m, '^[^|]*|%d+|(.+)$') or DEFAULT_LOC
end

-- Appends an event; `loc` names the location of a part (omitted for `default`).
local function emit(events, now, kind, sku, rid, qty, loc)
  if loc and loc ~= DEFAULT_LOC then
    redis.call('XADD', events, 'MAXLEN', '~', EVENTS_MAXLEN, '*',
      'type', kind, 'sku', sku, 'rid', rid, 'qty', qty, 'at', now, 'loc', loc)
  else
    redis.call('XADD', events, 'MAXLEN', '~', EVENTS_MAXLEN, '*',
      'type', kind, 'sku', sku, 'rid', rid, 'qty', qty, 'at', now)
  end
end

-- Splits "a,b,c" (empty: no entries).
local function split(s)
  if s and s ~= '' and not string.find(s, ',', 1, true) then return { s } end
  local out = {}
  for v in string.gmatch(s or '', '[^,]+') do out[#out + 1] = v end
  return out
end

-- The active shipping locations in allocation order, and the shard's seeded marker
-- ("<shard>/<shards>/<epoch>", written by the origin once it seeded the shard; nil on a shard
-- that came back empty). Without settings the list is `default` alone: the state written before
-- locations existed is `default`'s, so levels answer as before; reserves and reads refuse.
local function ship_list(locs)
  local v = redis.call('HMGET', locs, '~ship', '~seeded')
  if not v[1] then return { DEFAULT_LOC }, v[2] end
  return split(v[1]), v[2]
end

-- True when the seeded marker is this shard's of this layout (`shard` = "<shard>/<shards>/").
local function seeded_as(marker, shard)
  if not marker or not shard then return false end
  return string.sub(marker, 1, #shard) == shard
end

-- A SKU's level: 'out' with nothing available, 'low' at or below its threshold, else 'in'.
local function level(available, low)
  if available <= 0 then return 'out' elseif available <= low then return 'low' end
  return 'in'
end

-- One location's counters of a loaded SKU (read with one HMGET the first time, then kept in `s`).
local function at(s, loc)
  local c = s.at[loc]
  if not c then
    local v = redis.call('HMGET', s.key, fld('on_hand', loc), fld('reserved', loc), fld('sold', loc))
    c = { on_hand = tonumber(v[1]) or 0, reserved = tonumber(v[2]) or 0, sold = tonumber(v[3]) or 0 }
    s.at[loc] = c
  end
  return c
end

-- Counters of a location this script is about to change (written back by store_stock).
local function touch(s, loc)
  s.dirty[loc] = true
  return at(s, loc)
end

local function avail(s, loc)
  local c = at(s, loc)
  return c.on_hand - c.reserved
end

-- Units available over the active shipping locations: the SKU's number for badges and levels.
local function ship_available(s)
  local t = 0
  for _, loc in ipairs(s.ship) do t = t + avail(s, loc) end
  return t
end

-- Reads a SKU's threshold, its `rc` flag (s.rc: reserving needs a customer) and its shipping
-- locations' counters in one HMGET (other locations are read when first used), and its level;
-- nil when the SKU does not exist. A SKU exists once it has counters at some location: a
-- threshold or an `rc` flag written ahead of its first stock is not stock. `ship` is the
-- shipping list its level is computed on.
local function load_stock(stock, ship)
  local v
  if #ship == 1 then
    -- The common install: one shipping location, one plain HMGET.
    local l = ship[1]
    v = redis.call('HMGET', stock, 'low', 'rc', fld('on_hand', l), fld('reserved', l), fld('sold', l))
  else
    local fields = { 'low', 'rc' }
    for _, loc in ipairs(ship) do
      fields[#fields + 1] = fld('on_hand', loc)
      fields[#fields + 1] = fld('reserved', loc)
      fields[#fields + 1] = fld('sold', loc)
    end
    v = redis.call('HMGET', stock, unpack(fields))
  end
  local s = { key = stock, at = {}, dirty = {}, ship = ship, low = tonumber(v[1]) or 0,
              rc = v[2] == '1' }
  local counted = false
  for i, loc in ipairs(ship) do
    local on_hand = v[3 * i]
    if on_hand then counted = true end
    s.at[loc] = { on_hand = tonumber(on_hand) or 0, reserved = tonumber(v[3 * i + 1]) or 0,
                  sold = tonumber(v[3 * i + 2]) or 0 }
  end
  if not counted then
    -- Stocked only where nothing ships (a store), or not at all: look for any counter.
    for _, f in ipairs(redis.call('HKEYS', stock)) do
      if string.sub(f, 1, 7) == 'on_hand' then counted = true break end
    end
    if not counted then return nil end
  end
  s.state = level(ship_available(s), s.low)
  return s
end

-- A SKU that has no counters yet (its first adjust or seed); `low` as the hash may already hold it.
local function new_stock(stock, ship, low)
  local s = { key = stock, at = {}, dirty = {}, ship = ship, low = low or 0, created = true }
  s.state = level(0, s.low)
  return s
end

-- Writes the changed locations' counters and emits low_stock / sold_out / back_in_stock when the
-- shipping level moved away from `s.state` (the level when the counters were read).
local function store_stock(stock, events, sku, now, s)
  local available = ship_available(s)
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
  local loc = next(s.dirty)
  if loc and not s.created and next(s.dirty, loc) == nil then
    -- One location changed (nearly every call): one plain HSET.
    local c = s.at[loc]
    redis.call('HSET', stock, fld('on_hand', loc), c.on_hand, fld('reserved', loc), c.reserved,
      fld('sold', loc), c.sold)
    s.dirty[loc] = nil
  elseif loc or s.created then
    local args = {}
    for l in pairs(s.dirty) do
      local c = s.at[l]
      args[#args + 1] = fld('on_hand', l); args[#args + 1] = c.on_hand
      args[#args + 1] = fld('reserved', l); args[#args + 1] = c.reserved
      args[#args + 1] = fld('sold', l); args[#args + 1] = c.sold
    end
    if s.created then
      args[#args + 1] = 'low'; args[#args + 1] = s.low
      s.created = nil
    end
    redis.call('HSET', stock, unpack(args))
    s.dirty = {}
  end
  s.state = state
end

-- Removes up to REAP_BATCH expired holds of one SKU, emitting hold_expired; the freed units go
-- back to their locations in `s` (nil: only the holds are removed). Returns the units freed.
local function reap(s, holds, events, sku, now)
  local expired = redis.call('ZRANGEBYSCORE', holds, '-inf', now, 'LIMIT', 0, REAP_BATCH)
  local n = #expired
  if n == 0 then return 0 end
  local freed = 0
  for i = 1, n do
    local q, loc = qty_of(expired[i]), loc_of(expired[i])
    freed = freed + q
    if s then
      local c = touch(s, loc)
      c.reserved = c.reserved - q
    end
    emit(events, now, 'hold_expired', sku, rid_of(expired[i]), q, loc)
  end
  redis.call('ZREM', holds, unpack(expired))
  return freed
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

-- Parses a record's parts "sku|qty[|loc],..." into { {sku=, qty=, loc=}, ... } (no loc: default).
local function parse_items(s)
  local items = {}
  for part in string.gmatch(s or '', '[^,]+') do
    local sku, q, loc = string.match(part, '^([^|]+)|(%d+)|(.+)$')
    if not sku then
      sku, q = string.match(part, '^([^|]+)|(%d+)$')
      loc = DEFAULT_LOC
    end
    if sku then items[#items + 1] = { sku = sku, qty = tonumber(q), loc = loc } end
  end
  return items
end

-- Formats parts as a record's items string.
local function format_items(items)
  local out = {}
  for i, it in ipairs(items) do
    if it.loc == DEFAULT_LOC then out[i] = it.sku .. '|' .. it.qty
    else out[i] = it.sku .. '|' .. it.qty .. '|' .. it.loc end
  end
  return table.concat(out, ',')
end

-- Reads the parts the caller passed (ARGV from `first`: sku, qty, loc per part); nil when malformed.
local function arg_items(n, first)
  if not n or n < 1 or n > MAX_PARTS or #ARGV < first + 3 * n - 1 then return nil end
  local items = {}
  for i = 1, n do
    local sku, qty, loc = ARGV[first + 3 * i - 3], tonumber(ARGV[first + 3 * i - 2]), ARGV[first + 3 * i - 1]
    if not qty or qty < 1 or qty % 1 ~= 0 or loc == '' then return nil end
    items[i] = { sku = sku, qty = qty, loc = loc }
  end
  return items
end

-- Checks that the parts the caller passed (ARGV from `first`) match the record, so KEYS line up.
local function items_match(items, first)
  for i, it in ipairs(items) do
    if ARGV[first + 3 * i - 3] ~= it.sku or tonumber(ARGV[first + 3 * i - 2]) ~= it.qty
       or ARGV[first + 3 * i - 1] ~= it.loc then
      return false
    end
  end
  return true
end

-- Loads the reservation a script acts on and checks that the caller declared its parts' keys
-- (stock/holds pairs from KEYS[base + 1]) in the record's order, parts from ARGV[first_arg].
-- Returns the record and its parts, or nil, nil and the reply to give.
-- A reservation bound to a customer also declares, after its stock/holds pairs, one cap key per
-- part (cap:{sku}:<customer>): the fourth value returned is the index of the first, or nil.
local function load_declared(rsv_key, n_items, first_arg, base)
  local r = load_rsv(rsv_key)
  if not r then return nil, nil, { 'not_found' } end
  local items = parse_items(r.items)
  local capped = #KEYS == base + 3 * n_items
  if #items ~= n_items or not (#KEYS == base + 2 * n_items or capped) or not items_match(items, first_arg) then
    return nil, nil, { 'bad_request', 'items do not match the reservation' }
  end
  if capped then return r, items, nil, base + 1 + 2 * n_items end
  return r, items
end

-- The per-customer cap: cap:{sku}:<customer> is a zset of the customer's reservations of the SKU,
-- one member per allocated part ("<rid>|<qty>[|<loc>]", the hold's member), scored by when the
-- units stop counting: the hold's expiry while held (an expired hold drops out by itself), +inf
-- once placed or bought. The key lives at least the cap window after a reserve, and at least as
-- long as any hold it counts. The cap is per SKU: parts at every location count.

-- Units of a SKU the customer holds, has placed or bought (members past their score removed).
local function cap_units(cap, now)
  redis.call('ZREMRANGEBYSCORE', cap, '-inf', now)
  local total = 0
  for _, m in ipairs(redis.call('ZRANGE', cap, 0, -1)) do total = total + (qty_of(m) or 0) end
  return total
end

-- Sets member `m` of cap key `cap` to `score` (a number or '+inf'), keeping the key alive at
-- least `min_ttl_ms` and until a numeric score.
local function cap_put(cap, m, score, now, min_ttl_ms)
  redis.call('ZADD', cap, score, m)
  local ttl = min_ttl_ms or 0
  if score ~= '+inf' then ttl = math.max(ttl, score - now) end
  local left = redis.call('PTTL', cap)
  if left >= 0 and left < ttl or left == -1 then redis.call('PEXPIRE', cap, math.max(ttl, 1)) end
end

-- Sets the reservation's member of each part's cap key (part i: KEYS[first + i - 1]).
local function cap_set(first, items, rid, score, now, min_ttl_ms)
  for i, it in ipairs(items) do
    cap_put(KEYS[first + i - 1], member(rid, it.qty, it.loc), score, now, min_ttl_ms)
  end
end

-- Removes the reservation's member of each part's cap key from KEYS[first].
local function cap_drop(first, items, rid)
  for i, it in ipairs(items) do redis.call('ZREM', KEYS[first + i - 1], member(rid, it.qty, it.loc)) end
end

-- Removes a reservation's holds (those still present), returning their units to their
-- locations; `kind` is the event to emit (hold_released, hold_expired). Keys: stock/holds pairs
-- from KEYS[base + 1], one per part.
local function drop_holds(rid, items, base, events, now, kind, ship)
  for i, it in ipairs(items) do
    local stock, holds = KEYS[base + 2 * i - 1], KEYS[base + 2 * i]
    if redis.call('ZREM', holds, member(rid, it.qty, it.loc)) == 1 then
      local s = load_stock(stock, ship)
      if s then
        local c = touch(s, it.loc)
        c.reserved = c.reserved - it.qty
        store_stock(stock, events, it.sku, now, s)
      end
      emit(events, now, kind, it.sku, rid, it.qty, it.loc)
    end
  end
end

-- True when every hold of the reservation is still in its zset.
local function all_held(rid, items, base)
  for i, it in ipairs(items) do
    if not redis.call('ZSCORE', KEYS[base + 2 * i], member(rid, it.qty, it.loc)) then return false end
  end
  return true
end

-- Loads (and reaps) the SKUs of a reservation's parts (stock/holds pairs from KEYS[base + 1])
-- and checks that every part's units are available at its own location, never another; parts
-- of one SKU and location are counted together. Returns the loaded SKUs by stock key, or nil and
-- the `short` reply naming the first part that is short.
local function check_parts(items, base, events, now, ship)
  local stocks, need = {}, {}
  for i, it in ipairs(items) do
    local stock, holds = KEYS[base + 2 * i - 1], KEYS[base + 2 * i]
    local s = stocks[stock]
    if not s then
      s = load_stock(stock, ship)
      if not s then return nil, { 'short', it.sku, 0, it.loc } end
      if reap(s, holds, events, it.sku, now) > 0 then store_stock(stock, events, it.sku, now, s) end
      stocks[stock] = s
    end
    local k = stock .. '\0' .. it.loc
    need[k] = (need[k] or 0) + it.qty
    if avail(s, it.loc) < need[k] then
      return nil, { 'short', it.sku, math.max(avail(s, it.loc), 0), it.loc }
    end
  end
  return stocks
end
