//! Edge benchmark (issue 4): through Miniflare at N connections, reserve / uncached read /
//! cached read; in the same run the same scripts gateway-direct (our typed client over HTTP) and
//! Redis-direct (`redis-benchmark`), and the Redis commands each edge request costs.
//!
//! ```text
//! (cd edge && worker-build --profile wasm-release)   # or scripts/test.sh, which builds it
//! cargo run --release -p edgestock-bench --bin edge-bench
//! EDGE_BENCH_SECONDS=5 EDGE_BENCH_CONNECTIONS=50 cargo run --release -p edgestock-bench --bin edge-bench
//! ```
//!
//! Everything runs on this machine (load generator, workerd, gateway and a private redis-server
//! share the cores), so the figures compare paths, not hardware.

#[allow(dead_code, unreachable_pub)]
use testkit_stack as support;

use std::collections::HashMap;
use std::future::Future;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use edgestock_core::domain::Sku;
use edgestock_core::scripts::{Item, ReserveRequest};
use serde_json::json;
use support::stack::{PrivateRedis, Stack};

const HOT: &str = "BENCH-HOT";
const BIG: &str = "BENCH-BIG";
const FINGERPRINT: &str = "bench";

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Figures {
    name: String,
    errors: u64,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    redis_calls_per_req: Option<f64>,
}

/// Top-level script calls (what a client sends; commands inside scripts are not counted).
fn script_calls(m: &HashMap<String, u64>) -> u64 {
    ["evalsha", "evalsha_ro", "eval", "eval_ro", "script", "ping"]
        .iter()
        .map(|n| m.get(*n).copied().unwrap_or(0))
        .sum()
}

/// Runs `op` from `conns` concurrent loops for `secs` seconds.
async fn run<F, Fut>(
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
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .map_or(0.0, |us| f64::from(*us) / 1000.0)
    };
    let ok = lat.len() as u64;
    let redis_calls_per_req = redis.zip(before).map(|(r, b)| {
        let after = r.command_calls();
        (script_calls(&after) - script_calls(&b)) as f64 / (ok + errors).max(1) as f64
    });
    Figures {
        name: name.to_owned(),
        errors,
        rps: ok as f64 / elapsed,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        redis_calls_per_req,
    }
}

