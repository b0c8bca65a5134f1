//! Prometheus metrics with `prometheus-client`: counters and latency histograms recorded in
//! process, plus gauges (outbox and webhook backlogs and ages, needs-attention orders, available
//! per SKU, live holds) read from Postgres and Redis at scrape time and encoded from a registry
//! built for that scrape.
//!
//! The crate adds `_total` to counter names itself, so counters are registered without it.

use prometheus_client::encoding::text::{encode, encode_registry};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

mod gauges;

pub use gauges::Gauges;

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutboxLabels {
    kind: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

/// A counter family with every one of `labels` at 0 from the start, so a rate or an alert's
/// `increase` sees the first event (a series that appears at 1 has no increase).
fn counters_from_zero<L>(labels: impl IntoIterator<Item = L>) -> Family<L, Counter>
where
    L: Clone + std::hash::Hash + Eq,
{
    let family = Family::<L, Counter>::default();
    for l in labels {
        let _ = family.get_or_create(&l);
    }
    family
}

fn latency_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// In-process counters and histograms, registered once.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    reservations: Family<OutcomeLabels, Counter>,
    orders: Family<OutcomeLabels, Counter>,
    outbox: Family<OutboxLabels, Counter>,
    readiness_checks: Counter,
    webhook_attempts: Family<ResultLabels, Counter>,
    webhook_disabled: Counter,
    reconcile_drifting: Gauge,
    reconcile_last_run: Gauge,
    repins: Family<OutcomeLabels, Counter>,
    shard_heals: Family<KindLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        let reservations = Family::<OutcomeLabels, Counter>::default();
        let orders = Family::<OutcomeLabels, Counter>::default();
        let outbox = Family::<OutboxLabels, Counter>::default();
        let mut registry = Registry::default();
        registry.register(
            "origin_http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        registry.register(
            "origin_http_request_duration_seconds",
            "HTTP request latency",
            latency.clone(),
        );
        registry.register(
            "origin_reservations",
            "Reservations seen by confirm and cancel, by outcome",
            reservations.clone(),
        );
        registry.register("origin_orders", "Orders by outcome", orders.clone());
        registry.register(
            "origin_outbox_attempts",
            "Outbox attempts by kind and result",
            outbox.clone(),
        );
        let readiness_checks = Counter::default();
        registry.register(
            "origin_readiness_checks",
            "Readiness checks that reached Postgres and Redis (at most one per second)",
            readiness_checks.clone(),
        );
        let webhook_attempts = counters_from_zero(
            ["delivered", "failed", "timeout"].map(|result| ResultLabels { result }),
        );
        registry.register(
            "origin_webhook_attempts",
            "Webhook delivery attempts by result (delivered, failed, timeout)",
            webhook_attempts.clone(),
        );
        let webhook_disabled = Counter::default();
        registry.register(
            "origin_webhook_endpoint_disables",
            "Webhook endpoints disabled after too many failures in a row",
            webhook_disabled.clone(),
        );
        let reconcile_drifting = Gauge::default();
        registry.register(
            "origin_reconcile_drifting_skus",
            "SKUs whose Redis level differed from the ledger at the last reconcile",
            reconcile_drifting.clone(),
        );
        let reconcile_last_run = Gauge::default();
        registry.register(
            "origin_reconcile_last_run_timestamp_seconds",
            "Unix time of the last reconcile (0: none since the process started)",
            reconcile_last_run.clone(),
        );
        let repins = counters_from_zero(
            ["repinned", "present", "short"].map(|outcome| OutcomeLabels { outcome }),
        );
        registry.register(
            "origin_repins",
            "Placed orders checked after Redis lost data, by outcome (repinned, present, short)",
            repins.clone(),
        );
        let shard_heals = counters_from_zero(
            ["empty", "replaced", "failed_over"].map(|kind| KindLabels { kind }),
        );
        registry.register(
            "origin_shard_heals",
            "Redis shards healed by the sweeper, by what it found (empty, replaced, failed_over)",
            shard_heals.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            reservations,
            orders,
            outbox,
            readiness_checks,
            webhook_attempts,
            webhook_disabled,
            reconcile_drifting,
            reconcile_last_run,
            repins,
            shard_heals,
        }
    }
}

