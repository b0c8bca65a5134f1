-- The location of each hold and stock event in the audit copy of the Redis stream (the stream
-- entry's `loc`, `default` when it names none), and of a needs_attention event (the short part's
-- location). Level events (low_stock, sold_out, back_in_stock) are about a SKU's shipping sum and
-- keep no location. Rows copied before this migration keep none either.
alter table stock_events add column location text;
