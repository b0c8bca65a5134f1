//! Locations: the settings the origin writes and the scripts allocate by, per-location levels,
//! transfers between locations, and the per-location ("pick up in store") read.

use edgestock_lua as lua;
use upstash_rest::{cmd, Error, Transport};

use super::{location, malformed, rest_script, unseeded, Engine, Reply, StockLevel};
use crate::domain::{Location, Sku};
use crate::keys::ShardId;

/// One location's settings, as the scripts see them. Behaviour comes from the flags alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationSettings {
    /// The code.
    pub code: Location,
    /// Display name ("Store 12").
    pub name: String,
    /// Allocation order: lower first; ties by code in byte order.
    pub priority: i32,
    /// Inactive locations take no new holds (live holds keep theirs).
    pub active: bool,
    /// Shipping lines may be allocated here.
    pub ships: bool,
    /// Shoppers may pick up here.
    pub pickup: bool,
}

impl LocationSettings {
    /// The settings of an install with `default` alone: active, shipping, no pickup.
    pub fn default_only() -> Self {
        Self {
            code: Location::default(),
            name: "Default".to_owned(),
            priority: 0,
            active: true,
            ships: true,
            pickup: false,
        }
    }
}

/// An active pickup location's availability of one SKU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PickupLevel {
    /// The location.
    pub location: Location,
    /// Its display name.
    pub name: String,
    /// Units available there (on hand minus live holds).
    pub available: i64,
}

/// One location's counters of one SKU in Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationLevel {
    /// The location.
    pub location: Location,
    /// Units on hand there (not yet sold).
    pub on_hand: i64,
    /// Units held there (live holds; expired ones not yet reaped included).
    pub reserved: i64,
    /// Units sold from there through Redis.
    pub sold: i64,
}

/// Outcome of [`Engine::transfer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferOutcome {
    /// Moved; on-hand at both ends afterwards.
    Applied {
        /// On hand at the source.
        from_on_hand: i64,
        /// On hand at the destination.
        to_on_hand: i64,
    },
    /// The movement id was applied before: nothing changed.
    Duplicate,
    /// The source has fewer units available (on hand minus held) than asked: nothing changed.
    Short {
        /// Units available at the source.
        available: i64,
    },
}

/// Allocation order: priority, then code in byte order.
fn allocation_order(a: &LocationSettings, b: &LocationSettings) -> std::cmp::Ordering {
    (a.priority, a.code.as_str().as_bytes()).cmp(&(b.priority, b.code.as_str().as_bytes()))
}