/// `redis-benchmark` of one command line; requests per second.
fn redis_benchmark(port: u16, conns: u64, requests: u64, args: &[String]) -> f64 {
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
async fn expect(resp: reqwest::Result<reqwest::Response>, status: u16) -> bool {
    match resp {
        Ok(r) if r.status().as_u16() == status => r.bytes().await.is_ok(),
        _ => false,
    }
}

fn reserve_request(id: String) -> ReserveRequest {
    ReserveRequest {
        id,
        fingerprint: FINGERPRINT.into(),
        items: vec![Item {
            sku: Sku::parse(BIG).expect("sku"),
            qty: 1,
        }],
        ttl_ms: 600_000,
        max_hold_ms: 900_000,
        rate_limit: None,
        customer: None,
        cap: None,
        owner: String::new(),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let secs = env_num("EDGE_BENCH_SECONDS", 5);
    let conns = env_num("EDGE_BENCH_CONNECTIONS", 50);
    let redis = PrivateRedis::start();
    let common = json!({"RATE_LIMIT_PER_MINUTE": "0", "REDIS_TIMEOUT_MS": "5000"});
    let mut cached_cfg = common.clone();
    cached_cfg["STOCK_CACHE_SECONDS"] = json!("3600");
    let cached = Stack::start_on(&redis.url(), cached_cfg).await;
    let edge = Stack::start_on(&redis.url(), common).await;
    for s in [&cached, &edge] {
        s.seed(HOT, 1_000_000, 10).await;
        s.seed(BIG, 1_000_000_000, 10).await;
    }
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(conns as usize)
        .build()
        .expect("client");
    // Warm every path once (script cache, connections, edge cache).
    let _ = http
        .get(cached.url(&format!("/v1/stock/{HOT}")))
        .send()
        .await;
    let _ = http.get(edge.url(&format!("/v1/stock/{HOT}"))).send().await;
    let _ = http
        .post(edge.url("/v1/reservations"))
        .json(&json!({"items": [{"sku": BIG, "qty": 1}]}))
        .send()
        .await;

    let mut rows = Vec::new();

    let (h, url) = (http.clone(), edge.url("/healthz"));
    rows.push(
        run(
            "edge baseline (GET /healthz, no I/O)",
            conns,
            secs,
            Some(&redis),
            move |_| {
                let (h, url) = (h.clone(), url.clone());
                async move { expect(h.get(&url).send().await, 200).await }
            },
        )
        .await,
    );

    let (h, url) = (http.clone(), cached.url(&format!("/v1/stock/{HOT}")));
    rows.push(
        run(
            "edge cached read (GET /v1/stock/{sku})",
            conns,
            secs,
            Some(&redis),
            move |_| {
                let (h, url) = (h.clone(), url.clone());
                async move { expect(h.get(&url).send().await, 200).await }
            },
        )
        .await,
    );

    let (h, url) = (http.clone(), edge.url(&format!("/v1/stock/{HOT}")));
    rows.push(
        run("edge uncached read", conns, secs, Some(&redis), move |_| {
            let (h, url) = (h.clone(), url.clone());
            async move { expect(h.get(&url).send().await, 200).await }
        })
        .await,
    );

    let (h, url) = (http.clone(), edge.url("/v1/reservations"));
    let body = json!({"items": [{"sku": BIG, "qty": 1}]}).to_string();
    rows.push(
        run(
            "edge reserve (POST /v1/reservations)",
            conns,
            secs,
            Some(&redis),
            move |_| {
                let (h, url, body) = (h.clone(), url.clone(), body.clone());
                async move {
                    let req = h
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(body);
                    expect(req.send().await, 201).await
                }
            },
        )
        .await,
    );

    let engine = Arc::new(edge.engine);
    let sku = vec![Sku::parse(HOT).expect("sku")];
    let e = engine.clone();
    rows.push(
        run(
            "gateway-direct stock read (same script)",
            conns,
            secs,
            Some(&redis),
            move |_| {
                let (e, sku) = (e.clone(), sku.clone());
                async move { e.stock(&sku).await.is_ok() }
            },
        )
        .await,
    );
    let e = engine.clone();
    let run_id = rand::random::<u32>();
    rows.push(
        run(
            "gateway-direct reserve (same script)",
            conns,
            secs,
            Some(&redis),
            move |i| {
                let e = e.clone();
                async move {
                    e.reserve(&reserve_request(format!("gw{run_id:x}-{i}")))
                        .await
                        .is_ok()
                }
            },
        )
        .await,
    );

    // Redis-direct: the same scripts with the same KEYS/ARGV layout as Engine::stock / reserve.
    let keys = engine.keys();
    let n = (conns * 2000).max(20_000);
    // Vanilla Redis refuses Upstash's `allow-key-locking` flag: load the source the gateway
    // forwards and use the SHA1 Redis computes for it.
    let load = |script: &edgestock_lua::Script| -> String {
        let source = script
            .source
            .replacen(",allow-key-locking", "", 1)
            .replacen("allow-key-locking", "", 1);
        let out = Command::new("redis-cli")
            .args(["-p", &redis.port.to_string(), "SCRIPT", "LOAD", &source])
            .output()
            .expect("redis-cli SCRIPT LOAD");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let (read_sha, reserve_sha) = (
        load(&edgestock_lua::STOCK_READ),
        load(&edgestock_lua::RESERVE),
    );
    let read_args: Vec<String> = vec![
        "EVALSHA_RO".into(),
        read_sha,
        "2".into(),
        keys.stock(HOT),
        keys.holds(HOT),
        "0".into(),
    ];
    let read_rps = redis_benchmark(redis.port, conns, n, &read_args);
    let id = "rd-__rand_int__";
    let reserve_args: Vec<String> = [
        "EVALSHA",
        &reserve_sha,
        "5",
        &keys.reservation(id),
        &keys.events(),
        &keys.sweep_index(),
        &keys.stock(BIG),
        &keys.holds(BIG),
        id,
        FINGERPRINT,
        "600000",
        "900000",
        "0",
        "0",
        "0",
        "",
        "0",
        "1",
        BIG,
        "1",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let reserve_rps = redis_benchmark(redis.port, conns, n, &reserve_args);

    println!();
    println!(
        "edge-bench: {conns} connections, {secs} s per scenario, private redis-server on :{} \
         (all on this machine)",
        redis.port
    );
    println!(
        "{:<44} {:>10} {:>9} {:>9} {:>8} {:>13}",
        "scenario", "req/s", "p50 ms", "p99 ms", "errors", "redis cmd/req"
    );
    for r in &rows {
        println!(
            "{:<44} {:>10.0} {:>9.2} {:>9.2} {:>8} {:>13}",
            r.name,
            r.rps,
            r.p50_ms,
            r.p99_ms,
            r.errors,
            r.redis_calls_per_req
                .map_or("-".into(), |c| format!("{c:.3}"))
        );
    }
    println!(
        "{:<44} {:>10.0} {:>9} {:>9} {:>8} {:>13}",
        "redis-direct stock read (redis-benchmark)", read_rps, "-", "-", "-", "1"
    );
    println!(
        "{:<44} {:>10.0} {:>9} {:>9} {:>8} {:>13}",
        "redis-direct reserve (redis-benchmark)", reserve_rps, "-", "-", "-", "1"
    );
}
