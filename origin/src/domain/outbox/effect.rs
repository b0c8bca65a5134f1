//! The typed payload of an outbox row and what it does to Redis.
//!
//! The payload is stored as JSON tagged with its `kind` (`{"kind": "commit", ...}`); the same tag
//! is kept in the `kind` column, which the SQL filters on. Rows written before the tag existed
//! carry it only in the column: [`Effect::from_row`] takes the column's tag for them.

use edgestock_core::domain::{Location, Sku};
use edgestock_core::scripts::{CommitOutcome, Item, LevelOutcome, ReleaseOutcome};
use serde::{Deserialize, Serialize};
use upstash_rest::{cmd, Error as RedisError};
use uuid::Uuid;

use super::OutboxKind;
use crate::state::Redis;

/// One line of an order effect.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PayloadItem {
    /// The SKU.
    pub sku: String,
    /// Units (positive).
    pub qty: i32,
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
        /// Units available for it.
        available: i64,
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
            Self::Commit(p) => match redis.commit(&p.reservation_id, &items_of(p)?).await? {
                CommitOutcome::Short { sku, available, .. } => {
                    Ok(Applied::Short { sku, available })
                }
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
            Ok(Item::at_default(
                Sku::parse(&i.sku).map_err(malformed)?,
                u32::try_from(i.qty).map_err(malformed)?,
            ))
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
    if let Some(low) = p.low {
        let key = redis.keys().stock(sku.as_str());
        redis
            .client()
            .command(&cmd("HSET").arg(key).arg("low").arg(low))
            .await?;
    }
    if let Some(required) = p.require_customer {
        redis.set_require_customer(&sku, required).await?;
    }
    match &p.movement_id {
        Some(mid) if p.delta != 0 || p.create => match redis
            .adjust(&sku, &Location::default(), p.delta, mid)
            .await?
        {
            LevelOutcome::BelowReserved { on_hand, reserved } => Err(RedisError::Malformed(
                format!("below_reserved: on_hand {on_hand}, reserved {reserved}; retrying"),
            )),
            _ => Ok(Applied::Applied),
        },
        _ => Ok(Applied::Applied),
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
                    movement_id: None,
                },
                PayloadItem {
                    sku: "A".into(),
                    qty: 2,
                    movement_id: None,
                },
                PayloadItem {
                    sku: "B".into(),
                    qty: 3,
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
    fn skus_are_sorted_and_distinct() {
        assert_eq!(Effect::Commit(order()).skus(), ["A", "B"]);
    }
}
