//! The edgestock Cloudflare Worker: stock badges and reservations at the edge
//! (docs/api.md#edge-api).
//!
//! Everything that decides something is plain Rust, unit-tested on the host:
//! - [`router`]: routing, CORS, 404/405, and the answer to every request;
//! - [`routes`]: the handlers, one module per resource (stock, reservations, origin calls);
//! - [`platform`]: what the handlers need from the runtime, as a trait, and the request and
//!   response shapes;
//! - [`config`]: vars and secrets, defaults and bounds (`config_error`, never a panic);
//! - [`validate`]: body size, content type, JSON syntax versus values, SKUs, quantities, TTLs;
//! - [`crypto`]: reservation tokens, idempotent ids, fingerprints, ETags;
//! - [`badge`]: badge status and the public view of a SKU;
//! - [`error`]: the mapping of Redis failures onto the one error enum of `edgestock-api`;
//! - [`cache`]: what an isolate remembers between requests (bounded LRU maps);
//! - [`shortcut`]: losing reserves (sold out, rate limited) answered without a Redis call;
//! - [`telemetry`]: one record per request (Analytics Engine data point, JSON log line).
//!
//! The `glue` module (wasm32 only, the one wasm-specific file) implements
//! [`platform::Platform`] with the Workers runtime (`worker::Fetch` with a timeout,
//! `worker::Cache`, `crypto.getRandomValues`) and holds the `fetch` and `scheduled` handlers.

pub mod badge;
pub mod cache;
pub mod config;
pub mod crypto;
pub mod customer;
pub mod error;
pub mod platform;
pub mod router;
pub mod routes;
pub mod shortcut;
pub mod telemetry;
pub mod time;
pub mod validate;

#[cfg(target_arch = "wasm32")]
mod glue;

/// Service name reported by `/healthz`.
pub const SERVICE_NAME: &str = "edgestock-edge";

/// Version of this crate, reported by `/healthz`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// SKUs visited by one scheduled sweep.
pub const SWEEP_MAX_SKUS: usize = 200;
