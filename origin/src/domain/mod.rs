//! The domain: orders and their lifecycle, the stock ledger, the confirm and cancel protocols,
//! the outbox of Redis effects, seeding and the audit trail. Nothing here knows HTTP: operations
//! return [`Error`], which `http::error` maps to responses.
//!
//! # Layout
//! - [`lifecycle`]: order statuses and every transition between them.
//! - [`orders`], [`ledger`]: the rows and their SQL.
//! - [`confirm`], [`cancel`]: the protocols that record orders and give units back.
//! - [`outbox`]: Redis effects recorded with the change they mirror, and their worker.
//! - [`stock`]: admin changes of SKUs and stock.
//! - [`seed`], [`events`]: seeding and reconciling Redis; copying its event stream.

mod error;

/// Cancelling orders and reservations.
pub mod cancel;
/// The confirm protocol.
pub mod confirm;
/// Copying the Redis `events` stream into `stock_events`, and the audit trail.
pub mod events;
/// The append-only stock ledger and SKUs.
pub mod ledger;
/// Order statuses and their transitions.
pub mod lifecycle;
/// Orders and their items.
pub mod orders;
/// The outbox of pending Redis effects and its worker.
pub mod outbox;
/// Seeding Redis from the ledger and reconciling the two.
pub mod seed;
/// Admin stock changes: SKUs and adjustments.
pub mod stock;

pub use error::{Error, Result, ResultExt};