impl Metrics {
    /// Counts one HTTP request and its latency.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, secs: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status: status.to_string(),
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                method: method.to_owned(),
                route: route.to_owned(),
            })
            .observe(secs);
    }

    /// Counts a reservation outcome seen by confirm/cancel (`pinned`, `expired`, `not_found`, ...).
    pub fn reservation(&self, outcome: &'static str) {
        self.reservations
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// Counts an order outcome (`created`, `replayed`, `confirmed`, `needs_attention`, `cancelled`, ...).
    pub fn order(&self, outcome: &'static str) {
        self.orders.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// Counts an outbox attempt of `kind` with `result` (`applied`, `not_applied`, `retry`).
    pub fn outbox(&self, kind: &'static str, result: &'static str) {
        self.outbox
            .get_or_create(&OutboxLabels { kind, result })
            .inc();
    }

    /// Counts one webhook attempt by `result` (`delivered`, `failed`, `timeout`).
    pub fn webhook_attempt(&self, result: &'static str) {
        self.webhook_attempts
            .get_or_create(&ResultLabels { result })
            .inc();
    }

    /// Counts one endpoint disabled after failures.
    pub fn webhook_disabled(&self) {
        self.webhook_disabled.inc();
    }

    /// Records a reconcile that found `drifting` SKUs, at Unix time `at`.
    pub fn reconciled(&self, drifting: usize, at: i64) {
        self.reconcile_drifting
            .set(i64::try_from(drifting).unwrap_or(i64::MAX));
        self.reconcile_last_run.set(at);
    }

    /// Counts one placed order checked by a re-pin (`repinned`, `present` or `short`).
    pub fn repin(&self, outcome: &'static str) {
        self.repins.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// Counts one shard healed (`empty`, `replaced` or `failed_over`).
    pub fn shard_healed(&self, kind: &'static str) {
        self.shard_heals.get_or_create(&KindLabels { kind }).inc();
    }

    /// Counts one readiness check that went to Postgres and Redis (not one served from cache).
    pub fn readiness_check(&self) {
        self.readiness_checks.inc();
    }

    /// Readiness checks done so far.
    pub fn readiness_checks(&self) -> u64 {
        self.readiness_checks.get()
    }

    /// Renders everything in the OpenMetrics text format (which Prometheus' text parser also
    /// reads), ending with `# EOF`.
    pub fn render(&self, g: &Gauges) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode_registry(&mut out, &self.registry);
        let _ = encode(&mut out, &g.registry());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_has_counters_histograms_and_gauges() {
        let m = Metrics::default();
        m.observe_request("POST", "/v1/orders", 201, 0.003);
        m.order("created");
        let text = m.render(&Gauges {
            outbox_backlog: 2,
            available: vec![("A-1".into(), 7)],
            redis_up: true,
            ..Gauges::default()
        });
        assert!(text.contains(
            "origin_http_requests_total{method=\"POST\",route=\"/v1/orders\",status=\"201\"} 1"
        ));
        // prometheus-client puts `le` first among the labels.
        let bucket = |le: &str, n: u64| {
            format!("_bucket{{le=\"{le}\",method=\"POST\",route=\"/v1/orders\"}} {n}\n")
        };
        assert!(text.contains(&bucket("0.005", 1)), "{text}");
        assert!(text.contains(&bucket("0.001", 0)), "{text}");
        assert!(text.contains(&bucket("+Inf", 1)), "{text}");
        assert!(text.contains("# TYPE origin_orders counter\n"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert!(text.contains("origin_orders_total{outcome=\"created\"} 1"));
        assert!(text.contains("origin_outbox_backlog 2"));
        assert!(text.contains("origin_stock_available{sku=\"A-1\"} 7"));
    }

    #[test]
    fn render_has_the_webhook_and_inventory_figures() {
        let m = Metrics::default();
        m.webhook_attempt("delivered");
        m.webhook_attempt("timeout");
        m.webhook_attempt("timeout");
        m.webhook_disabled();
        let text = m.render(&Gauges {
            active_reservations: Some(3),
            inventory_available: vec![("HOT".into(), 0)],
            webhook_backlog: 4,
            webhook_oldest_age_seconds: 1.5,
            webhook_endpoints_disabled: 1,
            ..Gauges::default()
        });
        for line in [
            "origin_webhook_attempts_total{result=\"delivered\"} 1\n",
            "origin_webhook_attempts_total{result=\"timeout\"} 2\n",
            "origin_webhook_endpoint_disables_total 1\n",
            "active_reservations_count 3\n",
            "inventory_available{sku=\"HOT\"} 0\n",
            "origin_webhook_backlog 4\n",
            "origin_webhook_oldest_age_seconds 1.5\n",
            "origin_webhook_disabled_endpoints 1\n",
        ] {
            assert!(text.contains(line), "{line} missing from {text}");
        }
        let unknown = m.render(&Gauges::default());
        assert!(!unknown.contains("active_reservations_count"), "{unknown}");
    }
}
