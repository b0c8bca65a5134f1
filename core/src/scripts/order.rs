//! A reservation becoming an order: pin (place, or a backend confirm), unpin (a record that
//! failed), repin (after Redis lost its data) and commit.

use edgestock_lua as lua;

use crate::domain::{Location, ReservationStatus};
use upstash_rest::{Error, Transport};

use super::{location, malformed, rest_script, status, Engine, Item, Reply};
use crate::keys::ShardId;

/// Outcome of [`Engine::pin`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinOutcome {
    /// Pinned: `confirming` until `expires_ms` (= the deadline plus grace, or the hold's own
    /// expiry when that is later). Times are Redis's clock; `now_ms` lets a caller carry the
    /// deadline over to its own clock as a duration.
    Pinned {
        /// The payment deadline fixed by the first pin (ms).
        deadline_ms: i64,
        /// When Redis frees the units (ms).
        expires_ms: i64,
        /// Redis's clock when pinned.
        now_ms: i64,
        /// True when the reservation was pinned before (its first deadline stands).
        again: bool,
    },
    /// Already committed.
    Committed,
    /// Expired or released: no order may be written.
    Expired {
        /// `expired` or `released`.
        status: ReservationStatus,
    },
    /// No such reservation.
    NotFound,
}

/// Outcome of [`Engine::unpin`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnpinOutcome {
    /// Back to `held`, expiring at `expires_ms` (its expiry before the pin).
    Unpinned {
        /// The restored expiry (ms).
        expires_ms: i64,
    },
    /// Not pinned (any other status): nothing changed.
    NotPinned(ReservationStatus),
    /// No such reservation.
    NotFound,
}

/// Outcome of [`Engine::repin`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepinOutcome {
    /// Held again until `expires_ms`.
    Repinned {
        /// When Redis frees the units (ms).
        expires_ms: i64,
    },
    /// Redis still has the reservation (in this status): nothing to do.
    Exists(ReservationStatus),
    /// This SKU no longer has the units: nothing was held.
    Short {
        /// The short SKU.
        sku: String,
        /// Units available for it at the part's location.
        available: i64,
        /// The location that is short (a part is never taken from another).
        location: Location,
    },
}

/// Outcome of [`Engine::commit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitOutcome {
    /// The live holds became sold units.
    Committed,
    /// Committed before (idempotent retry).
    AlreadyCommitted,
    /// The holds were gone; the units were taken from available.
    Late,
    /// The holds were gone and this SKU is short: nothing was taken.
    Short {
        /// The short SKU.
        sku: String,
        /// Units available for it at the part's location.
        available: i64,
        /// The location that is short (a part is never taken from another).
        location: Location,
    },
}

impl<T: Transport> Engine<T> {
    /// Pins a live hold: `confirming` with a payment deadline of `min(now + window_ms,
    /// created + MAX_HOLD + window_ms)` fixed at the first pin, the units kept until the deadline
    /// plus `grace_ms`. Pinning a pinned reservation changes nothing and answers its first
    /// deadline. Returns the items too, so the caller can record the order without another read.
    /// A reservation across shards pins every part, or undoes the parts it pinned and answers
    /// why one could not be.
    ///
    /// # Errors
    /// Transport or Redis failures.
    pub async fn pin(
        &self,
        id: &str,
        window_ms: u64,
        grace_ms: u64,
    ) -> Result<(PinOutcome, Vec<Item>), Error> {
        let Some(shards) = self.shards_of_reservation(id) else {
            return Ok((PinOutcome::NotFound, Vec::new()));
        };
        let parts = self
            .each_part(shards, |shard| {
                self.pin_part(shard, id, window_ms, grace_ms)
            })
            .await?;
        if parts.len() == 1 {
            return Ok(parts
                .into_iter()
                .next()
                .unwrap_or((PinOutcome::NotFound, Vec::new())));
        }
        let failed = parts
            .iter()
            .find(|(o, _)| !matches!(o, PinOutcome::Pinned { .. }))
            .map(|(o, _)| o.clone());
        if let Some(failed) = failed {
            // Undo the parts this call pinned (a part pinned before stays as it was).
            for (o, items) in &parts {
                if let PinOutcome::Pinned { again: false, .. } = o {
                    self.unpin(id, items).await?;
                }
            }
            return Ok((failed, Vec::new()));
        }
        Ok(PinOutcome::combine(parts))
    }

    async fn pin_part(
        &self,
        shard: ShardId,
        id: &str,
        window_ms: u64,
        grace_ms: u64,
    ) -> Result<(PinOutcome, Vec<Item>), Error> {
        let Some(rec) = self.reservation_part(shard, id).await? else {
            return Ok((PinOutcome::NotFound, Vec::new()));
        };
        let args = vec![
            id.to_owned(),
            window_ms.to_string(),
            grace_ms.to_string(),
            self.offset(),
        ];
        let v = self
            .eval_on_part(shard, &lua::PIN, id, &rec.items, &rec.owner, args)
            .await?;
        let mut r = Reply::new("pin", &v)?;
        let outcome = match r.str()? {
            "ok" => PinOutcome::Pinned {
                deadline_ms: r.int()?,
                expires_ms: r.int()?,
                now_ms: r.int()?,
                again: r.int()? == 1,
            },
            "committed" => PinOutcome::Committed,
            "expired" => PinOutcome::Expired {
                status: status(r.str()?)?,
            },
            "not_found" => PinOutcome::NotFound,
            _ => return Err(malformed("pin", &v)),
        };
        Ok((outcome, rec.items))
    }

