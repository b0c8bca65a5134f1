//! The typed payload of an outbox row and what it does to Redis.
//!
//! The payload is stored as JSON tagged with its `kind` (`{"kind": "commit", ...}`); the same tag
//! is kept in the `kind` column, which the SQL filters on. Rows written before the tag existed
//! carry it only in the column: [`Effect::from_row`] takes the column's tag for them. Payloads
//! written before locations existed name none: their location is `default`.

use edgestock_core::domain::{Location, Sku};
use edgestock_core::scripts::{CommitOutcome, Item, LevelOutcome, ReleaseOutcome, TransferOutcome};
use serde::{Deserialize, Serialize};
use upstash_rest::{cmd, Error as RedisError};
use uuid::Uuid;

use super::OutboxKind;
use crate::state::Redis;

/// The location of a payload written before locations existed.
fn default_location() -> String {
    Location::DEFAULT.to_owned()
}

/// One allocated part of an order effect.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PayloadItem {
    /// The SKU.
    pub sku: String,
    /// Units (positive).
    pub qty: i32,
    /// Where the units are (absent in old payloads: `default`).
    #[serde(default = "default_location")]
    pub location: String,
    /// The movement this line applies (restock/release: the cancellation movement).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub movement_id: Option<String>,
}

/// Payload of commit, release and restock rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderPayload {
    /// The order.
    pub order_id: Uuid,
    /// Its reservation.
    pub reservation_id: String,
    /// Lines.
    pub items: Vec<PayloadItem>,
}

/// Payload of adjust rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdjustPayload {
    /// The SKU.
    pub sku: String,
    /// The location whose on-hand changes (absent in old payloads: `default`).
    #[serde(default = "default_location")]
    pub location: String,
    /// Signed change of on-hand (0: only the threshold, or creating the SKU).
    pub delta: i64,
    /// The movement (Redis dedupes by it); none for a threshold-only change.
    pub movement_id: Option<String>,
    /// New low-stock threshold, when it changed.
    pub low: Option<i64>,
    /// True when the SKU is new: Redis must create it even with a zero delta.
    #[serde(default)]
    pub create: bool,
    /// New `require_customer` flag, when it changed (field `rc` of the SKU's hash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_customer: Option<bool>,
}

/// Payload of transfer rows: units of one SKU moved between two locations in one script.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TransferPayload {
    /// The SKU.
    pub sku: String,
    /// Where the units leave.
    pub from: String,
    /// Where they arrive.
    pub to: String,
    /// Units (positive).
    pub qty: u32,
    /// What Redis dedupes by: the ledger id of the outgoing movement (unique like every
    /// movement id, so it never meets an adjustment's id).
    pub movement_id: String,
}

/// A Redis effect waiting in the outbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Effect {
    /// Commit an order's reservation.
    Commit(OrderPayload),
    /// Release the hold of an order cancelled before its commit ran.
    Release(OrderPayload),
    /// Give a cancelled order's units back.
    Restock(OrderPayload),
    /// An admin stock change.
    Adjust(AdjustPayload),
    /// Units moved between two locations.
    Transfer(TransferPayload),
}

/// What applying a row did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Redis took the effect.
    Applied,
    /// A late commit found `sku` short: nothing changed in Redis; the order needs attention.
    Short {
        /// The short SKU.
        sku: String,
        /// Units available for it there.
        available: i64,
        /// The location it is short at.
        location: String,
    },
}

impl Effect {
    /// The row kind (the `kind` column and tag).
    pub fn kind(&self) -> OutboxKind {
        match self {
            Self::Commit(_) => OutboxKind::Commit,
            Self::Release(_) => OutboxKind::Release,
            Self::Restock(_) => OutboxKind::Restock,
            Self::Adjust(_) => OutboxKind::Adjust,
            Self::Transfer(_) => OutboxKind::Transfer,
        }
    }

    /// The JSON stored in the `payload` column.
    ///
    /// # Errors
    /// Never in practice (every field serializes); reported rather than unwrapped.
    pub fn to_json(&self) -> anyhow::Result<serde_json::Value> {
        Ok(serde_json::to_value(self)?)
    }

    /// Parses a stored row: the payload's own tag, or the `kind` column for untagged rows.
    ///
    /// # Errors
    /// A payload that does not match its kind.
    pub fn from_row(kind: OutboxKind, mut payload: serde_json::Value) -> serde_json::Result<Self> {
        if let Some(obj) = payload.as_object_mut() {
            obj.entry("kind").or_insert_with(|| kind.as_str().into());
        }
        serde_json::from_value(payload)
    }

    /// The distinct SKUs it touches, sorted (the order the advisory locks are taken in).
    pub fn skus(&self) -> Vec<String> {
        let mut skus: Vec<String> = match self {
            Self::Adjust(p) => vec![p.sku.clone()],
            Self::Transfer(p) => vec![p.sku.clone()],
            Self::Commit(p) | Self::Release(p) | Self::Restock(p) => {
                p.items.iter().map(|i| i.sku.clone()).collect()
            }
        };
        skus.sort();
        skus.dedup();
        skus
    }

