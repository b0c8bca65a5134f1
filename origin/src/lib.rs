//! The origin: orders and the stock ledger in Postgres, the crash-safe confirm protocol with an
//! outbox, the admin API, seeding and reconciling Redis, and background workers
//! (`docs/design.md`).
//!
//! # Layout
//! - [`config`], [`telemetry`], [`startup`], [`state`]: process wiring.
//! - [`http`]: the axum routers, one module per resource, and the one error type.
//! - [`signature`]: the HMAC the edge signs forwarded calls with (mirrored by the edge).
//! - [`domain`]: orders and their lifecycle, the ledger, confirm and cancel, the outbox, seeding
//!   and the audit trail, with their SQL and their own error type.
//! - [`sweeper`]: the background reaper of expired holds.
//! - [`metrics`]: Prometheus metrics (`prometheus-client`).
#![warn(missing_docs)]

/// Configuration from the environment.
pub mod config;
/// The domain and its SQL, apart from HTTP.
pub mod domain;
/// Test-only switch that stops the confirm handler at named points.
pub mod fault;
/// HTTP routers, authentication and the error type.
pub mod http;
/// Prometheus metrics.
pub mod metrics;
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
