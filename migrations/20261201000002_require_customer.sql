-- Drops that need a login: a SKU may require a verified customer to be reserved. The flag is
-- kept here so a re-seed of Redis restores it (Redis keeps it as field `rc` of the SKU's hash).
alter table skus add column require_customer boolean not null default false;