    /// Undoes a pin (the order could not be recorded): `held` again with the expiry it had.
    /// `items` are the reservation's parts (each shard's are undone on it).
    ///
    /// # Errors
    /// Transport or Redis failures.
    pub async fn unpin(&self, id: &str, items: &[Item]) -> Result<UnpinOutcome, Error> {
        let by_shard = self.items_by_shard(items);
        let outcomes = self
            .each_of(&by_shard, |shard, items| self.unpin_part(shard, id, items))
            .await?;
        Ok(UnpinOutcome::combine(outcomes))
    }

    async fn unpin_part(
        &self,
        shard: ShardId,
        id: &str,
        items: &[Item],
    ) -> Result<UnpinOutcome, Error> {
        let Some(rec) = self.reservation_part(shard, id).await? else {
            return Ok(UnpinOutcome::NotFound);
        };
        let mut keys = vec![
            self.keys.reservation(shard, id),
            self.keys.events(shard),
            self.keys.sweep_index(shard),
            self.keys.locations(shard),
        ];
        self.sku_keys(items.iter().map(|i| i.sku.as_str()), &mut keys);
        self.cap_keys(items, &rec.owner, &mut keys);
        let mut args = vec![id.to_owned(), self.offset()];
        Self::item_args(items, &mut args);
        let v = self
            .client_for(shard)
            .eval(rest_script(&lua::UNPIN), &keys, &args, false)
            .await?;
        let mut r = Reply::new("unpin", &v)?;
        Ok(match r.str()? {
            "ok" => UnpinOutcome::Unpinned {
                expires_ms: r.int()?,
            },
            "not_pinned" => UnpinOutcome::NotPinned(status(r.str()?)?),
            "not_found" => UnpinOutcome::NotFound,
            "bad_request" => return Err(Error::Malformed(format!("unpin refused: {}", r.str()?))),
            _ => return Err(malformed("unpin", &v)),
        })
    }

    /// Holds `items` again for reservation `id` for `hold_ms` from Redis's now, as a pinned
    /// (`confirming`) reservation whose deadline is `hold_ms - grace_ms` from now, unless Redis
    /// still has the reservation. For placed orders after Redis lost its data. Each shard's
    /// parts are held again on it; the first short part is answered.
    ///
    /// # Errors
    /// Transport or Redis failures.
    pub async fn repin(
        &self,
        id: &str,
        items: &[Item],
        hold_ms: u64,
        grace_ms: u64,
    ) -> Result<RepinOutcome, Error> {
        let by_shard = self.items_by_shard(items);
        let outcomes = self
            .each_of(&by_shard, |shard, items| {
                self.repin_part(shard, id, items, hold_ms, grace_ms)
            })
            .await?;
        Ok(RepinOutcome::combine(outcomes))
    }

    async fn repin_part(
        &self,
        shard: ShardId,
        id: &str,
        items: &[Item],
        hold_ms: u64,
        grace_ms: u64,
    ) -> Result<RepinOutcome, Error> {
        let mut keys = vec![
            self.keys.reservation(shard, id),
            self.keys.events(shard),
            self.keys.sweep_index(shard),
            self.keys.locations(shard),
        ];
        self.sku_keys(items.iter().map(|i| i.sku.as_str()), &mut keys);
        let mut args = vec![
            id.to_owned(),
            hold_ms.to_string(),
            grace_ms.to_string(),
            self.offset(),
        ];
        Self::item_args(items, &mut args);
        let v = self
            .client_for(shard)
            .eval(rest_script(&lua::REPIN), &keys, &args, false)
            .await?;
        let mut r = Reply::new("repin", &v)?;
        Ok(match r.str()? {
            "ok" => RepinOutcome::Repinned {
                expires_ms: r.int()?,
            },
            "exists" => RepinOutcome::Exists(status(r.str()?)?),
            "short" => RepinOutcome::Short {
                sku: r.str()?.to_owned(),
                available: r.int()?,
                location: location(r.str()?)?,
            },
            "bad_request" => return Err(Error::Malformed(format!("repin refused: {}", r.str()?))),
            _ => return Err(malformed("repin", &v)),
        })
    }

    /// Commits a reservation's units as sold (idempotent). `items` come from the order, so a
    /// commit still applies when Redis lost the reservation record. Across shards each part
    /// commits on its own: a short part is answered while the others are sold (the caller
    /// records that line as needing attention).
    ///
    /// # Errors
    /// Transport or Redis failures.
    pub async fn commit(&self, id: &str, items: &[Item]) -> Result<CommitOutcome, Error> {
        let by_shard = self.items_by_shard(items);
        let outcomes = self
            .each_of(&by_shard, |shard, items| self.commit_part(shard, id, items))
            .await?;
        Ok(CommitOutcome::combine(outcomes))
    }

    async fn commit_part(
        &self,
        shard: ShardId,
        id: &str,
        items: &[Item],
    ) -> Result<CommitOutcome, Error> {
        let args = vec![id.to_owned(), self.offset()];
        let v = self
            .eval_on_part(shard, &lua::COMMIT, id, items, "", args)
            .await?;
        let mut r = Reply::new("commit", &v)?;
        Ok(match r.str()? {
            "ok" => match r.str()? {
                "already" => CommitOutcome::AlreadyCommitted,
                "late" => CommitOutcome::Late,
                _ => CommitOutcome::Committed,
            },
            "short" => CommitOutcome::Short {
                sku: r.str()?.to_owned(),
                available: r.int()?,
                location: location(r.str()?)?,
            },
            "bad_request" => return Err(Error::Malformed(format!("commit refused: {}", r.str()?))),
            _ => return Err(malformed("commit", &v)),
        })
    }
}
