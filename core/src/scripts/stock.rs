//! Stock: reads (read-only, replica-safe), adjustments by movement id, seeding from the ledger,
//! the sweep of SKUs nobody touches, and the event stream.

use edgestock_lua as lua;
use upstash_rest::{cmd, Error, Transport, Value};

use futures::future::join_all;

use super::{malformed, rest_script, unseeded, Engine, Reply, MAX_STOCK_READ};
use crate::domain::{Location, Sku};
use crate::keys::ShardId;

/// One SKU's level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockLevel {
    /// The SKU.
    pub sku: Sku,
    /// False when the SKU was never stocked (all numbers are 0 then).
    pub exists: bool,
    /// Units on hand (not yet sold).
    pub on_hand: i64,
    /// Units held by live holds (expired ones excluded).
    pub reserved: i64,
    /// Low-stock threshold.
    pub low_threshold: i64,
}

impl StockLevel {
    /// One SKU's four numbers of a `stock_read` reply: exists, on hand, reserved, threshold.
    pub(super) fn read(sku: &Sku, r: &mut Reply<'_>) -> Result<Self, Error> {
        Ok(Self {
            sku: sku.clone(),
            exists: r.int()? == 1,
            on_hand: r.int()?,
            reserved: r.int()?,
            low_threshold: r.int()?,
        })
    }

    /// `on_hand - reserved`, never negative.
    pub fn available(&self) -> i64 {
        (self.on_hand - self.reserved).max(0)
    }
}

/// Outcome of [`Engine::adjust`] and [`Engine::seed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LevelOutcome {
    /// Applied; the SKU's on-hand and reserved afterwards.
    Applied {
        /// On hand.
        on_hand: i64,
        /// Reserved.
        reserved: i64,
    },
    /// Movement already applied (adjust only): nothing changed.
    Duplicate {
        /// On hand.
        on_hand: i64,
        /// Reserved.
        reserved: i64,
    },
    /// Refused (adjust) or clamped (seed): on-hand would fall below what live holds reserve.
    BelowReserved {
        /// On hand afterwards.
        on_hand: i64,
        /// Reserved.
        reserved: i64,
    },
}

impl<T: Transport> Engine<T> {
    /// Levels of up to [`MAX_STOCK_READ`] SKUs in one read-only call (`EVALSHA_RO`).
    ///
    /// # Errors
    /// Transport or Redis failures; more than [`MAX_STOCK_READ`] SKUs.
    pub async fn stock(&self, skus: &[Sku]) -> Result<Vec<StockLevel>, Error> {
        if skus.is_empty() {
            return Ok(Vec::new());
        }
        if skus.len() > MAX_STOCK_READ {
            return Err(Error::Malformed(format!(
                "at most {MAX_STOCK_READ} SKUs per read"
            )));
        }
        // One read-only call per shard touched, in parallel; the answer in the request's order.
        let mut by_shard: Vec<(ShardId, Vec<usize>)> = Vec::new();
        for (i, sku) in skus.iter().enumerate() {
            let shard = self.keys.shard_of(sku.as_str());
            match by_shard.iter_mut().find(|(s, _)| *s == shard) {
                Some((_, idx)) => idx.push(i),
                None => by_shard.push((shard, vec![i])),
            }
        }
        let reads = by_shard.iter().map(|(shard, idx)| async move {
            let mut keys = Vec::with_capacity(idx.len() * 2 + 1);
            keys.push(self.keys.locations(*shard));
            self.sku_keys(idx.iter().map(|i| skus[*i].as_str()), &mut keys);
            let v = self
                .client_for(*shard)
                .eval(
                    rest_script(&lua::STOCK_READ),
                    &keys,
                    &[
                        self.offset(),
                        "0".to_owned(),
                        self.keys.shard_marker(*shard),
                    ],
                    true,
                )
                .await?;
            let mut r = Reply::new("stock_read", &v)?;
            if r.str()? != "ok" {
                return Err(unseeded(*shard));
            }
            let _now = r.int()?;
            idx.iter()
                .map(|i| StockLevel::read(&skus[*i], &mut r))
                .collect::<Result<Vec<_>, Error>>()
        });
        let mut out: Vec<Option<StockLevel>> = vec![None; skus.len()];
        for ((_, idx), levels) in by_shard.iter().zip(join_all(reads).await) {
            for (i, level) in idx.iter().zip(levels?) {
                out[*i] = Some(level);
            }
        }
        out.into_iter()
            .map(|l| l.ok_or_else(|| Error::Malformed("stock_read: a SKU unanswered".into())))
            .collect()
    }

    /// Adds `delta` (signed) to a SKU's on-hand at `location`, idempotent by `movement_id`;
    /// never below what is reserved there. The numbers answered are that location's.
    ///
    /// # Errors
    /// Transport or Redis failures.
    pub async fn adjust(
        &self,
        sku: &Sku,
        location: &Location,
        delta: i64,
        movement_id: &str,
    ) -> Result<LevelOutcome, Error> {
        let keys = self.movement_keys(sku, movement_id);
        let args = [
            sku.as_str().to_owned(),
            delta.to_string(),
            self.offset(),
            location.as_str().to_owned(),
        ];
        let v = self
            .client_for(self.keys.shard_of(sku.as_str()))
            .eval(rest_script(&lua::ADJUST), &keys, &args, false)
            .await?;
        Self::level("adjust", &v)
    }

