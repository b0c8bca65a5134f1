//! Typed calls of every Lua script (`lua/scripts/*.lua`), shared by the edge and the origin so
//! both build the same `KEYS`/`ARGV` and read the same replies.
//!
//! Every script runs on one logical shard's keys (one slot); the engine picks the database of
//! the shard (docs/sharding.md). On one shard, one [`Engine`] call is one `EVALSHA` round trip
//! (two for calls that first read the reservation's items to declare their keys: extend,
//! release, pin); a reservation across shards makes the same calls on each part, in parallel.
//! Replies are flat arrays whose first element names the outcome; each maps to an enum here.
//!
//! # Layout
//! - this module: [`Engine`], its construction and the reply reader shared by every call;
//! - `reserve`: the reserve script (one round trip: rate limit, idempotency, reap, hold);
//! - `reservation`, `order`: reading, extending and releasing a reservation; pinning and
//!   committing it;
//! - `parts`, `combine`: reservations across shards, and one answer from their parts';
//! - `stock`: stock reads, adjustments and seeding; `stream`: the sweep and the event streams;
//! - `locations`: location settings, per-location levels, transfers and the pickup read;
//! - `seeding`: each shard's seeded marker.

use std::fmt;

use edgestock_lua as lua;

use crate::domain::{Location, ReservationStatus, Sku};
use crate::keys::{Keys, ReservationShards, ShardId};
use upstash_rest::{Client, Error, Transport, Value};

mod combine;
mod locations;
mod order;
mod parts;
mod reservation;
mod reserve;
mod seeding;
mod stock;
mod stream;

pub use combine::Parts;
pub use locations::{LocationLevel, LocationSettings, PickupLevel, TransferOutcome};
pub use order::{CommitOutcome, PinOutcome, RepinOutcome, UnpinOutcome};
pub use reservation::{ExtendOutcome, ReleaseOutcome, ReservationRecord};
pub use reserve::{CustomerCap, Hold, RateLimit, ReserveOutcome, ReserveRequest};
pub use seeding::ShardIdentity;
pub use stock::{LevelOutcome, StockLevel};
pub use stream::{Event, SweepReport};

/// Most items in one reservation (the reserve script enforces the same bound).
pub const MAX_ITEMS: usize = 50;
/// Most SKUs in one stock read.
pub const MAX_STOCK_READ: usize = 100;

/// One line of a reserve request: a SKU and how many units, wherever they come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The SKU.
    pub sku: Sku,
    /// Units, at least 1.
    pub qty: u32,
}

/// One allocated part of a reservation: units of a SKU held at one location. A line split over
/// several locations is several parts with the same SKU, in allocation order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The SKU.
    pub sku: Sku,
    /// Units, at least 1.
    pub qty: u32,
    /// Where the units are held.
    pub location: Location,
}

impl Item {
    /// A part at the `default` location.
    pub fn at_default(sku: Sku, qty: u32) -> Self {
        Self {
            sku,
            qty,
            location: Location::default_location(),
        }
    }
}

/// The text that starts the error of a read on a shard that is not seeded.
const UNSEEDED: &str = "shard_unseeded";

/// The error of a read on a shard that is not seeded (it came back empty, or holds another
/// layout's data): unavailable (503) until the origin seeds it. See [`is_unseeded`].
pub fn unseeded(shard: ShardId) -> Error {
    Error::Unavailable {
        status: 503,
        message: format!("{UNSEEDED}: shard {shard} is not seeded"),
    }
}

/// True for the error [`unseeded`] makes.
pub fn is_unseeded(e: &Error) -> bool {
    matches!(e, Error::Unavailable { status: 503, message } if message.starts_with(UNSEEDED))
}

/// The REST client's view of one of our scripts: its source and the SHA1 the `lua` crate computed.
pub fn rest_script(s: &lua::Script) -> upstash_rest::Script<'_> {
    upstash_rest::Script {
        sha1: s.sha1(),
        source: s.source,
    }
}

