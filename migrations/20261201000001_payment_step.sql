-- The payment step (docs/design.md, the order lifecycle): a shopper places an order
-- (PENDING_PAYMENT, with a payment deadline fixed once); only the checkout backend confirms it
-- (CONFIRMED) with its payment reference; an unpaid order EXPIRES at its deadline.
--
-- * The old PENDING status ("recorded, Redis commit not applied yet") becomes CONFIRMED with
--   commit_applied = false: the backend always gets a definite answer.
-- * orders.idempotency_key goes: place and confirm are idempotent by their natural keys
--   (reservation_id, payment_ref), so no client can block another with a key.
-- * commit_outbox_id is null until the order is confirmed (a placed order has no commit yet).

create type order_status_v2 as enum
    ('PENDING_PAYMENT', 'CONFIRMED', 'CANCELLED', 'EXPIRED', 'NEEDS_ATTENTION');

drop index orders_needs_attention;
alter table orders add column commit_applied boolean not null default false;
update orders set commit_applied = true where status in ('CONFIRMED', 'CANCELLED');
alter table orders
    alter column status type order_status_v2
    using (case status::text when 'PENDING' then 'CONFIRMED' else status::text end)::order_status_v2;
drop type order_status;
alter type order_status_v2 rename to order_status;
create index orders_needs_attention on orders (created_at) where status = 'NEEDS_ATTENTION';

alter table orders drop column idempotency_key;
alter table orders alter column commit_outbox_id drop not null;
-- Fixed once, when the order is placed (null for orders confirmed straight from a hold).
alter table orders add column payment_deadline timestamptz;
-- The backend's payment reference identifies one payment: it confirms one order only.
alter table orders add constraint orders_payment_ref_key unique (payment_ref);
alter table orders add column confirmed_at timestamptz;
-- Confirmed after the payment deadline (the units came from what was available then).
alter table orders add column late boolean not null default false;
alter table orders add constraint orders_confirmed_has_commit
    check (status not in ('CONFIRMED', 'NEEDS_ATTENTION') or commit_outbox_id is not null);

-- The sweeper finds unpaid orders past their deadline through this index.
create index orders_payment_due on orders (payment_deadline) where status = 'PENDING_PAYMENT';
