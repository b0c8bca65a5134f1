//! The engine bench's hand-built script calls and the location settings they run under.

use edgestock_core::keys::{Keys, ShardId};

pub(crate) fn sku(i: usize) -> String {
    format!("SKU-{i:05}")
}

pub(crate) fn reserve_cmd(k: &Keys, sha: &str, rid: &str, sku: &str, ttl_ms: u64) -> redis::Cmd {
    reserve_qty_cmd(k, sha, rid, sku, 1, ttl_ms)
}

/// A reserve of `qty` units of one SKU, shipping (allocated over the shipping locations).
pub(crate) fn reserve_qty_cmd(
    k: &Keys,
    sha: &str,
    rid: &str,
    sku: &str,
    qty: u32,
    ttl_ms: u64,
) -> redis::Cmd {
    let shard = k.shard_of(sku);
    let mut c = redis::cmd("EVALSHA");
    c.arg(sha)
        .arg(6)
        .arg(k.reservation(shard, rid))
        .arg(k.events(shard))
        .arg(k.sweep_index(shard))
        .arg(k.locations(shard))
        .arg(k.stock(sku))
        .arg(k.holds(sku))
        .arg(rid)
        .arg("fp")
        .arg(ttl_ms)
        .arg(3_600_000)
        .arg(0)
        .arg(0)
        .arg(0)
        .arg("bench")
        .arg(0)
        .arg(1)
        .arg(sku)
        .arg(qty)
        // No per-customer cap: max units 0, window 0; no pickup; the shard.
        .arg(0)
        .arg(0)
        .arg("")
        .arg(k.shard_marker(shard));
    c
}

/// Location settings of a single-location install: `default` alone (shard 0 of one, seeded).
pub(crate) fn one_location_cmd(k: &Keys) -> redis::Cmd {
    let mut c = redis::cmd("HSET");
    c.arg(k.locations(ShardId(0)))
        .arg("~seeded")
        .arg(format!("{}bench", k.shard_marker(ShardId(0))))
        .arg("default")
        .arg("0;1;1;0;Default")
        .arg("~ship")
        .arg("default")
        .arg("~pickup")
        .arg("");
    c
}

/// Location settings with three shipping locations: `default`, then `wh-2` and `wh-3`.
pub(crate) fn three_locations_cmd(k: &Keys) -> redis::Cmd {
    let mut c = redis::cmd("HSET");
    c.arg(k.locations(ShardId(0)))
        .arg("~seeded")
        .arg(format!("{}bench", k.shard_marker(ShardId(0))))
        .arg("default")
        .arg("0;1;1;0;Default")
        .arg("wh-2")
        .arg("1;1;1;0;Warehouse 2")
        .arg("wh-3")
        .arg("2;1;1;0;Warehouse 3")
        .arg("~ship")
        .arg("default,wh-2,wh-3")
        .arg("~pickup")
        .arg("");
    c
}

/// The split reserves run in their own tenant (key prefix) with three locations, so the
/// single-location figures are those of a single-location install.
pub(crate) fn split_keys() -> Keys {
    Keys::new("split:")
}

pub(crate) fn split_sku(i: usize) -> String {
    format!("SPLIT-{i:05}")
}

/// A stock read of one SKU (`EVALSHA_RO`).
pub(crate) fn stock_read_cmd(k: &Keys, sha: &str, sku: &str) -> redis::Cmd {
    let shard = k.shard_of(sku);
    let mut c = redis::cmd("EVALSHA_RO");
    c.arg(sha)
        .arg(3)
        .arg(k.locations(shard))
        .arg(k.stock(sku))
        .arg(k.holds(sku))
        .arg(0)
        .arg(0)
        .arg(k.shard_marker(shard));
    c
}

/// The commit of reservation `rid`: one unit of `sku` at `default`.
pub(crate) fn commit_cmd(k: &Keys, sha: &str, rid: &str, sku: &str) -> redis::Cmd {
    let shard = k.shard_of(sku);
    let mut c = redis::cmd("EVALSHA");
    c.arg(sha)
        .arg(5)
        .arg(k.reservation(shard, rid))
        .arg(k.events(shard))
        .arg(k.locations(shard))
        .arg(k.stock(sku))
        .arg(k.holds(sku))
        .arg(rid)
        .arg(0)
        .arg(1)
        .arg(sku)
        .arg(1)
        .arg("default");
    c
}
