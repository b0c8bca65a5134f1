//! The edgestock Cloudflare Worker: stock badges and reservations at the edge (docs/api.md#edge-api-public-browser-facing).
//!
//! Everything that decides something is plain Rust, unit-tested on the host:
//! - [`config`]: vars and secrets, defaults and bounds (`config_error`, never a panic);
//! - [`validate`]: body size, content type, JSON syntax versus values, SKUs, quantities, TTLs;
//! - [`crypto`]: reservation tokens, idempotent ids, fingerprints, origin signatures, ETags;
//! - [`stock`]: badge status and the public JSON of a SKU;
//! - [`error`]: the one error shape and the mapping of Redis failures;
//! - [`app`]: routing, CORS, caching decisions and every handler, over a [`app::Platform`];
//! - [`cache`]: the isolate-memory tier in front of the Cache API.
//!
//! The `glue` module (wasm32 only) implements [`app::Platform`] with the Workers runtime
//! (`worker::Fetch` with a timeout, `worker::Cache`, `crypto.getRandomValues`) and holds the
//! `fetch` and `scheduled` event handlers.

pub mod app;
pub mod cache;
pub mod config;
pub mod crypto;
pub mod error;
pub mod stock;
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
