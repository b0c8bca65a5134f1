//! The origin: orders and the stock ledger in Postgres, the crash-safe confirm protocol with an
//! outbox, the admin API, seeding and reconciling Redis, and background workers
//! (docs/api.md and docs/design.md).
//!
//! # Layout
//! - [`config`], [`telemetry`], [`startup`], [`state`]: process wiring.
//! - [`http`]: the axum routers, one module per resource, and the HTTP face of [`error`].
//! - [`signature`]: the HMAC the edge signs forwarded calls with (mirrored by the edge).
//! - [`ledger`], [`orders`], [`confirm`], [`cancel`], [`error`]: the domain and its SQL.
//! - [`outbox`], [`seed`], [`events`], [`sweeper`]: effects on Redis and background loops.
//! - [`metrics`]: hand-rolled Prometheus text exposition.
#![warn(missing_docs)]

/// Cancelling orders and reservations.
pub mod cancel;
/// Configuration from the environment.
pub mod config;
/// The confirm protocol (docs/design.md#confirm-protocol).
pub mod confirm;
/// The domain error; `http/` maps it to responses.
pub mod error;
/// Copying the Redis `events` stream into `stock_events`.
pub mod events;
/// Test-only switch that stops the confirm handler at named points.
pub mod fault;
/// HTTP routers, authentication and the error type.
pub mod http;
/// The append-only stock ledger and SKUs.
pub mod ledger;
/// Prometheus metrics.
pub mod metrics;
/// Orders and their items.
pub mod orders;
/// The outbox of pending Redis effects and its worker.
pub mod outbox;
/// Seeding Redis from the ledger and reconciling the two.
pub mod seed;
/// HMAC signatures of edge-forwarded requests.
pub mod signature;
/// Building and running the application.
pub mod startup;
/// Shared application state.
pub mod state;
/// The background sweeper of expired holds.
pub mod sweeper;
/// Tracing setup.
pub mod telemetry;

/// The embedded migrations (`migrations/` at the repository root).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");
