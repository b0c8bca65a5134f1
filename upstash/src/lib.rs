//! A small, runtime-free client for the Upstash REST protocol (see the repository's
//! `docs/upstash-rest-protocol.md`).
//!
//! It speaks what the official clients speak: `POST /` with a JSON array, `POST /pipeline` and
//! `POST /multi-exec` with a 2-D array, `Authorization: Bearer`, and `Upstash-Encoding: base64`
//! so binary values survive the JSON envelope. Scripts go out as `EVALSHA` and fall back to
//! `EVAL` on `NOSCRIPT`, as `@upstash/redis` does.
//!
//! # Layout
//! - [`Client`]: commands, pipelines, transactions, scripts; every call carries a timeout.
//! - [`Transport`]: the HTTP exchange. [`ReqwestTransport`] natively (feature `reqwest`); any
//!   runtime (the Cloudflare Worker's `fetch`, say) implements the trait in its own crate.
//! - [`Cmd`] / [`cmd`]: building commands; [`Value`]: decoded replies; [`Error`]: failures.

mod client;
mod command;
mod error;
mod transport;
mod value;

pub use client::{Client, ItemResult, Script};
pub use command::{cmd, Cmd, ToArg};
pub use error::Error;
#[cfg(feature = "reqwest")]
pub use transport::ReqwestTransport;
pub use transport::{
    HttpRequest, HttpResponse, Transport, TransportError, DEFAULT_TIMEOUT, FIXED_HEADERS,
};
pub use value::Value;
