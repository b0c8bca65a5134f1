-- Redis keeps one event stream per logical shard, and each stream numbers its entries on its own
-- shard's clock: two streams can reuse an id. An audit row is therefore unique per (stream, id).
-- Rows copied before shards came from the one stream there was; they keep stream '' (no rewrite
-- of existing rows, and none of them can collide with a shard stream's name).
alter table stock_events add column stream text not null default '';
alter table stock_events drop constraint stock_events_stream_id_key;
alter table stock_events add constraint stock_events_stream_stream_id_key unique (stream, stream_id);

-- The seeding epoch the origin last wrote to each logical shard's seeded marker. A shard whose
-- marker is gone came back empty; one whose marker names an older epoch is a copy from before
-- the last seeding (a failover to a replica that missed writes): both are seeded again.
create table redis_shards (
    shard      integer primary key check (shard >= 0),
    epoch      text not null,
    seeded_at  timestamptz not null default now()
);
