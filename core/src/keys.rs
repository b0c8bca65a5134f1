//! Redis key naming and the logical shards (docs/sharding.md).
//!
//! Every key belongs to one **logical shard** and carries the shard's hash tag, `{s<n>}`, so each
//! shard's keys live in one Redis Cluster slot and every script touches one slot only. A SKU's
//! shard is a stable hash of its name ([`Keys::shard_of`]); the per-shard keys (event stream,
//! sweep index, location settings, rate-limit counters, movement markers) exist once per shard.
//! A reservation's id names the shards it has parts on ([`ReservationShards`]).
//!
//! A deployment-wide prefix (empty in production, per-test in tests) lets many isolated tenants
//! share one Redis.

use std::fmt;

/// The most logical shards a deployment can have (a reservation id names its shards as a
/// 64-bit mask).
pub const MAX_SHARDS: u32 = 64;

/// One logical shard, `0..shards`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShardId(pub u32);

impl fmt::Display for ShardId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s{}", self.0)
    }
}

/// Builds every key edgestock uses, under an optional prefix, for a number of logical shards.
#[derive(Clone, Debug)]
pub struct Keys {
    prefix: String,
    shards: u32,
}

impl Default for Keys {
    fn default() -> Self {
        Self::new("")
    }
}

/// 64-bit FNV-1a of `bytes`: the SKU's hash, stable across versions and platforms.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Jump consistent hash (Lamping and Veach, 2014): `key` to a bucket in `0..buckets`; going from
/// n to n + 1 buckets moves only about 1/(n + 1) of the keys, all of them to the new bucket.
pub fn jump_hash(mut key: u64, buckets: u32) -> u32 {
    let (mut b, mut j): (i64, i64) = (-1, 0);
    while j < i64::from(buckets.max(1)) {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    b as u32
}

impl Keys {
    /// Keys under `prefix` (use `""` in production), one logical shard.
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            shards: 1,
        }
    }

    /// The same keys over `shards` logical shards (clamped to `1..=`[`MAX_SHARDS`]).
    #[must_use]
    pub fn with_shards(mut self, shards: u32) -> Self {
        self.shards = shards.clamp(1, MAX_SHARDS);
        self
    }

    /// The prefix every key starts with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// How many logical shards there are.
    pub fn shard_count(&self) -> u32 {
        self.shards
    }

    /// Every logical shard, in order.
    pub fn all_shards(&self) -> impl Iterator<Item = ShardId> {
        (0..self.shards).map(ShardId)
    }

    /// The logical shard a SKU lives on: `jump_hash(fnv1a64(sku), shards)`.
    pub fn shard_of(&self, sku: &str) -> ShardId {
        if self.shards == 1 {
            return ShardId(0);
        }
        ShardId(jump_hash(fnv1a64(sku.as_bytes()), self.shards))
    }

    fn key(&self, shard: ShardId, rest: std::fmt::Arguments<'_>) -> String {
        format!("{}{{s{}}}{rest}", self.prefix, shard.0)
    }

    /// A shard as the scripts check it against its seeded marker, `"<shard>/<shards>/"` (the
    /// marker is this and the seeding epoch): a database seeded for another shard or layout
    /// does not match.
    pub fn shard_marker(&self, shard: ShardId) -> String {
        format!("{}/{}/", shard.0, self.shards)
    }

    /// `{s<n>}stock:<sku>`: hash with the SKU's counters.
    pub fn stock(&self, sku: &str) -> String {
        self.key(self.shard_of(sku), format_args!("stock:{sku}"))
    }

    /// `{s<n>}holds:<sku>`: zset of live holds on the SKU, scored by expiry (ms).
    pub fn holds(&self, sku: &str) -> String {
        self.key(self.shard_of(sku), format_args!("holds:{sku}"))
    }

    /// `{s<n>}rsv:<id>`: one shard's part of a reservation: its record, which is also its
    /// idempotency record.
    pub fn reservation(&self, shard: ShardId, id: &str) -> String {
        self.key(shard, format_args!("rsv:{id}"))
    }

    /// `{s<n>}cap:<sku>:<customer>`: the customer's reservations of the SKU counted toward its
    /// cap (in the SKU's shard).
    pub fn cap(&self, sku: &str, customer: &str) -> String {
        self.key(self.shard_of(sku), format_args!("cap:{sku}:{customer}"))
    }

    /// `{s<n>}rl:<subject>`: a subject's rate-limit window on one shard (`ip:…`, `cart:…`).
    pub fn rate_limit(&self, shard: ShardId, subject: &str) -> String {
        self.key(shard, format_args!("rl:{subject}"))
    }

    /// `{s<n>}locs`: the shard's copy of the location settings, and its seeded marker.
    pub fn locations(&self, shard: ShardId) -> String {
        self.key(shard, format_args!("locs"))
    }

    /// `{s<n>}mv:<movement>`: marks an applied stock movement (adjust, transfer) for 7 days.
    pub fn movement(&self, shard: ShardId, movement_id: &str) -> String {
        self.key(shard, format_args!("mv:{movement_id}"))
    }

    /// `{s<n>}events`: the shard's capped event stream.
    pub fn events(&self, shard: ShardId) -> String {
        self.key(shard, format_args!("events"))
    }

    /// `{s<n>}sweep`: the shard's index of SKUs with holds, scored by their earliest expiry (ms).
    pub fn sweep_index(&self, shard: ShardId) -> String {
        self.key(shard, format_args!("sweep"))
    }
}