    /// Sets a SKU's on-hand at `location` and its low-stock threshold from the system of record.
    ///
    /// # Errors
    /// Transport or Redis failures.
    pub async fn seed(
        &self,
        sku: &Sku,
        location: &Location,
        on_hand: i64,
        low_threshold: i64,
    ) -> Result<LevelOutcome, Error> {
        self.seed_with(sku, location, on_hand, low_threshold, None)
            .await
    }

    /// [`Engine::seed`], also setting (or clearing) the SKU's `require_customer` flag when given,
    /// in the same script call.
    ///
    /// # Errors
    /// Transport or Redis failures.
    pub async fn seed_with(
        &self,
        sku: &Sku,
        location: &Location,
        on_hand: i64,
        low_threshold: i64,
        require_customer: Option<bool>,
    ) -> Result<LevelOutcome, Error> {
        let mut out = self
            .seed_locations(
                sku,
                &[(location.clone(), on_hand)],
                low_threshold,
                require_customer,
            )
            .await?;
        out.pop()
            .ok_or_else(|| Error::Malformed("seed: no answer".into()))
    }

    /// Seeds several locations of one SKU in one script call (one level transition, not one per
    /// location): on-hand per location, the threshold and, when given, `require_customer`.
    /// Answers one outcome per location, in the order given.
    ///
    /// # Errors
    /// Transport or Redis failures; no location, or more than 64.
    pub async fn seed_locations(
        &self,
        sku: &Sku,
        on_hand: &[(Location, i64)],
        low_threshold: i64,
        require_customer: Option<bool>,
    ) -> Result<Vec<LevelOutcome>, Error> {
        let shard = self.keys.shard_of(sku.as_str());
        let keys = [
            self.keys.stock(sku.as_str()),
            self.keys.holds(sku.as_str()),
            self.keys.events(shard),
            self.keys.locations(shard),
        ];
        let mut args = vec![
            sku.as_str().to_owned(),
            low_threshold.to_string(),
            self.offset(),
            match require_customer {
                Some(true) => "1",
                Some(false) => "0",
                None => "",
            }
            .to_owned(),
            on_hand.len().to_string(),
        ];
        for (location, n) in on_hand {
            args.push(location.as_str().to_owned());
            args.push(n.to_string());
        }
        let v = self
            .client_for(shard)
            .eval(rest_script(&lua::SEED), &keys, &args, false)
            .await?;
        let parts = v.as_array().ok_or_else(|| malformed("seed", &v))?;
        if parts.first().and_then(Value::as_str) == Some("bad_request") {
            return Self::level("seed", &v).map(|l| vec![l]);
        }
        parts
            .chunks(3)
            .map(|c| Self::level("seed", &Value::Array(c.to_vec())))
            .collect()
    }

    /// Marks a SKU as requiring a customer login to reserve (field `rc` of its stock hash), or
    /// clears the mark. One command; the reserve script reads it.
    ///
    /// # Errors
    /// Transport or Redis failures.
    pub async fn set_require_customer(&self, sku: &Sku, required: bool) -> Result<(), Error> {
        let key = self.keys.stock(sku.as_str());
        let c = if required {
            cmd("HSET").arg(key).arg("rc").arg(1)
        } else {
            cmd("HDEL").arg(key).arg("rc")
        };
        self.client_for(self.keys.shard_of(sku.as_str()))
            .command(&c)
            .await?;
        Ok(())
    }

    /// True when a SKU requires a customer login to reserve.
    ///
    /// # Errors
    /// Transport or Redis failures.
    pub async fn requires_customer(&self, sku: &Sku) -> Result<bool, Error> {
        let v = self
            .client_for(self.keys.shard_of(sku.as_str()))
            .command(&cmd("HGET").arg(self.keys.stock(sku.as_str())).arg("rc"))
            .await?;
        Ok(matches!(v, Value::Bytes(ref b) if b == b"1"))
    }

    fn level(what: &'static str, v: &Value) -> Result<LevelOutcome, Error> {
        let mut r = Reply::new(what, v)?;
        let tag = r.str()?;
        if tag == "bad_request" {
            return Err(Error::Malformed(format!("{what} refused: {}", r.str()?)));
        }
        let (on_hand, reserved) = (r.int()?, r.int()?);
        Ok(match tag {
            "ok" => LevelOutcome::Applied { on_hand, reserved },
            "duplicate" => LevelOutcome::Duplicate { on_hand, reserved },
            "below_reserved" | "clamped" => LevelOutcome::BelowReserved { on_hand, reserved },
            _ => return Err(malformed(what, v)),
        })
    }
}