/// The codes of the settings `keep` picks, in allocation order, comma-separated.
fn ordered(all: &[LocationSettings], keep: impl Fn(&LocationSettings) -> bool) -> String {
    let mut picked: Vec<&LocationSettings> = all.iter().filter(|l| keep(l)).collect();
    picked.sort_by(|a, b| allocation_order(a, b));
    picked
        .iter()
        .map(|l| l.code.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// The settings hash's value of one location: `priority;active;ships;pickup;name`.
fn encode(l: &LocationSettings) -> String {
    let flag = |b: bool| if b { "1" } else { "0" };
    format!(
        "{};{};{};{};{}",
        l.priority,
        flag(l.active),
        flag(l.ships),
        flag(l.pickup),
        l.name
    )
}

fn decode(code: &str, v: &str) -> Option<LocationSettings> {
    let mut f = v.splitn(5, ';');
    let priority = f.next()?.parse().ok()?;
    let mut flag = || f.next().map(|b| b == "1");
    let (active, ships, pickup) = (flag()?, flag()?, flag()?);
    Some(LocationSettings {
        code: Location::parse(code).ok()?,
        priority,
        active,
        ships,
        pickup,
        name: f.next()?.to_owned(),
    })
}

impl<T: Transport> Engine<T> {
    /// Replaces the location settings (every location, active or not) on every shard, one
    /// script call per shard, so a reserve sees either the old settings or the new ones. The
    /// shards' seeded markers are kept.
    ///
    /// # Errors
    /// Transport or Redis failures; more than 64 locations.
    pub async fn put_locations(&self, all: &[LocationSettings]) -> Result<(), Error> {
        for shard in self.keys.all_shards() {
            self.put_locations_on(shard, all).await?;
        }
        Ok(())
    }

    /// Replaces one shard's copy of the location settings.
    ///
    /// # Errors
    /// Transport or Redis failures; more than 64 locations.
    pub async fn put_locations_on(
        &self,
        shard: ShardId,
        all: &[LocationSettings],
    ) -> Result<(), Error> {
        if all.len() > 64 {
            return Err(Error::Malformed("at most 64 locations".into()));
        }
        let mut args = Vec::with_capacity(2 * all.len() + 4);
        for l in all {
            args.push(l.code.as_str().to_owned());
            args.push(encode(l));
        }
        args.push("~ship".to_owned());
        args.push(ordered(all, |l| l.active && l.ships));
        args.push("~pickup".to_owned());
        args.push(ordered(all, |l| l.active && l.pickup));
        let v = self
            .client_for(shard)
            .eval(
                rest_script(&lua::LOCATIONS),
                &[self.keys.locations(shard)],
                &args,
                false,
            )
            .await?;
        let mut r = Reply::new("locations", &v)?;
        match r.str()? {
            "ok" => Ok(()),
            _ => Err(malformed("locations", &v)),
        }
    }

    /// The location settings shard 0 holds (every shard holds a copy), in allocation order;
    /// `None` when the origin never wrote them (reserves then answer 503).
    ///
    /// # Errors
    /// Transport or Redis failures.
    pub async fn locations(&self) -> Result<Option<Vec<LocationSettings>>, Error> {
        self.locations_on(ShardId(0)).await
    }

    /// One shard's copy of the location settings, in allocation order; `None` when it has none.
    ///
    /// # Errors
    /// Transport or Redis failures.
    pub async fn locations_on(
        &self,
        shard: ShardId,
    ) -> Result<Option<Vec<LocationSettings>>, Error> {
        let v = self
            .client_for(shard)
            .command(&cmd("HGETALL").arg(self.keys.locations(shard)))
            .await?;
        let flat = v.as_array().ok_or_else(|| malformed("HGETALL", &v))?;
        let mut out: Vec<LocationSettings> = flat
            .chunks(2)
            .filter_map(|p| match p {
                [k, v] if !k.as_str()?.starts_with('~') => decode(k.as_str()?, v.as_str()?),
                _ => None,
            })
            .collect();
        if out.is_empty() {
            return Ok(None);
        }
        out.sort_by(allocation_order);
        Ok(Some(out))
    }

    /// One SKU's level (summed over the active shipping locations) and each active pickup
    /// location's availability, in one read-only call.
    ///
    /// # Errors
    /// Transport or Redis failures.
    pub async fn stock_with_locations(
        &self,
        sku: &Sku,
    ) -> Result<(StockLevel, Vec<PickupLevel>), Error> {
        let shard = self.keys.shard_of(sku.as_str());
        let keys = [
            self.keys.locations(shard),
            self.keys.stock(sku.as_str()),
            self.keys.holds(sku.as_str()),
        ];
        let v = self
            .client_for(shard)
            .eval(
                rest_script(&lua::STOCK_READ),
                &keys,
                &[self.offset(), "1".to_owned(), self.keys.shard_marker(shard)],
                true,
            )
            .await?;
        let mut r = Reply::new("stock_read", &v)?;
        if r.str()? != "ok" {
            return Err(unseeded(shard));
        }
        let _now = r.int()?;
        let level = StockLevel::read(sku, &mut r)?;
        let mut pickup = Vec::new();
        if level.exists {
            let n = r.int()?;
            for _ in 0..n.clamp(0, 64) {
                pickup.push(PickupLevel {
                    location: location(r.str()?)?,
                    name: r.str()?.to_owned(),
                    available: r.int()?,
                });
            }
        }
        Ok((level, pickup))
    }

    /// Every location's counters of one SKU, from its stock hash (for the admin read and
    /// reconcile); locations the SKU never had are absent.
    ///
    /// # Errors
    /// Transport or Redis failures.
    pub async fn stock_by_location(&self, sku: &Sku) -> Result<Vec<LocationLevel>, Error> {
        let v = self
            .client_for(self.keys.shard_of(sku.as_str()))
            .command(&cmd("HGETALL").arg(self.keys.stock(sku.as_str())))
            .await?;
        let flat = v.as_array().ok_or_else(|| malformed("HGETALL", &v))?;
        let mut out: Vec<LocationLevel> = Vec::new();
        for pair in flat.chunks(2) {
            let [k, v] = pair else { continue };
            let (Some(k), Some(n)) = (k.as_str(), v.as_str().and_then(|v| v.parse().ok())) else {
                continue;
            };
            let (field, code) = k.split_once('@').unwrap_or((k, Location::DEFAULT));
            if !matches!(field, "on_hand" | "reserved" | "sold") {
                continue;
            }
            let Ok(code) = Location::parse(code) else {
                continue;
            };
            let i = match out.iter().position(|l| l.location == code) {
                Some(i) => i,
                None => {
                    out.push(LocationLevel {
                        location: code,
                        on_hand: 0,
                        reserved: 0,
                        sold: 0,
                    });
                    out.len() - 1
                }
            };
            let l = &mut out[i];
            match field {
                "on_hand" => l.on_hand = n,
                "reserved" => l.reserved = n,
                _ => l.sold = n,
            }
        }
        out.sort_by(|a, b| a.location.as_str().cmp(b.location.as_str()));
        Ok(out)
    }

    /// Moves `qty` units of a SKU from one location to another in one script, idempotent by
    /// `movement_id`. Only units available at the source move.
    ///
    /// # Errors
    /// Transport or Redis failures; the same location twice or `qty` 0 (refused by the script).
    pub async fn transfer(
        &self,
        sku: &Sku,
        from: &Location,
        to: &Location,
        qty: u32,
        movement_id: &str,
    ) -> Result<TransferOutcome, Error> {
        let keys = self.movement_keys(sku, movement_id);
        let args = [
            sku.as_str().to_owned(),
            from.as_str().to_owned(),
            to.as_str().to_owned(),
            qty.to_string(),
            self.offset(),
        ];
        let v = self
            .client_for(self.keys.shard_of(sku.as_str()))
            .eval(rest_script(&lua::TRANSFER), &keys, &args, false)
            .await?;
        let mut r = Reply::new("transfer", &v)?;
        Ok(match r.str()? {
            "ok" => TransferOutcome::Applied {
                from_on_hand: r.int()?,
                to_on_hand: r.int()?,
            },
            "duplicate" => TransferOutcome::Duplicate,
            "short" => TransferOutcome::Short {
                available: r.int()?,
            },
            "bad_request" => {
                return Err(Error::Malformed(format!("transfer refused: {}", r.str()?)))
            }
            _ => return Err(malformed("transfer", &v)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(code: &str, priority: i32, active: bool, ships: bool, pickup: bool) -> LocationSettings {
        LocationSettings {
            code: Location::parse(code).unwrap(),
            name: format!("{code}; the name"),
            priority,
            active,
            ships,
            pickup,
        }
    }

    #[test]
    fn allocation_order_is_priority_then_code_bytes_and_only_active_flagged_ones() {
        let all = [
            loc("b", 1, true, true, false),
            loc("a", 1, true, true, true),
            loc("Z", 1, true, true, false),
            loc("first", 0, true, true, false),
            loc("off", 0, false, true, true),
            loc("store", 5, true, false, true),
        ];
        assert_eq!(ordered(&all, |l| l.active && l.ships), "first,Z,a,b");
        assert_eq!(ordered(&all, |l| l.active && l.pickup), "a,store");
    }

    #[test]
    fn settings_round_trip_with_a_semicolon_in_the_name() {
        let l = loc("store:12", -3, true, false, true);
        assert_eq!(decode("store:12", &encode(&l)), Some(l));
        assert_eq!(decode("x", "nope"), None);
    }
}
