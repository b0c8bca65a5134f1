//! One reservation's life after reserve, while the shopper holds it: read, extend, release.
//! (Turning it into an order, pin to commit, is in `order.rs`.)

use edgestock_lua as lua;

use crate::domain::ReservationStatus;
use upstash_rest::{Error, Transport, Value};

use super::{malformed, parse_items, rest_script, status, Engine, Item, Reply};
use crate::keys::ShardId;

/// A stored reservation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationRecord {
    /// Reservation id.
    pub id: String,
    /// `held`, `confirming`, `committed`, `released` or `expired` (a held one past expiry reads expired).
    pub status: ReservationStatus,
    /// Allocated parts, in the order they were reserved (a split line is several parts).
    pub items: Vec<Item>,
    /// Creation time (ms).
    pub created_ms: i64,
    /// Expiry (ms).
    pub expires_ms: i64,
    /// The latest expiry extensions may reach (ms).
    pub max_expires_ms: i64,
    /// Owner recorded at reserve time.
    pub owner: String,
    /// Redis's clock when read.
    pub now_ms: i64,
}

/// Outcome of [`Engine::extend`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtendOutcome {
    /// Extended to `expires_ms` (possibly capped at `max_expires_ms`).
    Extended {
        /// New expiry (ms).
        expires_ms: i64,
        /// The cap (ms).
        max_expires_ms: i64,
    },
    /// Already at the cap: nothing changed.
    AtLimit {
        /// The cap (ms).
        max_expires_ms: i64,
    },
    /// The hold had expired (its units are back).
    Expired,
    /// Not `held` (confirming, committed, released, expired): the status.
    NotHeld(ReservationStatus),
    /// No such reservation.
    NotFound,
}

/// Outcome of [`Engine::release`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseOutcome {
    /// Released now (`changed`) or already `released`/`expired` before; the final status.
    Released {
        /// `released` or `expired`.
        status: ReservationStatus,
        /// True when this call gave units back.
        changed: bool,
    },
    /// Already committed: nothing to release.
    Committed,
    /// Being confirmed (pinned) and the caller may not cancel that.
    Confirming,
    /// No such reservation.
    NotFound,
}

impl<T: Transport> Engine<T> {
    /// A reservation's record, read-only; `None` when unknown (or past its retention, or an id
    /// this deployment cannot have issued). A reservation across shards reads every part.
    ///
    /// # Errors
    /// Transport or Redis failures.
    pub async fn reservation(&self, id: &str) -> Result<Option<ReservationRecord>, Error> {
        let Some(shards) = self.shards_of_reservation(id) else {
            return Ok(None);
        };
        if shards.len() == 1 {
            let shard = shards.iter().next().unwrap_or(ShardId(0));
            return self.reservation_part(shard, id).await;
        }
        Ok(self.reservation_across(shards, id).await?.whole())
    }

    /// One shard's part of reservation `id`.
    pub(super) async fn reservation_part(
        &self,
        shard: ShardId,
        id: &str,
    ) -> Result<Option<ReservationRecord>, Error> {
        let keys = [self.keys.reservation(shard, id)];
        let v = self
            .client_for(shard)
            .eval(
                rest_script(&lua::GET_RESERVATION),
                &keys,
                &[self.offset()],
                true,
            )
            .await?;
        let mut r = Reply::new("get_reservation", &v)?;
        if r.str()? != "found" {
            return Ok(None);
        }
        Ok(Some(ReservationRecord {
            id: id.to_owned(),
            status: status(r.str()?)?,
            items: parse_items(r.str()?),
            created_ms: r.int()?,
            expires_ms: r.int()?,
            max_expires_ms: r.int()?,
            owner: r.str()?.to_owned(),
            now_ms: r.int()?,
        }))
    }

