//! Prometheus metrics with `prometheus-client`: requests by endpoint and status, commands
//! forwarded, requests in flight, and a latency histogram. Recording is a few atomic operations
//! (a read lock on the label family), so the hot path stays cheap.
//!
//! The crate adds `_total` to counter names itself, so counters are registered without it.

use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::protocol::Endpoint;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    endpoint: &'static str,
    status: u16,
}

/// The gateway's metrics, registered once.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    commands: Counter,
    in_flight: Gauge,
    latency: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "gateway_requests",
            "HTTP requests by endpoint and status",
            requests.clone(),
        );
        let commands = Counter::default();
        registry.register(
            "gateway_commands",
            "Redis commands forwarded",
            commands.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "gateway_in_flight",
            "Requests holding an in-flight slot",
            in_flight.clone(),
        );
        let latency = Histogram::new(BUCKETS);
        registry.register(
            "gateway_request_duration_seconds",
            "Request latency inside the gateway",
            latency.clone(),
        );
        Self {
            registry,
            requests,
            commands,
            in_flight,
            latency,
        }
    }
}

impl Metrics {
    pub(crate) fn observe(&self, endpoint: Endpoint, status: u16, took: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                endpoint: endpoint.name(),
                status,
            })
            .inc();
        self.latency.observe(took.as_secs_f64());
    }

    pub(crate) fn commands(&self, n: usize) {
        self.commands.inc_by(n as u64);
    }

    /// The text exposition, with `in_flight` read at scrape time.
    pub(crate) fn render(&self, in_flight: usize) -> String {
        self.in_flight
            .set(i64::try_from(in_flight).unwrap_or(i64::MAX));
        let mut out = String::with_capacity(2048);
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_a_cumulative_histogram() {
        let m = Metrics::default();
        m.observe(Endpoint::of("/pipeline"), 200, Duration::from_micros(700));
        m.observe(Endpoint::of("/"), 503, Duration::from_millis(30));
        m.commands(3);
        let text = m.render(2);
        assert!(
            text.contains("gateway_requests_total{endpoint=\"pipeline\",status=\"200\"} 1"),
            "{text}"
        );
        assert!(text.contains("gateway_requests_total{endpoint=\"command\",status=\"503\"} 1"));
        assert!(text.contains("gateway_commands_total 3"));
        assert!(text.contains("gateway_in_flight 2"));
        assert!(text.contains("gateway_request_duration_seconds_bucket{le=\"0.001\"} 1"));
        assert!(text.contains("gateway_request_duration_seconds_bucket{le=\"+Inf\"} 2"));
    }
}