/// Script calls over the REST [`Client`]s of one or more databases: logical shard `s` lives on
/// database `s % databases` (one database: every shard on it; a Redis Cluster behind the
/// gateway is one database whose slots spread the shards).
pub struct Engine<T> {
    clients: Vec<Client<T>>,
    keys: Keys,
    clock_offset_ms: i64,
}

impl<T> fmt::Debug for Engine<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("prefix", &self.keys.prefix())
            .field("shards", &self.keys.shard_count())
            .field("databases", &self.clients.len())
            .field("clock_offset_ms", &self.clock_offset_ms)
            .finish_non_exhaustive()
    }
}

pub(super) fn malformed(what: &str, v: &Value) -> Error {
    Error::Malformed(format!("unexpected {what} reply: {v:?}"))
}

/// A status the scripts wrote; anything else is a malformed reply.
pub(super) fn status(s: &str) -> Result<ReservationStatus, Error> {
    ReservationStatus::parse(s).map_err(|e| Error::Malformed(e.to_string()))
}

/// A location the scripts named; anything else is a malformed reply.
pub(super) fn location(s: &str) -> Result<Location, Error> {
    Location::parse(s).map_err(|e| Error::Malformed(e.to_string()))
}

/// Reply reader: a flat array, read front to back.
pub(super) struct Reply<'a> {
    what: &'static str,
    whole: &'a Value,
    items: &'a [Value],
    pos: usize,
}

impl<'a> Reply<'a> {
    pub(super) fn new(what: &'static str, v: &'a Value) -> Result<Self, Error> {
        let items = v.as_array().ok_or_else(|| malformed(what, v))?;
        Ok(Self {
            what,
            whole: v,
            items,
            pos: 0,
        })
    }
    pub(super) fn next(&mut self) -> Result<&'a Value, Error> {
        let v = self
            .items
            .get(self.pos)
            .ok_or_else(|| malformed(self.what, self.whole))?;
        self.pos += 1;
        Ok(v)
    }
    pub(super) fn str(&mut self) -> Result<&'a str, Error> {
        let (what, whole) = (self.what, self.whole);
        self.next()?.as_str().ok_or_else(|| malformed(what, whole))
    }
    pub(super) fn int(&mut self) -> Result<i64, Error> {
        let (what, whole) = (self.what, self.whole);
        self.next()?.as_i64().ok_or_else(|| malformed(what, whole))
    }
}

/// Parses the `sku|qty[|location],...` parts string of a reservation record (no location: the
/// record predates locations, or the part is at `default`).
pub(super) fn parse_items(s: &str) -> Vec<Item> {
    s.split(',')
        .filter_map(|part| {
            let mut fields = part.splitn(3, '|');
            let sku = Sku::parse(fields.next()?).ok()?;
            let qty = fields.next()?.parse().ok()?;
            let location = match fields.next() {
                Some(l) => Location::parse(l).ok()?,
                None => Location::default_location(),
            };
            Some(Item { sku, qty, location })
        })
        .collect()
}

impl<T: Transport> Engine<T> {
    /// An engine over one database using `keys`.
    pub fn new(client: Client<T>, keys: Keys) -> Self {
        Self::sharded(vec![client], keys)
    }

    /// An engine over several databases (sharded Upstash): logical shard `s` on
    /// `clients[s % clients.len()]`.
    ///
    /// # Panics
    /// With no client.
    pub fn sharded(clients: Vec<Client<T>>, keys: Keys) -> Self {
        assert!(!clients.is_empty(), "an engine needs a database");
        Self {
            clients,
            keys,
            clock_offset_ms: 0,
        }
    }

    /// The same databases under another key layout (a shard count from configuration).
    #[must_use]
    pub fn with_keys(mut self, keys: Keys) -> Self {
        self.keys = keys;
        self
    }

