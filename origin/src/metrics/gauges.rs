//! The gauges read from Postgres and Redis at scrape time, encoded from a registry built for
//! that scrape.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SkuLabels {
    sku: String,
}

/// Gauges read at scrape time.
#[derive(Debug, Default, Clone)]
pub struct Gauges {
    /// Outbox rows not yet done.
    pub outbox_backlog: i64,
    /// Age in seconds of the oldest pending outbox row (0 when none).
    pub outbox_oldest_age_seconds: f64,
    /// Orders in `NEEDS_ATTENTION`.
    pub needs_attention: i64,
    /// Available units per SKU as Redis reports them.
    pub available: Vec<(String, i64)>,
    /// False when Redis could not be read for this scrape.
    pub redis_up: bool,
    /// Live holds in Redis (one per SKU line of a held reservation); `None` when unknown.
    pub active_reservations: Option<i64>,
    /// Available units of the SKUs with recent stock activity or listed in `METRICS_SKUS`.
    pub inventory_available: Vec<(String, i64)>,
    /// Webhook deliveries pending to enabled endpoints.
    pub webhook_backlog: i64,
    /// Age in seconds of the oldest of them (0 when none).
    pub webhook_oldest_age_seconds: f64,
    /// Webhook endpoints currently disabled.
    pub webhook_endpoints_disabled: i64,
}

impl Gauges {
    /// A registry holding this scrape's values.
    pub(super) fn registry(&self) -> Registry {
        let mut r = Registry::default();
        let gauge = |v: i64| {
            let g = Gauge::<i64>::default();
            g.set(v);
            g
        };
        r.register(
            "origin_outbox_backlog",
            "Outbox rows not yet applied",
            gauge(self.outbox_backlog),
        );
        let age = Gauge::<f64, AtomicU64>::default();
        age.set(self.outbox_oldest_age_seconds);
        r.register(
            "origin_outbox_oldest_age_seconds",
            "Age of the oldest pending outbox row",
            age,
        );
        r.register(
            "origin_orders_needs_attention",
            "Orders in NEEDS_ATTENTION",
            gauge(self.needs_attention),
        );
        r.register(
            "origin_redis_up",
            "Whether Redis answered this scrape",
            gauge(i64::from(self.redis_up)),
        );
        let available = Family::<SkuLabels, Gauge>::default();
        for (sku, n) in &self.available {
            available
                .get_or_create(&SkuLabels { sku: sku.clone() })
                .set(*n);
        }
        r.register(
            "origin_stock_available",
            "Available units per SKU (Redis)",
            available,
        );
        if let Some(n) = self.active_reservations {
            r.register(
                "active_reservations_count",
                "Live holds in Redis, one per SKU line of a held reservation (cached a few seconds)",
                gauge(n),
            );
        }
        let inventory = Family::<SkuLabels, Gauge>::default();
        for (sku, n) in &self.inventory_available {
            inventory
                .get_or_create(&SkuLabels { sku: sku.clone() })
                .set(*n);
        }
        r.register(
            "inventory_available",
            "Available units of SKUs with stock activity in the last hour or in METRICS_SKUS",
            inventory,
        );
        r.register(
            "origin_webhook_backlog",
            "Webhook deliveries pending to enabled endpoints",
            gauge(self.webhook_backlog),
        );
        let age = Gauge::<f64, AtomicU64>::default();
        age.set(self.webhook_oldest_age_seconds);
        r.register(
            "origin_webhook_oldest_age_seconds",
            "Age of the oldest pending webhook delivery",
            age,
        );
        r.register(
            "origin_webhook_disabled_endpoints",
            "Webhook endpoints currently disabled",
            gauge(self.webhook_endpoints_disabled),
        );
        r
    }
}
