//! Every Redis Lua script of edgestock, embedded at compile time with its SHA1.
//!
//! The `.lua` files next to this crate are the source of truth; this crate only
//! embeds them so the edge and the origin call exactly the same bytes.
#![warn(missing_docs)]

use std::sync::OnceLock;

/// A Lua script: its name, its source and its SHA1 (computed once, lazily).
#[derive(Debug)]
pub struct Script {
    /// Short name, used in logs and metrics (`reserve`, `stock_read`, ...).
    pub name: &'static str,
    /// The exact source sent with `EVAL` / `SCRIPT LOAD`.
    pub source: &'static str,
    sha1: OnceLock<String>,
}

impl Script {
    /// Wraps a source; the SHA1 is computed on first use.
    pub const fn new(name: &'static str, source: &'static str) -> Self {
        Self {
            name,
            source,
            sha1: OnceLock::new(),
        }
    }

    /// Lower-case hex SHA1 of the source, as `SCRIPT LOAD` returns it.
    pub fn sha1(&self) -> &str {
        self.sha1
            .get_or_init(|| sha1_smol::Sha1::from(self.source).digest().to_string())
    }
}