    /// Shifts the scripts' clock (Redis `TIME` + offset). Tests only: production leaves it at 0.
    #[must_use]
    pub fn with_clock_offset_ms(mut self, offset: i64) -> Self {
        self.clock_offset_ms = offset;
        self
    }

    /// Changes the clock offset in place (tests: "time passes").
    pub fn set_clock_offset_ms(&mut self, offset: i64) {
        self.clock_offset_ms = offset;
    }

    /// The key builder.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The REST client of the first database (every shard's, with one database).
    pub fn client(&self) -> &Client<T> {
        &self.clients[0]
    }

    /// The REST client of the database holding `shard`.
    pub fn client_for(&self, shard: ShardId) -> &Client<T> {
        &self.clients[shard.0 as usize % self.clients.len()]
    }

    /// `PING`s every database, in parallel: `Ok` when they all answer.
    ///
    /// # Errors
    /// The first database that did not answer.
    pub async fn ping_all(&self) -> Result<(), Error> {
        for r in futures::future::join_all(self.clients.iter().map(Client::ping)).await {
            r?;
        }
        Ok(())
    }

    /// How many databases the shards are spread over.
    pub fn databases(&self) -> usize {
        self.clients.len()
    }

    /// The shards reservation `id` has parts on, if the id is well formed for this deployment.
    pub fn shards_of_reservation(&self, id: &str) -> Option<ReservationShards> {
        ReservationShards::parse(id).filter(|s| !s.beyond(self.keys.shard_count()))
    }

    /// The one shard of `skus` (`None` when they span several, or there is none).
    pub fn shard_of_all<'s>(&self, skus: impl IntoIterator<Item = &'s str>) -> Option<ShardId> {
        let mut it = skus.into_iter().map(|s| self.keys.shard_of(s));
        let first = it.next()?;
        it.all(|s| s == first).then_some(first)
    }

    pub(super) fn offset(&self) -> String {
        self.clock_offset_ms.to_string()
    }

    pub(super) fn sku_keys(
        &self,
        skus: impl IntoIterator<Item = impl AsRef<str>>,
        out: &mut Vec<String>,
    ) {
        for sku in skus {
            out.push(self.keys.stock(sku.as_ref()));
            out.push(self.keys.holds(sku.as_ref()));
        }
    }

    /// The keys of a stock movement of one SKU (adjust, transfer): its stock and holds, and its
    /// shard's events stream, the movement's marker and location settings.
    pub(super) fn movement_keys(&self, sku: &Sku, movement_id: &str) -> [String; 5] {
        let shard = self.keys.shard_of(sku.as_str());
        [
            self.keys.stock(sku.as_str()),
            self.keys.holds(sku.as_str()),
            self.keys.events(shard),
            self.keys.movement(shard, movement_id),
            self.keys.locations(shard),
        ]
    }

    /// The part count, then sku, qty, location per part.
    pub(super) fn item_args(items: &[Item], out: &mut Vec<String>) {
        out.push(items.len().to_string());
        for it in items {
            out.push(it.sku.as_str().to_owned());
            out.push(it.qty.to_string());
            out.push(it.location.as_str().to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_string_round_trips() {
        let items = parse_items("A-1|2,B:2|10");
        assert_eq!(items.len(), 2);
        assert_eq!(items[1].sku.as_str(), "B:2");
        assert_eq!(items[1].qty, 10);
        assert!(items.iter().all(|i| i.location.is_default()));
        assert!(parse_items("").is_empty());
    }

    #[test]
    fn parts_carry_their_location_and_a_split_line_is_several_parts() {
        let items = parse_items("A-1|3|wh-a,A-1|2,B|1|store:12");
        let got: Vec<_> = items
            .iter()
            .map(|i| (i.sku.as_str(), i.qty, i.location.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("A-1", 3, "wh-a"),
                ("A-1", 2, "default"),
                ("B", 1, "store:12")
            ]
        );
        assert!(parse_items("A|1|bad loc").is_empty());
    }
}
