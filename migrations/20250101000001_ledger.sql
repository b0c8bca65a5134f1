-- The origin's schema (DESIGN.md §6): SKUs, orders, the append-only stock ledger, the outbox of
-- pending Redis effects and the audit copy of the Redis `events` stream.
--
-- Why the shape: a confirm only INSERTs (order, items, sale movements, outbox row), so 1,000
-- concurrent checkouts of one SKU never queue on a hot row. On-hand is derived from the ledger.

create type order_status as enum ('PENDING', 'CONFIRMED', 'CANCELLED', 'NEEDS_ATTENTION');
create type movement_kind as enum ('initial', 'restock', 'return', 'adjustment', 'sale', 'cancellation');
-- commit: apply a confirmed order's reservation; release: drop the hold of an order cancelled
-- before its commit was applied; restock: give a cancelled order's units back; adjust: admin
-- stock changes (initial stock, restock, returns, shrinkage).
create type outbox_kind as enum ('commit', 'release', 'restock', 'adjust');

create table skus (
    sku                 text primary key check (sku ~ '^[A-Za-z0-9._:-]{1,64}$'),
    name                text not null,
    low_stock_threshold integer not null check (low_stock_threshold >= 0),
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now()
);

-- Pending Redis effects. A row is written in the same transaction as the Postgres change it
-- mirrors, then applied by the request that wrote it or, after a crash or a Redis outage, by the
-- outbox worker (`for update skip locked`, so any number of origin replicas can run it).
create table outbox (
    id              bigserial primary key,
    kind            outbox_kind not null,
    payload         jsonb not null,
    attempts        integer not null default 0,
    -- Not before this time: the writing request gets a head start before the worker competes.
    next_attempt_at timestamptz not null default now(),
    last_error      text,
    -- 'applied' when Redis took the effect; 'not_applied' when it never will (a late commit that
    -- found no units). Reconcile counts only applied movements as being in Redis.
    outcome         text check (outcome in ('applied', 'not_applied')),
    created_at      timestamptz not null default now(),
    done_at         timestamptz,
    check ((done_at is null) = (outcome is null))
);
create index outbox_due on outbox (next_attempt_at) where done_at is null;

create table orders (
    id               uuid primary key,
    -- One order per reservation: a second confirm of the same reservation hits this constraint.
    reservation_id   text not null unique,
    status           order_status not null,
    customer_ref     text,
    payment_ref      text,
    idempotency_key  text unique,
    -- The outbox row that applies (or, once cancelled before it ran, releases) the reservation.
    commit_outbox_id bigint not null references outbox (id),
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now()
);
create index orders_needs_attention on orders (created_at) where status = 'NEEDS_ATTENTION';

create table order_items (
    order_id uuid not null references orders (id),
    line     integer not null,
    sku      text not null references skus (sku),
    qty      integer not null check (qty > 0),
    primary key (order_id, line)
);

-- The append-only ledger: on-hand of a SKU is the sum of its movements' signed quantities.
create table stock_movements (
    id          bigserial primary key,
    -- Idempotency: an admin adjustment retried with the same id is recorded once.
    movement_id text not null unique,
    sku         text not null references skus (sku),
    kind        movement_kind not null,
    qty         integer not null,
    reason      text,
    order_id    uuid references orders (id),
    -- The outbox row that brings this movement to Redis.
    outbox_id   bigint references outbox (id),
    created_at  timestamptz not null default now(),
    check (kind not in ('sale') or qty < 0),
    check (kind not in ('initial', 'restock', 'return', 'cancellation') or qty >= 0)
);
create index stock_movements_sku on stock_movements (sku, id);
create index stock_movements_outbox on stock_movements (outbox_id);

-- History is never rewritten: corrections are new movements.
create function forbid_change() returns trigger language plpgsql as $$
begin
    raise exception '% is append-only', tg_table_name;
end;
$$;
create trigger stock_movements_append_only before update or delete on stock_movements
    for each row execute function forbid_change();

-- On-hand per SKU, and the part of it Redis already reflects (movements whose outbox row was
-- applied). Seeding Redis uses `redis_on_hand`, so effects still pending in the outbox are added
-- exactly once, when they are applied.
create view sku_levels as
select s.sku,
       s.name,
       s.low_stock_threshold,
       coalesce(sum(m.qty), 0)::bigint as on_hand,
       coalesce(sum(m.qty) filter (where m.outbox_id is null or o.outcome = 'applied'), 0)::bigint
           as redis_on_hand,
       count(m.id) filter (where o.id is not null and o.done_at is null)::bigint as pending_movements
from skus s
left join stock_movements m on m.sku = s.sku
left join outbox o on o.id = m.outbox_id
group by s.sku, s.name, s.low_stock_threshold;

-- The hold lifecycle and level events copied from the Redis stream, exactly once (unique stream
-- id), plus events the origin raises itself (`origin:` ids, e.g. needs_attention).
create table stock_events (
    id             bigserial primary key,
    stream_id      text not null unique,
    kind           text not null,
    sku            text not null,
    reservation_id text,
    qty            bigint not null,
    at             timestamptz not null,
    created_at     timestamptz not null default now()
);
create index stock_events_sku_at on stock_events (sku, at desc);
create index stock_events_at on stock_events (at desc);

-- How far the copier has read each Redis stream.
create table stream_checkpoints (
    stream  text primary key,
    last_id text not null
);
