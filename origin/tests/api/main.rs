//! Origin tests: router tests on a fresh database each (`#[sqlx::test]`) and black-box tests of
//! the real server on port 0 against Postgres, the in-process gateway and Redis.
//!
//! Needs `DATABASE_URL` (a role that may create databases) and Redis at `REDIS_URL`
//! (default `redis://127.0.0.1:6379`).

mod admin;
mod concurrency;
mod crash;
mod dashboards;
mod helpers;
mod lifecycle;
mod locations;
mod ops;
mod orders;
mod pending;
mod receiver;
mod recovery;
mod redis_down;
mod shards;
mod webhook_failures;
mod webhook_orders;
mod webhooks;
