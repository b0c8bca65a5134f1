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

/// Shebang of scripts that write: Upstash locks only the declared keys instead of taking its
/// global script lock (the gateway strips the flag for vanilla Redis and keeps our SHA1 valid).
macro_rules! write_script {
    ($name:literal, $file:literal) => {
        Script::new(
            $name,
            concat!(
                "#!lua flags=allow-key-locking\n",
                include_str!(concat!(env!("OUT_DIR"), "/", $file))
            ),
        )
    };
}

/// Shebang of read-only scripts: `no-writes` lets them run as `EVALSHA_RO` (on a replica).
macro_rules! read_script {
    ($name:literal, $file:literal) => {
        Script::new(
            $name,
            concat!(
                "#!lua flags=no-writes,allow-key-locking\n",
                include_str!(concat!(env!("OUT_DIR"), "/", $file))
            ),
        )
    };
}

/// Holds stock for a reservation: idempotency, rate limit, reap, check and hold in one call.
pub static RESERVE: Script = write_script!("reserve", "reserve.lua");
/// Availability of up to 100 SKUs, excluding expired holds; read-only.
pub static STOCK_READ: Script = read_script!("stock_read", "stock_read.lua");
/// A reservation's record; read-only.
pub static GET_RESERVATION: Script = read_script!("get_reservation", "get_reservation.lua");
/// Extends a live hold up to its maximum total hold time.
pub static EXTEND: Script = write_script!("extend", "extend.lua");
/// Releases a reservation's holds (idempotent).
pub static RELEASE: Script = write_script!("release", "release.lua");
/// Marks a live hold `confirming` until its payment deadline (fixed at the first pin) plus grace.
pub static PIN: Script = write_script!("pin", "pin.lua");
/// Undoes a pin whose order could not be recorded: back to `held` with the old expiry.
pub static UNPIN: Script = write_script!("unpin", "unpin.lua");
/// Holds again the units of a placed, unpaid order after Redis lost its data.
pub static REPIN: Script = write_script!("repin", "repin.lua");
/// Turns holds into sold units (idempotent; late commits take from available).
pub static COMMIT: Script = write_script!("commit", "commit.lua");
/// Restock / return / shrink, idempotent by movement id.
pub static ADJUST: Script = write_script!("adjust", "adjust.lua");
/// Sets on-hand from the system of record without disturbing live holds.
pub static SEED: Script = write_script!("seed", "seed.lua");
/// Reaps expired holds of SKUs found through the sweep index.
pub static SWEEP: Script = write_script!("sweep", "sweep.lua");
/// Moves units of a SKU between two locations, idempotent by movement id.
pub static TRANSFER: Script = write_script!("transfer", "transfer.lua");
/// Replaces the location settings reserves allocate by, in one step.
pub static LOCATIONS: Script = write_script!("locations", "locations.lua");

/// Marks a shard seeded, so its reserves and reads answer.
pub static MARK_SEEDED: Script = write_script!("mark_seeded", "mark_seeded.lua");

/// Writes a released record for a part of a reservation across shards that must not be created.
pub static TOMBSTONE: Script = write_script!("tombstone", "tombstone.lua");

/// Reads a shard's seeded marker and the replication id of the Redis serving it.
pub static SHARD_IDENTITY: Script = read_script!("shard_identity", "shard_identity.lua");

/// Every script, for `SCRIPT LOAD` warm-up and tests.
pub static ALL: [&Script; 17] = [
    &RESERVE,
    &STOCK_READ,
    &GET_RESERVATION,
    &EXTEND,
    &RELEASE,
    &PIN,
    &UNPIN,
    &REPIN,
    &COMMIT,
    &ADJUST,
    &SEED,
    &SWEEP,
    &TRANSFER,
    &LOCATIONS,
    &MARK_SEEDED,
    &TOMBSTONE,
    &SHARD_IDENTITY,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_script_has_a_shebang_and_a_distinct_sha1() {
        let mut shas: Vec<&str> = ALL.iter().map(|s| s.sha1()).collect();
        for s in ALL {
            assert!(s.source.starts_with("#!lua flags="), "{}", s.name);
            assert_eq!(s.sha1().len(), 40);
        }
        shas.sort_unstable();
        shas.dedup();
        assert_eq!(shas.len(), ALL.len());
    }

    #[test]
    fn each_script_carries_the_prelude_it_uses_and_no_more() {
        let has = |s: &Script, f: &str| s.source.contains(&format!("\nlocal function {f}("));
        // reserve reaps and stores but never walks a recorded reservation's parts.
        assert!(has(&RESERVE, "reap") && has(&RESERVE, "store_stock") && has(&RESERVE, "clock"));
        assert!(!has(&RESERVE, "check_parts") && !has(&RESERVE, "load_declared"));
        // What a kept function calls is kept too: commit's check_parts needs reap, which needs emit.
        assert!(has(&COMMIT, "check_parts") && has(&COMMIT, "reap") && has(&COMMIT, "emit"));
        // The read-only scripts define nothing that writes.
        assert!(!has(&STOCK_READ, "store_stock") && !has(&GET_RESERVATION, "save_rsv"));
        for s in ALL {
            assert!(
                s.source.contains("Data model"),
                "{}: the preamble is kept",
                s.name
            );
        }
    }
}
