-- Webhooks (docs/design.md, webhooks): endpoints subscribe to stock-level and order events.
--
-- Every event a subscriber can receive is a row of stock_events: the level events the copier
-- brings from the Redis stream, and the order events a trigger on `orders` records when an
-- order's status changes (one row per order line, so every event has the SKU it is ordered by).
-- A statement trigger on stock_events fans each new row out into one delivery per enabled,
-- matching endpoint, in the transaction that wrote the event: nothing is missed or doubled, and
-- with no endpoint the cost is one empty join. The origin's delivery worker sends them.

-- The order of an order event (null for events copied from Redis).
alter table stock_events add column order_id uuid;

-- The webhook type of an event kind (null: not a webhook event).
create function webhook_type(kind text) returns text language sql immutable as $$
    select case kind
        when 'low_stock' then 'stock.low'
        when 'sold_out' then 'stock.sold_out'
        when 'back_in_stock' then 'stock.back_in_stock'
        when 'order_placed' then 'order.placed'
        when 'order_confirmed' then 'order.confirmed'
        when 'order_cancelled' then 'order.cancelled'
        when 'order_expired' then 'order.expired'
        when 'order_needs_attention' then 'order.needs_attention'
    end
$$;

create table webhook_endpoints (
    id                   uuid primary key,
    url                  text not null check (length(url) <= 2048),
    event_types          text[] not null check (cardinality(event_types) between 1 and 8),
    -- Null: every SKU.
    skus                 text[] check (cardinality(skus) between 1 and 100),
    -- `whsec_<base64>`: the origin signs with it, so it is kept (and shown once, at creation).
    secret               text not null,
    enabled              boolean not null default true,
    -- Failed attempts in a row; reset by a delivered one. The endpoint is disabled at the limit.
    consecutive_failures integer not null default 0,
    disabled_at          timestamptz,
    created_at           timestamptz not null default now(),
    check (enabled = (disabled_at is null))
);

-- One event to send to one endpoint. The worker sends, per endpoint and SKU, only the oldest
-- pending delivery (so a receiver sees a SKU's events in order), leasing it by pushing
-- next_attempt_at past the request's timeout while the request is in flight.
create table webhook_deliveries (
    id              bigserial primary key,
    endpoint_id     uuid not null references webhook_endpoints (id) on delete cascade,
    event_id        bigint not null references stock_events (id),
    sku             text not null,
    attempts        integer not null default 0,
    next_attempt_at timestamptz not null default now(),
    last_error      text,
    created_at      timestamptz not null default now(),
    done_at         timestamptz
);
create index webhook_deliveries_head on webhook_deliveries (endpoint_id, sku, id) where done_at is null;
create index webhook_deliveries_due on webhook_deliveries (next_attempt_at) where done_at is null;

-- The delivery log: one row per attempt.
create table webhook_attempts (
    id          bigserial primary key,
    delivery_id bigint not null references webhook_deliveries (id) on delete cascade,
    endpoint_id uuid not null references webhook_endpoints (id) on delete cascade,
    attempt     integer not null,
    -- The receiver's HTTP status; null when it did not answer (timeout, refused connection).
    status      integer,
    latency_ms  integer not null,
    error       text,
    at          timestamptz not null default now()
);
create index webhook_attempts_endpoint on webhook_attempts (endpoint_id, id desc);

create function webhook_fan_out() returns trigger language plpgsql as $$
begin
    insert into webhook_deliveries (endpoint_id, event_id, sku)
    select w.id, e.id, e.sku
    from new_events e
    join webhook_endpoints w
      on w.enabled
     and webhook_type(e.kind) = any (w.event_types)
     and (w.skus is null or e.sku = any (w.skus))
    order by e.id, w.id;
    return null;
end;
$$;
create trigger stock_events_fan_out after insert on stock_events
    referencing new table as new_events
    for each statement execute function webhook_fan_out();

-- Order events: one stock_events row per line when an order is placed or changes status. The
-- trigger is deferred to the commit, when the order's lines are written; the transaction id keeps
-- a second visit of one status (confirmed again after needs-attention) a distinct event.
create function record_order_event() returns trigger language plpgsql as $$
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
    from order_items i
    where i.order_id = new.id
    order by i.line
    on conflict (stream_id) do nothing;
    return null;
end;
$$;
create constraint trigger orders_record_event after insert or update of status on orders
    deferrable initially deferred
    for each row execute function record_order_event();
