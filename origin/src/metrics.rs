//! Prometheus text exposition, hand-rolled: counters and latency histograms recorded in process,
//! plus gauges (outbox backlog and age, needs-attention orders, available per SKU) read from
//! Postgres and Redis at scrape time.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, secs: f64) {
        for (i, le) in BUCKETS.iter().enumerate() {
            if secs <= *le {
                self.counts[i] += 1;
            }
        }
        self.count += 1;
        self.sum += secs;
    }
}

#[derive(Debug, Default)]
struct Inner {
    requests: BTreeMap<(String, String, u16), u64>,
    latency: BTreeMap<(String, String), Histogram>,
    reservations: BTreeMap<&'static str, u64>,
    orders: BTreeMap<&'static str, u64>,
    outbox: BTreeMap<(&'static str, &'static str), u64>,
}

/// In-process counters and histograms. The lock is never held across an `.await`.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
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
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        f(&mut self.inner.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Counts one HTTP request and its latency.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, secs: f64) {
        self.with(|m| {
            *m.requests
                .entry((method.to_owned(), route.to_owned(), status))
                .or_default() += 1;
            m.latency
                .entry((method.to_owned(), route.to_owned()))
                .or_default()
                .observe(secs);
        });
    }

    /// Counts a reservation outcome seen by confirm/cancel (`pinned`, `expired`, `not_found`, ...).
    pub fn reservation(&self, outcome: &'static str) {
        self.with(|m| *m.reservations.entry(outcome).or_default() += 1);
    }

    /// Counts an order outcome (`created`, `replayed`, `confirmed`, `needs_attention`, `cancelled`, ...).
    pub fn order(&self, outcome: &'static str) {
        self.with(|m| *m.orders.entry(outcome).or_default() += 1);
    }

    /// Counts an outbox attempt of `kind` with `result` (`applied`, `not_applied`, `retry`).
    pub fn outbox(&self, kind: &'static str, result: &'static str) {
        self.with(|m| *m.outbox.entry((kind, result)).or_default() += 1);
    }

    /// Renders everything in the Prometheus text format (version 0.0.4).
    pub fn render(&self, g: &Gauges) -> String {
        let mut out = String::new();
        self.with(|m| {
            out.push_str("# HELP origin_http_requests_total HTTP requests by route and status.\n");
            out.push_str("# TYPE origin_http_requests_total counter\n");
            for ((method, route, status), n) in &m.requests {
                let _ = writeln!(out, "origin_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}", escape(route));
            }
            out.push_str("# HELP origin_http_request_duration_seconds HTTP request latency.\n");
            out.push_str("# TYPE origin_http_request_duration_seconds histogram\n");
            for ((method, route), h) in &m.latency {
                let labels = format!("method=\"{method}\",route=\"{}\"", escape(route));
                for (le, c) in BUCKETS.iter().zip(h.counts) {
                    let _ = writeln!(out, "origin_http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {c}");
                }
                let _ = writeln!(out, "origin_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}", h.count);
                let _ = writeln!(out, "origin_http_request_duration_seconds_sum{{{labels}}} {}", h.sum);
                let _ = writeln!(out, "origin_http_request_duration_seconds_count{{{labels}}} {}", h.count);
            }
            out.push_str("# HELP origin_reservations_total Reservations seen by confirm and cancel, by outcome.\n");
            out.push_str("# TYPE origin_reservations_total counter\n");
            for (outcome, n) in &m.reservations {
                let _ = writeln!(out, "origin_reservations_total{{outcome=\"{outcome}\"}} {n}");
            }
            out.push_str("# HELP origin_orders_total Orders by outcome.\n");
            out.push_str("# TYPE origin_orders_total counter\n");
            for (outcome, n) in &m.orders {
                let _ = writeln!(out, "origin_orders_total{{outcome=\"{outcome}\"}} {n}");
            }
            out.push_str("# HELP origin_outbox_attempts_total Outbox attempts by kind and result.\n");
            out.push_str("# TYPE origin_outbox_attempts_total counter\n");
            for ((kind, result), n) in &m.outbox {
                let _ = writeln!(out, "origin_outbox_attempts_total{{kind=\"{kind}\",result=\"{result}\"}} {n}");
            }
        });
        let _ = writeln!(out, "# HELP origin_outbox_backlog Outbox rows not yet applied.\n# TYPE origin_outbox_backlog gauge\norigin_outbox_backlog {}", g.outbox_backlog);
        let _ = writeln!(out, "# HELP origin_outbox_oldest_age_seconds Age of the oldest pending outbox row.\n# TYPE origin_outbox_oldest_age_seconds gauge\norigin_outbox_oldest_age_seconds {}", g.outbox_oldest_age_seconds);
        let _ = writeln!(out, "# HELP origin_orders_needs_attention Orders in NEEDS_ATTENTION.\n# TYPE origin_orders_needs_attention gauge\norigin_orders_needs_attention {}", g.needs_attention);
        let _ = writeln!(out, "# HELP origin_redis_up Whether Redis answered this scrape.\n# TYPE origin_redis_up gauge\norigin_redis_up {}", u8::from(g.redis_up));
        out.push_str("# HELP origin_stock_available Available units per SKU (Redis).\n# TYPE origin_stock_available gauge\n");
        for (sku, n) in &g.available {
            let _ = writeln!(out, "origin_stock_available{{sku=\"{}\"}} {n}", escape(sku));
        }
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
        assert!(text.contains("le=\"0.005\"} 1"));
        assert!(text.contains("le=\"0.001\"} 0"));
        assert!(text.contains("origin_orders_total{outcome=\"created\"} 1"));
        assert!(text.contains("origin_outbox_backlog 2"));
        assert!(text.contains("origin_stock_available{sku=\"A-1\"} 7"));
    }
}
