//! Code both sides of edgestock share.
//!
//! # Layout
//! - [`domain`]: validated domain types (SKU, quantities, reservation ids).
//! - [`keys`]: Redis key naming; every per-SKU key carries the SKU as a hash tag.
//! - [`rest`]: a small typed client for the Upstash REST protocol over a [`rest::Transport`].
//! - [`signing`]: HMAC signatures of edge-to-origin calls.
//! - [`transport`]: the two transports: `reqwest` (native, feature `reqwest`) and `worker::Fetch` (wasm).

pub mod domain;
pub mod keys;
pub mod rest;
pub mod scripts;
pub mod signing;
pub mod transport;
