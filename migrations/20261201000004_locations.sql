-- Stock per location (docs/design.md, Postgres ledger): merchants keep stock in warehouses and
-- stores. Every movement and every allocated part of an order names its location; everything
-- written before this migration belongs to `default`, the location every install has.
--
-- Nothing existing is rewritten: the new columns come with a constant default (stock_movements is
-- append-only by trigger, and a constant default needs no UPDATE), so the migration is quick and
-- every old row reads as `default`.

create table locations (
    code       text primary key check (code ~ '^[A-Za-z0-9._:-]{1,64}$'),
    name       text not null check (length(name) between 1 and 200),
    -- A label only: nothing behaves differently for a store or a warehouse.
    kind       text not null check (kind in ('warehouse', 'store')),
    -- Lower first when a shipping reserve is allocated over several locations.
    priority   integer not null default 0,
    -- Inactive: no new reserve takes units there (its stock still counts in the ledger).
    active     boolean not null default true,
    -- Its units count toward a shipping reserve and the SKU-wide numbers.
    ships      boolean not null default true,
    -- Shoppers may reserve there for pickup.
    pickup     boolean not null default false,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

insert into locations (code, name, kind, priority, active, ships, pickup)
values ('default', 'Default', 'warehouse', 0, true, true, false);

-- A location is never deleted (the ledger refers to it; deactivate it instead), nor renamed.
create function forbid_location_change() returns trigger language plpgsql as $$
begin
    if tg_op = 'DELETE' then
        raise exception 'locations are never deleted (deactivate it instead)';
    end if;
    if new.code <> old.code then
        raise exception 'a location code never changes';
    end if;
    return new;
end;
$$;
create trigger locations_keep before update or delete on locations
    for each row execute function forbid_location_change();

-- At most 64 locations (the Redis scripts walk them on every shipping reserve). The admin API
-- checks it first under its own lock; this is the backstop, named like a constraint. (A BEFORE
-- INSERT trigger also fires for an upsert of an existing code, which adds nothing.)
create function limit_locations() returns trigger language plpgsql as $$
begin
    if not exists (select 1 from locations where code = new.code)
       and (select count(*) from locations) >= 64 then
        raise exception 'at most 64 locations'
            using errcode = 'check_violation', constraint = 'locations_max_64';
    end if;
    return new;
end;
$$;
create trigger locations_limit before insert on locations
    for each row execute function limit_locations();

-- Where a movement's units are. A constant default: no rewrite, no UPDATE of the ledger.
alter table stock_movements
    add column location text not null default 'default' references locations (code);
create index stock_movements_sku_location on stock_movements (sku, location, id);

-- An order's rows are its allocated parts: one per (sku, location), numbered by `line`.
alter table order_items
    add column location text not null default 'default' references locations (code);

-- Moving units between two locations of one SKU: two movements (out of one, into the other)
-- and one outbox row that applies both in one Redis script. Neither value is used in this
-- migration (a value added by ALTER TYPE cannot be used in the transaction that adds it).
alter type movement_kind add value if not exists 'transfer';
alter type outbox_kind add value if not exists 'transfer';

-- Per (SKU, location): on-hand, the part Redis already reflects and the pending movements, as in
-- `sku_levels` (which stays the SKU totals over every location). A SKU always has its `default`
-- row; any other location only once a movement names it.
create view location_levels as
select s.sku,
       l.code as location,
       s.low_stock_threshold,
       coalesce(sum(m.qty), 0)::bigint as on_hand,
       coalesce(sum(m.qty) filter (where m.outbox_id is null or o.outcome = 'applied'), 0)::bigint
           as redis_on_hand,
       count(m.id) filter (where o.id is not null and o.done_at is null)::bigint as pending_movements
from skus s
cross join locations l
left join stock_movements m on m.sku = s.sku and m.location = l.code
left join outbox o on o.id = m.outbox_id
group by s.sku, l.code, s.low_stock_threshold
having l.code = 'default' or count(m.id) > 0;

-- Order events stay one per SKU of the order (a SKU split over locations is one event with its
-- total), numbered by the SKU's first part so old and new stream ids agree.
create or replace function record_order_event() returns trigger language plpgsql as $$
declare
    kind text;
begin
    if tg_op = 'UPDATE' and old.status = new.status then
        return null;
    end if;
    kind := case new.status::text
        when 'PENDING_PAYMENT' then 'order_placed'
        when 'CONFIRMED' then 'order_confirmed'
        when 'CANCELLED' then 'order_cancelled'
        when 'EXPIRED' then 'order_expired'
        when 'NEEDS_ATTENTION' then 'order_needs_attention'
    end;
    insert into stock_events (stream_id, kind, sku, reservation_id, order_id, qty, at)
    select format('origin:%s:%s:%s:%s', kind, new.id, i.line, txid_current()),
           kind, i.sku, new.reservation_id, new.id, i.qty, clock_timestamp()
    from (select sku, min(line) as line, sum(qty) as qty
          from order_items where order_id = new.id group by sku) i
    order by i.line
    on conflict (stream_id) do nothing;
    return null;
end;
$$;
