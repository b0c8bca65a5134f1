//! What the benchmarks share: a bounded closed-loop load over loopback with its latency
//! percentiles, the Redis commands it cost (`INFO commandstats` of a private redis-server), and
//! `redis-benchmark` as the direct-Redis baseline.

use std::collections::HashMap;
use std::future::Future;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use testkit_stack::stack::PrivateRedis;

/// Parses a number from the environment, `default` when unset or malformed.
pub fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The figures of one scenario.
#[derive(Debug, Clone)]
pub struct Figures {
    /// What was measured.
    pub name: String,
    /// Operations that did not answer as expected.
    pub errors: u64,
    /// Expected answers per second.
    pub rps: f64,
    /// Median latency of the expected answers.
    pub p50_ms: f64,
    /// 99th percentile latency of the expected answers.
    pub p99_ms: f64,
    /// Top-level Redis script calls per operation, when a private Redis was watched.
    pub redis_calls_per_req: Option<f64>,
}

/// Top-level script calls (what a client sends; commands inside scripts are not counted).
pub fn script_calls(m: &HashMap<String, u64>) -> u64 {
    ["evalsha", "evalsha_ro", "eval", "eval_ro", "script", "ping"]
        .iter()
        .map(|n| m.get(*n).copied().unwrap_or(0))
        .sum()
}

/// Latency percentile `p` (0..1) of sorted microsecond samples, in ms.
pub fn percentile_ms(sorted_us: &[u32], p: f64) -> f64 {
    let i = ((sorted_us.len() as f64 * p) as usize).min(sorted_us.len().saturating_sub(1));
    sorted_us.get(i).map_or(0.0, |us| f64::from(*us) / 1000.0)
}

/// Runs `op` from `conns` concurrent loops for `secs` seconds; `op` gets a unique number and
/// says whether the answer was the expected one.
pub async fn run<F, Fut>(
    name: &str,
    conns: u64,
    secs: u64,
    redis: Option<&PrivateRedis>,
    op: F,
) -> Figures
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    let op = Arc::new(op);
    let before = redis.map(PrivateRedis::command_calls);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let start = Instant::now();
    let tasks: Vec<_> = (0..conns)
        .map(|c| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut errors = 0u64;
                let mut i = 0u64;
                while Instant::now() < deadline {
                    let t = Instant::now();
                    if op(c * 1_000_000_000 + i).await {
                        lat.push(t.elapsed().as_micros() as u32);
                    } else {
                        errors += 1;
                    }
                    i += 1;
                }
                (lat, errors)
            })
        })
        .collect();
    let mut lat = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.expect("bench task");
        lat.extend(l);
        errors += e;
    }
    let elapsed = start.elapsed().as_secs_f64();
    lat.sort_unstable();
    let ok = lat.len() as u64;
    let redis_calls_per_req = redis.zip(before).map(|(r, b)| {
        let after = r.command_calls();
        (script_calls(&after) - script_calls(&b)) as f64 / (ok + errors).max(1) as f64
    });
    Figures {
        name: name.to_owned(),
        errors,
        rps: ok as f64 / elapsed,
        p50_ms: percentile_ms(&lat, 0.50),
        p99_ms: percentile_ms(&lat, 0.99),
        redis_calls_per_req,
    }
}

/// `redis-benchmark` of one command line; requests per second.
pub fn redis_benchmark(port: u16, conns: u64, requests: u64, args: &[String]) -> f64 {
    let out = Command::new("redis-benchmark")
        .args(["-p", &port.to_string(), "-c", &conns.to_string()])
        .args(["-n", &requests.to_string(), "-r", "100000000000", "--csv"])
        .args(args)
        .output()
        .expect("run redis-benchmark");
    let text = String::from_utf8_lossy(&out.stdout);
    // CSV: a header, then `"<command>","<rps>",...`; the command may itself contain commas.
    let rps = text
        .lines()
        .filter_map(|l| l.rsplit("\",\"").nth(6))
        .filter_map(|v| v.trim_matches('"').parse::<f64>().ok())
        .next();
    rps.unwrap_or_else(|| {
        eprintln!(
            "redis-benchmark gave no figure: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        0.0
    })
}

/// True when the response has `status` and its body was read.
pub async fn expect(resp: reqwest::Result<reqwest::Response>, status: u16) -> bool {
    match resp {
        Ok(r) if r.status().as_u16() == status => r.bytes().await.is_ok(),
        _ => false,
    }
}

/// How hard and how long a scenario runs, and the Redis whose commands it counts.
#[derive(Debug, Clone, Copy)]
pub struct Load<'a> {
    /// Concurrent loops.
    pub conns: u64,
    /// Seconds per scenario.
    pub secs: u64,
    /// The private Redis whose commands are counted.
    pub redis: Option<&'a PrivateRedis>,
}

impl Load<'_> {
    /// One HTTP request per operation: `body` POSTed as JSON (a GET without one); the answer
    /// must have `status`.
    pub async fn http(
        &self,
        name: &str,
        http: &reqwest::Client,
        url: String,
        body: Option<String>,
        status: u16,
    ) -> Figures {
        let h = http.clone();
        run(name, self.conns, self.secs, self.redis, move |_| {
            let (h, url, body) = (h.clone(), url.clone(), body.clone());
            async move {
                let req = match body {
                    Some(b) => h
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(b),
                    None => h.get(&url),
                };
                expect(req.send().await, status).await
            }
        })
        .await
    }
}
