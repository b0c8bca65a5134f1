//! The edgestock domain, shared by the edge and the origin.
//!
//! # Layout
//! - [`domain`]: validated domain types (SKU, quantities, reservation ids).
//! - [`keys`]: Redis key naming; every per-SKU key carries the SKU as a hash tag.
//! - [`signing`]: HMAC signatures of edge-to-origin calls.
//! - [`scripts`]: the [`scripts::Engine`], the typed call of every Lua script, over the
//!   `upstash-rest` client.

pub mod domain;
pub mod keys;
pub mod scripts;
pub mod signing;