/// The shards a reservation has parts on, as its id names them: `<base>` alone is shard 0 only
/// (every id of a one-shard deployment, unchanged); `<base>.<mask>` names the shards whose bits
/// are set in the lowercase hex `mask`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReservationShards(u64);

impl ReservationShards {
    /// The shards of `ids`' SKUs.
    pub fn of(shards: impl IntoIterator<Item = ShardId>) -> Self {
        Self(shards.into_iter().fold(0, |m, s| m | (1u64 << s.0)))
    }

    /// Reads the shards an id names; `None` for a malformed suffix.
    pub fn parse(id: &str) -> Option<Self> {
        match id.split_once('.') {
            None => Some(Self(1)),
            Some((base, mask)) => {
                let ok = !base.is_empty()
                    && !mask.is_empty()
                    && mask.len() <= 16
                    && !mask.starts_with('0')
                    && mask.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
                let m = u64::from_str_radix(mask, 16).ok().filter(|_| ok)?;
                // Shard 0 alone has no suffix: one spelling per set.
                (m != 1).then_some(Self(m))
            }
        }
    }

    /// The id for `base` on these shards.
    pub fn id(self, base: &str) -> String {
        if self.0 == 1 {
            base.to_owned()
        } else {
            format!("{base}.{:x}", self.0)
        }
    }

    /// The shards, in order.
    pub fn iter(self) -> impl Iterator<Item = ShardId> {
        (0..64u32)
            .filter(move |i| self.0 & (1u64 << i) != 0)
            .map(ShardId)
    }

    /// True when `shard` is one of them.
    pub fn contains(self, shard: ShardId) -> bool {
        shard.0 < 64 && self.0 & (1u64 << shard.0) != 0
    }

    /// How many shards.
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// True when there is none (never for a parsed id).
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// True when the id names a shard outside `0..count`.
    pub fn beyond(self, count: u32) -> bool {
        count < 64 && self.0 >> count != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_of_a_sku_carries_its_shard_tag() {
        let k = Keys::new("t1:");
        assert_eq!(k.stock("A-1"), "t1:{s0}stock:A-1");
        assert_eq!(k.holds("A-1"), "t1:{s0}holds:A-1");
        assert_eq!(k.events(ShardId(0)), "t1:{s0}events");
        let k = Keys::new("").with_shards(16);
        let s = k.shard_of("A-1");
        assert!(s.0 < 16);
        assert_eq!(k.stock("A-1"), format!("{{s{}}}stock:A-1", s.0));
        assert_eq!(k.cap("A-1", "c9"), format!("{{s{}}}cap:A-1:c9", s.0));
    }

    #[test]
    fn the_shard_hash_is_pinned() {
        // A change here remaps SKUs: it is a migration (docs/sharding.md), never a refactor.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        let k = Keys::new("").with_shards(16);
        let got: Vec<u32> = ["A-1", "A-2", "HOODIE-M", "sku:42"]
            .iter()
            .map(|s| k.shard_of(s).0)
            .collect();
        assert_eq!(got, [1, 7, 7, 3]);
    }

    #[test]
    fn adding_a_shard_moves_skus_only_to_the_new_one() {
        let (a, b) = (Keys::new("").with_shards(3), Keys::new("").with_shards(4));
        let mut moved = 0;
        for i in 0..4000 {
            let sku = format!("SKU-{i}");
            let (from, to) = (a.shard_of(&sku), b.shard_of(&sku));
            if from != to {
                assert_eq!(to, ShardId(3), "{sku} moved between old shards");
                moved += 1;
            }
        }
        // About a quarter move (1/4 of 4000 = 1000).
        assert!((800..1200).contains(&moved), "{moved} moved");
    }

    #[test]
    fn a_reservation_id_names_its_shards() {
        assert_eq!(ReservationShards::parse("abc"), Some(ReservationShards(1)));
        let two = ReservationShards::of([ShardId(3), ShardId(7)]);
        assert_eq!(two.id("abc"), "abc.88");
        assert_eq!(ReservationShards::parse("abc.88"), Some(two));
        assert_eq!(two.iter().collect::<Vec<_>>(), [ShardId(3), ShardId(7)]);
        assert!(two.contains(ShardId(3)) && two.contains(ShardId(7)));
        assert!(
            !two.contains(ShardId(0)) && !two.contains(ShardId(4)) && !two.contains(ShardId(64))
        );
        assert!(ReservationShards::parse("abc")
            .unwrap()
            .contains(ShardId(0)));
        assert_eq!(ReservationShards::of([ShardId(0)]).id("abc"), "abc");
        let alone = ReservationShards::of([ShardId(5)]);
        assert_eq!(alone.id("abc"), "abc.20");
        assert!(alone.beyond(5) && !alone.beyond(6));
        for bad in [
            "abc.",
            ".88",
            "abc.088",
            "abc.1",
            "abc.XY",
            "abc.88.1",
            "abc.1ffffffffffffffff",
        ] {
            assert_eq!(ReservationShards::parse(bad), None, "{bad}");
        }
    }
}