    /// Runs a script acting on one shard's part of reservation `id` and its allocated `items`
    /// (extend, release, pin, commit): KEYS = the part's record, the shard's events stream and
    /// location settings, then stock/holds per part (and cap keys for a customer's); ARGV =
    /// `args`, then the part count and sku/qty/location per part.
    pub(super) async fn eval_on_part(
        &self,
        shard: ShardId,
        script: &lua::Script,
        id: &str,
        items: &[Item],
        owner: &str,
        mut args: Vec<String>,
    ) -> Result<Value, Error> {
        let mut keys = vec![
            self.keys.reservation(shard, id),
            self.keys.events(shard),
            self.keys.locations(shard),
        ];
        self.sku_keys(items.iter().map(|i| i.sku.as_str()), &mut keys);
        self.cap_keys(items, owner, &mut keys);
        Self::item_args(items, &mut args);
        self.client_for(shard)
            .eval(rest_script(script), &keys, &args, false)
            .await
    }

    /// The cap keys of a reservation bound to a customer (owner `c:<customer>`), one per part.
    pub(super) fn cap_keys(&self, items: &[Item], owner: &str, keys: &mut Vec<String>) {
        if let Some(customer) = owner.strip_prefix("c:") {
            keys.extend(
                items
                    .iter()
                    .map(|i| self.keys.cap(i.sku.as_str(), customer)),
            );
        }
    }

    /// Extends a live hold by `add_ms`, capped at its maximum total hold time (every part).
    ///
    /// # Errors
    /// Transport or Redis failures.
    pub async fn extend(&self, id: &str, add_ms: u64) -> Result<ExtendOutcome, Error> {
        let Some(shards) = self.shards_of_reservation(id) else {
            return Ok(ExtendOutcome::NotFound);
        };
        let outcomes = self
            .each_part(shards, |shard| self.extend_part(shard, id, add_ms))
            .await?;
        Ok(ExtendOutcome::combine(outcomes))
    }

    async fn extend_part(
        &self,
        shard: ShardId,
        id: &str,
        add_ms: u64,
    ) -> Result<ExtendOutcome, Error> {
        let Some(rec) = self.reservation_part(shard, id).await? else {
            return Ok(ExtendOutcome::NotFound);
        };
        let args = vec![id.to_owned(), add_ms.to_string(), self.offset()];
        let v = self
            .eval_on_part(shard, &lua::EXTEND, id, &rec.items, &rec.owner, args)
            .await?;
        let mut r = Reply::new("extend", &v)?;
        Ok(match r.str()? {
            "ok" => ExtendOutcome::Extended {
                expires_ms: r.int()?,
                max_expires_ms: r.int()?,
            },
            "limit" => ExtendOutcome::AtLimit {
                max_expires_ms: r.int()?,
            },
            "expired" => ExtendOutcome::Expired,
            "not_held" => ExtendOutcome::NotHeld(status(r.str()?)?),
            "not_found" => ExtendOutcome::NotFound,
            _ => return Err(malformed("extend", &v)),
        })
    }

    /// Releases a reservation's holds (every part). `allow_confirming`: the origin may cancel a
    /// pinned one.
    ///
    /// # Errors
    /// Transport or Redis failures.
    pub async fn release(&self, id: &str, allow_confirming: bool) -> Result<ReleaseOutcome, Error> {
        let Some(shards) = self.shards_of_reservation(id) else {
            return Ok(ReleaseOutcome::NotFound);
        };
        let outcomes = self
            .each_part(shards, |shard| {
                self.release_part(shard, id, allow_confirming)
            })
            .await?;
        Ok(ReleaseOutcome::combine(outcomes))
    }

    pub(super) async fn release_part(
        &self,
        shard: ShardId,
        id: &str,
        allow_confirming: bool,
    ) -> Result<ReleaseOutcome, Error> {
        let Some(rec) = self.reservation_part(shard, id).await? else {
            return Ok(ReleaseOutcome::NotFound);
        };
        let args = vec![
            id.to_owned(),
            self.offset(),
            if allow_confirming { "1" } else { "0" }.to_owned(),
        ];
        let v = self
            .eval_on_part(shard, &lua::RELEASE, id, &rec.items, &rec.owner, args)
            .await?;
        let mut r = Reply::new("release", &v)?;
        Ok(match r.str()? {
            "ok" => ReleaseOutcome::Released {
                status: status(r.str()?)?,
                changed: r.int()? == 1,
            },
            "committed" => ReleaseOutcome::Committed,
            "confirming" => ReleaseOutcome::Confirming,
            "not_found" => ReleaseOutcome::NotFound,
            _ => return Err(malformed("release", &v)),
        })
    }
}
