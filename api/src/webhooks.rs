//! Webhooks of the origin: the admin bodies of `/v1/admin/webhooks` and the message a receiver
//! gets (signed per the Standard Webhooks specification: `webhook-id`, `webhook-timestamp`,
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// The event types an endpoint can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum WebhookEventType {
    /// A SKU's availability fell to its low-stock threshold or below (from above it).
    #[serde(rename = "stock.low")]
    StockLow,
    /// A SKU's availability reached 0.
    #[serde(rename = "stock.sold_out")]
    StockSoldOut,
    /// Units became available again after none were (release, expiry, cancel, restock).
    #[serde(rename = "stock.back_in_stock")]
    StockBackInStock,
    /// A shopper placed an order (awaiting payment).
    #[serde(rename = "order.placed")]
    OrderPlaced,
    /// The checkout backend confirmed an order.
    #[serde(rename = "order.confirmed")]
    OrderConfirmed,
    /// An order was cancelled.
    #[serde(rename = "order.cancelled")]
    OrderCancelled,
    /// A placed order was not paid by its deadline.
    #[serde(rename = "order.expired")]
    OrderExpired,
    /// A confirmed order's commit found no units: an operator decides.
    #[serde(rename = "order.needs_attention")]
    OrderNeedsAttention,
}

impl WebhookEventType {
    /// Every type, in documentation order.
    pub const ALL: [Self; 8] = [
        Self::StockLow,
        Self::StockSoldOut,
        Self::StockBackInStock,
        Self::OrderPlaced,
        Self::OrderConfirmed,
        Self::OrderCancelled,
        Self::OrderExpired,
        Self::OrderNeedsAttention,
    ];

    /// The wire name (`stock.low`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StockLow => "stock.low",
            Self::StockSoldOut => "stock.sold_out",
            Self::StockBackInStock => "stock.back_in_stock",
            Self::OrderPlaced => "order.placed",
            Self::OrderConfirmed => "order.confirmed",
            Self::OrderCancelled => "order.cancelled",
            Self::OrderExpired => "order.expired",
            Self::OrderNeedsAttention => "order.needs_attention",
        }
    }

    /// The type named `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// `POST /v1/admin/webhooks` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// Where to POST: `https://` (or `http://` to a loopback address when the origin runs with
    /// `WEBHOOK_ALLOW_INSECURE`), at most 2048 bytes, no credentials.
    pub url: String,
    /// 1 to 8 distinct names of [`WebhookEventType`] (an unknown name is refused, naming the
    /// field `event_types`).
    pub event_types: Vec<String>,
    /// Only events of these SKUs (1 to 100); absent or `null`: every SKU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skus: Option<Vec<String>>,
}

/// A subscription as the admin API shows it (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Webhook {
    /// Endpoint id.
    pub id: Uuid,
    /// Where deliveries go.
    pub url: String,
    /// The subscribed types.
    pub event_types: Vec<WebhookEventType>,
    /// The SKU filter (`null`: every SKU).
    pub skus: Option<Vec<String>>,
    /// False once disabled after too many failures in a row (a replay enables it again).
    pub enabled: bool,
    /// Failed attempts in a row.
    pub consecutive_failures: i32,
    /// When it was disabled (`null` while enabled).
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub disabled_at: Option<OffsetDateTime>,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
}

/// 201 of `POST /v1/admin/webhooks`: the subscription and its signing secret, shown this once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedWebhook {
    /// The subscription.
    pub webhook: Webhook,
    /// `whsec_<base64 of 32 random bytes>`: verify `webhook-signature` with it. Never shown again.
    pub secret: String,
}

/// `GET /v1/admin/webhooks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Webhooks {
    /// The subscriptions, oldest first (at most 1,000).
    pub webhooks: Vec<Webhook>,
}

/// 200 of `POST /v1/admin/webhooks/{id}/replay`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookReplay {
    /// Deliveries queued: the endpoint's matching events that happened at or after `since`.
    pub queued: i64,
    /// True when more events matched than one replay queues (10,000): replay again from the
    /// newest one received.
    pub truncated: bool,
}

/// One attempt of the delivery log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookAttempt {
    /// The message (`webhook-id`).
    pub message_id: String,
    /// Its type.
    pub event_type: WebhookEventType,
    /// Its SKU.
    pub sku: String,
    /// 1 for the first attempt of this delivery.
    pub attempt: i32,
    /// The receiver's HTTP status (`null`: no answer, see `error`).
    pub status: Option<u16>,
    /// Time to the answer (or the failure), in milliseconds.
    pub latency_ms: i32,
    /// Why it failed (`null` when delivered).
    pub error: Option<String>,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: OffsetDateTime,
}

/// `GET /v1/admin/webhooks/{id}/attempts`: the newest attempts first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookAttempts {
    /// At most 100 attempts.
    pub attempts: Vec<WebhookAttempt>,
}

/// The body POSTed to a receiver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookMessage {
    /// The event type.
    #[serde(rename = "type")]
    pub event_type: WebhookEventType,
    /// When the event happened.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub timestamp: OffsetDateTime,
    /// What happened.
    pub data: WebhookData,
}

/// The `data` of a [`WebhookMessage`]: stock events carry `available`; order events the order,
/// its reservation and the line's `qty` (an order of several SKUs sends one message per line,
/// so each SKU's messages arrive in order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookData {
    /// The SKU.
    pub sku: String,
    /// Units available after the change (stock events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available: Option<i64>,
    /// The order (order events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<Uuid>,
    /// Its reservation (order events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation_id: Option<String>,
    /// Units of this SKU in the order (order events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qty: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_parses_from_its_serde_name() {
        for t in WebhookEventType::ALL {
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
            assert_eq!(WebhookEventType::parse(t.as_str()), Some(t));
        }
        assert_eq!(WebhookEventType::parse("stock.Low"), None);
    }
}