    /// Runs the effect against Redis.
    ///
    /// # Errors
    /// Redis failures, a malformed payload, or an adjust that would go below the reserved units
    /// (retried until the holds end).
    pub async fn run(&self, redis: &Redis) -> Result<Applied, RedisError> {
        match self {
            Self::Adjust(p) => adjust(redis, p).await,
            Self::Transfer(p) => transfer(redis, p).await,
            Self::Commit(p) => match redis.commit(&p.reservation_id, &items_of(p)?).await? {
                CommitOutcome::Short {
                    sku,
                    available,
                    location,
                } => Ok(Applied::Short {
                    sku: sku.to_string(),
                    available,
                    location: location.to_string(),
                }),
                CommitOutcome::Late => {
                    tracing::warn!(reservation = %p.reservation_id, "late commit took units from available");
                    Ok(Applied::Applied)
                }
                CommitOutcome::Committed | CommitOutcome::AlreadyCommitted => Ok(Applied::Applied),
            },
            Self::Release(p) => match redis.release(&p.reservation_id, true).await? {
                // The commit ran before the cancel rewrote this row: give the units back instead.
                ReleaseOutcome::Committed => restock(redis, p).await,
                _ => Ok(Applied::Applied),
            },
            Self::Restock(p) => restock(redis, p).await,
        }
    }
}

fn malformed(e: impl std::fmt::Display) -> RedisError {
    RedisError::Malformed(e.to_string())
}

fn items_of(p: &OrderPayload) -> Result<Vec<Item>, RedisError> {
    p.items
        .iter()
        .map(|i| {
            Ok(Item {
                sku: Sku::parse(&i.sku).map_err(malformed)?,
                qty: u32::try_from(i.qty).map_err(malformed)?,
                location: Location::parse(&i.location).map_err(malformed)?,
            })
        })
        .collect()
}

async fn restock(redis: &Redis, p: &OrderPayload) -> Result<Applied, RedisError> {
    for (it, line) in items_of(p)?.iter().zip(&p.items) {
        let mid = line.movement_id.clone().unwrap_or_default();
        redis
            .adjust(&it.sku, &it.location, i64::from(it.qty), &mid)
            .await?;
    }
    Ok(Applied::Applied)
}

async fn adjust(redis: &Redis, p: &AdjustPayload) -> Result<Applied, RedisError> {
    let sku = Sku::parse(&p.sku).map_err(malformed)?;
    let location = Location::parse(&p.location).map_err(malformed)?;
    // The threshold first: the script that creates a SKU reads it (a hash holding only `low` is
    // not stock yet, so a new SKU's first units emit no level event).
    if let Some(low) = p.low {
        let key = redis.keys().stock(sku.as_str());
        redis
            .client_for(redis.keys().shard_of(sku.as_str()))
            .command(&cmd("HSET").arg(key).arg("low").arg(low))
            .await?;
    }
    if let Some(required) = p.require_customer {
        redis.set_require_customer(&sku, required).await?;
    }
    if let Some(mid) = &p.movement_id {
        if p.delta != 0 || p.create {
            if let LevelOutcome::BelowReserved { on_hand, reserved } =
                redis.adjust(&sku, &location, p.delta, mid).await?
            {
                return Err(RedisError::Malformed(format!(
                    "below_reserved: on_hand {on_hand}, reserved {reserved}; retrying"
                )));
            }
        }
    }
    Ok(Applied::Applied)
}

/// A transfer the worker applies; short (holds took the units since it was recorded) is retried
/// with backoff until they free enough, like an adjust below the reserved units.
async fn transfer(redis: &Redis, p: &TransferPayload) -> Result<Applied, RedisError> {
    let sku = Sku::parse(&p.sku).map_err(malformed)?;
    let from = Location::parse(&p.from).map_err(malformed)?;
    let to = Location::parse(&p.to).map_err(malformed)?;
    match redis
        .transfer(&sku, &from, &to, p.qty, &p.movement_id)
        .await?
    {
        TransferOutcome::Short { available } => Err(RedisError::Malformed(format!(
            "transfer short at {from}: {available} available; retrying"
        ))),
        TransferOutcome::Applied { .. } | TransferOutcome::Duplicate => Ok(Applied::Applied),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order() -> OrderPayload {
        OrderPayload {
            order_id: Uuid::nil(),
            reservation_id: "r-1".into(),
            items: vec![
                PayloadItem {
                    sku: "B".into(),
                    qty: 1,
                    location: "default".into(),
                    movement_id: None,
                },
                PayloadItem {
                    sku: "A".into(),
                    qty: 2,
                    location: "store-1".into(),
                    movement_id: None,
                },
                PayloadItem {
                    sku: "B".into(),
                    qty: 3,
                    location: "store-1".into(),
                    movement_id: None,
                },
            ],
        }
    }

    #[test]
    fn the_payload_carries_its_kind_tag_and_round_trips() {
        let json = Effect::Release(order()).to_json().unwrap();
        assert_eq!(json["kind"], "release");
        let back = Effect::from_row(OutboxKind::Release, json).unwrap();
        assert_eq!(back.kind(), OutboxKind::Release);
    }

    #[test]
    fn an_untagged_row_takes_the_kind_of_its_column() {
        let json = serde_json::to_value(order()).unwrap();
        let effect = Effect::from_row(OutboxKind::Restock, json).unwrap();
        assert_eq!(effect.kind(), OutboxKind::Restock);
    }

    #[test]
    fn a_payload_written_before_locations_is_at_default() {
        let old = serde_json::json!({"kind": "restock", "order_id": Uuid::nil(), "reservation_id": "r",
            "items": [{"sku": "A", "qty": 1, "movement_id": "cancel:x:1"}]});
        let Effect::Restock(p) = Effect::from_row(OutboxKind::Restock, old).unwrap() else {
            panic!("a restock");
        };
        assert_eq!(p.items[0].location, "default");
        let adjust = serde_json::json!({"sku": "A", "delta": 1, "movement_id": "m", "low": null});
        let Effect::Adjust(a) = Effect::from_row(OutboxKind::Adjust, adjust).unwrap() else {
            panic!("an adjust");
        };
        assert_eq!(a.location, "default");
    }

    #[test]
    fn skus_are_sorted_and_distinct() {
        assert_eq!(Effect::Commit(order()).skus(), ["A", "B"]);
    }
}
