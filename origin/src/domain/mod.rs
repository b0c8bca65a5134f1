//! The domain: orders and their lifecycle, the stock ledger, the confirm and cancel protocols,
//! the outbox of Redis effects, seeding and the audit trail. Nothing here knows HTTP: operations
//! return [`Error`], which `http::error` maps to responses.
//!
//! # Layout
//! - [`lifecycle`]: order statuses and every transition between them.
//! - [`orders`], [`ledger`]: the rows and their SQL.
//! - [`place`], [`confirm`], [`cancel`], [`expiry`]: the lifecycle's steps (shopper places,
//!   backend confirms or cancels, unpaid orders expire), each under the reservation's lock.
//! - [`outbox`]: Redis effects recorded with the change they mirror, and their worker.
//! - [`stock`], [`transfer`], [`locations`]: admin changes of SKUs, stock and locations.
//! - [`seed`], [`shards`], [`events`]: seeding and reconciling Redis, healing each shard;
//!   copying its event streams.
//! - [`webhooks`]: subscriptions to stock and order events, and their signed delivery.

mod error;

/// Cancelling orders (backend) and releasing reservations (shopper).
pub mod cancel;
/// Confirming orders (backend).
pub mod confirm;
/// Copying the Redis `events` stream into `stock_events`, and the audit trail.
pub mod events;
/// Expiring unpaid orders.
pub mod expiry;
/// The append-only stock ledger and SKUs.
pub mod ledger;
/// Order statuses and their transitions.
pub mod lifecycle;
/// Stock locations and their settings in Redis.
pub mod locations;
/// Orders and their items.
pub mod orders;
/// The outbox of pending Redis effects and its worker.
pub mod outbox;
/// Placing orders (shopper).
pub mod place;
/// Seeding Redis from the ledger and reconciling the two.
pub mod seed;
/// Keeping every logical shard seeded: markers, epochs, healing.
pub mod shards;
/// Admin stock changes: SKUs and adjustments.
pub mod stock;
/// Units moved between locations.
pub mod transfer;
/// Webhook subscriptions and their delivery.
pub mod webhooks;

pub use error::{Error, Result, ResultExt};
