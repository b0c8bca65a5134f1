-- Redis keeps one event stream per logical shard, and each stream numbers its entries on its own
-- shard's clock: two streams can reuse an id. An audit row is therefore unique per (stream, id).
-- Rows copied before shards came from the one stream there was; they keep stream '' (no rewrite
-- of existing rows, and none of them can collide with a shard stream's name).
alter table stock_events add column stream text not null default '';
alter table stock_events drop constraint stock_events_stream_id_key;
alter table stock_events add constraint stock_events_stream_stream_id_key unique (stream, stream_id);

-- The seeding epoch the origin last wrote to each logical shard's seeded marker, and the
-- replication id of the Redis that served the shard when last checked. A shard whose marker is
-- gone came back empty; one whose marker names an older epoch is a copy from before the last
-- seeding: both are seeded again. A new replication id is a failover (a promoted replica may
-- have missed acknowledged writes): the shard is reconciled.
create table redis_shards (
    shard      integer primary key check (shard >= 0),
    epoch      text not null,
    replid     text,
    seeded_at  timestamptz not null default now()
);

-- The origin's own events (order events by trigger, needs_attention) keep stream ''; their ids
-- start with `origin:` and cannot meet a Redis stream id. The trigger names the new constraint.
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
    on conflict (stream, stream_id) do nothing;
    return null;
end;
$$;
