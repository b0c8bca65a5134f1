//! Prometheus text metrics: requests by endpoint and status, commands, latency, in-flight.
//! Lock-free counters only, so the hot path pays a few atomic increments.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::protocol::Endpoint;

const ENDPOINTS: [&str; 4] = ["command", "pipeline", "multi_exec", "other"];
const STATUSES: [u16; 8] = [200, 400, 401, 404, 405, 413, 503, 0];
/// Upper bounds of the latency buckets, in milliseconds.
const BUCKETS_MS: [f64; 10] = [0.5, 1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 1000.0];

#[derive(Debug, Default)]
pub(crate) struct Metrics {
    requests: [[AtomicU64; STATUSES.len()]; ENDPOINTS.len()],
    commands: AtomicU64,
    latency_buckets: [AtomicU64; BUCKETS_MS.len()],
    latency_count: AtomicU64,
    latency_sum_us: AtomicU64,
}

impl Metrics {
    pub(crate) fn observe(&self, endpoint: Endpoint, status: u16, took: Duration) {
        let s = STATUSES
            .iter()
            .position(|&x| x == status)
            .unwrap_or(STATUSES.len() - 1);
        self.requests[endpoint as usize][s].fetch_add(1, Ordering::Relaxed);
        let ms = took.as_secs_f64() * 1000.0;
        if let Some(b) = BUCKETS_MS.iter().position(|&le| ms <= le) {
            self.latency_buckets[b].fetch_add(1, Ordering::Relaxed);
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us.fetch_add(
            u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    pub(crate) fn commands(&self, n: usize) {
        self.commands.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn render(&self, in_flight: usize) -> String {
        let mut out = String::with_capacity(2048);
        out.push_str(
            "# HELP gateway_requests_total HTTP requests by endpoint and status (0 = other).\n",
        );
        out.push_str("# TYPE gateway_requests_total counter\n");
        for (e, name) in ENDPOINTS.iter().enumerate() {
            for (s, status) in STATUSES.iter().enumerate() {
                let n = self.requests[e][s].load(Ordering::Relaxed);
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "gateway_requests_total{{endpoint=\"{name}\",status=\"{status}\"}} {n}"
                    );
                }
            }
        }
        let _ = writeln!(
            out,
            "# HELP gateway_commands_total Redis commands forwarded.\n# TYPE gateway_commands_total counter\ngateway_commands_total {}",
            self.commands.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP gateway_in_flight Requests holding an in-flight slot.\n# TYPE gateway_in_flight gauge\ngateway_in_flight {in_flight}"
        );
        out.push_str(
            "# HELP gateway_request_duration_seconds Request latency inside the gateway.\n",
        );
        out.push_str("# TYPE gateway_request_duration_seconds histogram\n");
        let mut cumulative = 0;
        for (b, le) in BUCKETS_MS.iter().enumerate() {
            cumulative += self.latency_buckets[b].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "gateway_request_duration_seconds_bucket{{le=\"{}\"}} {cumulative}",
                le / 1000.0
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "gateway_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "gateway_request_duration_seconds_sum {}",
            self.latency_sum_us.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "gateway_request_duration_seconds_count {count}");
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
