//! Flash-sale benchmark through the worker: distinct shoppers (one address each) race for a few
//! units, once with the edge's loser memory off and once on, in the same run against the same
//! private Redis; then one shopper hammering past its rate limit, off and on. It reports the
//! winners (they must be exactly the units), the Redis calls each losing attempt cost, and the
//! latency of losers and winners.
//!
//! ```text
//! cargo run --release -p edgestock-bench --bin flash-bench
//! FLASH_ATTEMPTS=10000 FLASH_UNITS=100 FLASH_CONNECTIONS=50 target/release/flash-bench
//! ```
//!
//! Bounded: at most `FLASH_ATTEMPTS` requests per scenario and `FLASH_SECONDS` (default 120)
//! each, all on 127.0.0.1. `FLASH_TRACE=1` prints every attempt slower than 500 ms (status,
//! `X-Edgestock-Cache`, when it ended) to stderr.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use edgestock_bench::{env_num, percentile_ms, script_calls};
use edgestock_core::domain::Sku;
use serde_json::{json, Value};
use testkit_stack::stack::{PrivateRedis, Stack};

/// What one scenario saw.
#[derive(Default)]
struct Tally {
    winners: Vec<u32>,
    losers: Vec<u32>,
    other: u64,
}

struct Row {
    name: String,
    winners: usize,
    losers: usize,
    other: u64,
    calls_per_loser: f64,
    loser_p50: f64,
    loser_p99: f64,
    winner_p50: f64,
    winner_p99: f64,
    seconds: f64,
}

/// `attempts` reserves of `sku` from `conns` loops; shopper `i` comes from the address
/// `address(i)`. 201 is a winner; `lose` is the status a loser gets.
async fn race(
    s: &Stack,
    redis: &PrivateRedis,
    name: &str,
    sku: &str,
    (attempts, conns, secs): (u64, u64, u64),
    address: fn(u64) -> String,
    lose: u16,
) -> Row {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(conns as usize)
        .build()
        .expect("client");
    let url = s.url("/v1/reservations");
    let body = json!({"items": [{"sku": sku, "qty": 1}]}).to_string();
    let next = Arc::new(AtomicU64::new(0));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let before = redis.command_calls();
    let start = Instant::now();
    let tasks: Vec<_> = (0..conns)
        .map(|_| {
            let (http, url, body) = (http.clone(), url.clone(), body.clone());
            let (next, tally) = (next.clone(), tally.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= attempts || Instant::now() >= deadline {
                        break;
                    }
                    let t = Instant::now();
                    let status = http
                        .post(&url)
                        .header("content-type", "application/json")
                        .header("cf-connecting-ip", address(i))
                        .body(body.clone())
                        .send()
                        .await
                        .map(|r| {
                            (
                                r.status().as_u16(),
                                r.headers().get("x-edgestock-cache").cloned(),
                            )
                        });
                    let us = t.elapsed().as_micros() as u32;
                    if us > 500_000 && std::env::var("FLASH_TRACE").is_ok() {
                        eprintln!(
                            "slow: attempt {i} {status:?} {} ms at {:?}",
                            us / 1000,
                            start.elapsed()
                        );
                    }
                    let status = status.map(|(s, _)| s);
                    let mut tl = tally.lock().expect("tally");
                    match status {
                        Ok(201) => tl.winners.push(us),
                        Ok(st) if st == lose => tl.losers.push(us),
                        _ => tl.other += 1,
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("race task");
    }
    let seconds = start.elapsed().as_secs_f64();
    let calls = script_calls(&redis.command_calls()) - script_calls(&before);
    let mut tl = std::mem::take(&mut *tally.lock().expect("tally"));
    tl.winners.sort_unstable();
    tl.losers.sort_unstable();
    let loser_calls = calls.saturating_sub(tl.winners.len() as u64);
    Row {
        name: name.to_owned(),
        winners: tl.winners.len(),
        losers: tl.losers.len(),
        other: tl.other,
        calls_per_loser: loser_calls as f64 / tl.losers.len().max(1) as f64,
        loser_p50: percentile_ms(&tl.losers, 0.50),
        loser_p99: percentile_ms(&tl.losers, 0.99),
        winner_p50: percentile_ms(&tl.winners, 0.50),
        winner_p99: percentile_ms(&tl.winners, 0.99),
        seconds,
    }
}

/// Shopper `i`'s own address (10.0.0.0/8 has room for 16 million).
fn distinct(i: u64) -> String {
    format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255)
}

/// The one hammering shopper.
fn same(_: u64) -> String {
    "192.0.2.77".to_owned()
}

async fn stack(redis: &PrivateRedis, caches: bool, extra: Value) -> Stack {
    let mut cfg = json!({"STOCK_CACHE_SECONDS": "1", "REDIS_TIMEOUT_MS": "5000"});
    if !caches {
        cfg["SOLD_OUT_CACHE_SECONDS"] = json!("0");
        cfg["RATE_LIMIT_CACHE"] = json!("false");
    }
    for (k, v) in extra.as_object().expect("object") {
        cfg[k] = v.clone();
    }
    let s = Stack::start_on(&redis.url(), cfg).await;
    // Warm the script cache and the worker.
    s.seed("FLASH-WARM", 1_000_000, 0).await;
    let _ = reqwest::Client::new()
        .post(s.url("/v1/reservations"))
        .header("cf-connecting-ip", "192.0.2.1")
        .json(&json!({"items": [{"sku": "FLASH-WARM", "qty": 1}]}))
        .send()
        .await;
    s
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let attempts = env_num("FLASH_ATTEMPTS", 10_000);
    let units = env_num("FLASH_UNITS", 100);
    let conns = env_num("FLASH_CONNECTIONS", 50);
    let secs = env_num("FLASH_SECONDS", 120);
    let redis = PrivateRedis::start();
    let mut rows = Vec::new();
    let mut oversold = false;
    for caches in [false, true] {
        let s = stack(&redis, caches, json!({})).await;
        let sku = format!("FLASH-{}", if caches { "ON" } else { "OFF" });
        s.seed(&sku, i64::try_from(units).unwrap_or(i64::MAX), 10)
            .await;
        let name = format!(
            "drop, {attempts} shoppers, {units} units, memory {}",
            if caches { "on" } else { "off" }
        );
        let row = race(
            &s,
            &redis,
            &name,
            &sku,
            (attempts, conns, secs),
            distinct,
            409,
        )
        .await;
        let left = s
            .engine
            .stock(&[Sku::parse(&sku).expect("sku")])
            .await
            .expect("stock")[0]
            .available();
        oversold |= row.winners as u64 != units || left != 0;
        rows.push(row);
    }
    let hammer = attempts.min(2_000);
    for caches in [false, true] {
        let s = stack(&redis, caches, json!({"RATE_LIMIT_PER_MINUTE": "10"})).await;
        s.seed("FLASH-HAMMER", 1_000_000, 10).await;
        let name = format!(
            "one shopper, {hammer} tries, 10/min, memory {}",
            if caches { "on" } else { "off" }
        );
        let limits = (hammer, conns.min(10), secs);
        rows.push(race(&s, &redis, &name, "FLASH-HAMMER", limits, same, 429).await);
    }

    println!();
    println!(
        "flash-bench: {conns} connections, private redis-server on :{} (all on this machine); \
         a loser's Redis calls = script calls - winners",
        redis.port
    );
    println!(
        "{:<46} {:>7} {:>7} {:>5} {:>12} {:>9} {:>9} {:>9} {:>9} {:>7}",
        "scenario",
        "winners",
        "losers",
        "other",
        "redis/loser",
        "lose p50",
        "lose p99",
        "win p50",
        "win p99",
        "secs"
    );
    for r in &rows {
        println!(
            "{:<46} {:>7} {:>7} {:>5} {:>12.4} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>7.1}",
            r.name,
            r.winners,
            r.losers,
            r.other,
            r.calls_per_loser,
            r.loser_p50,
            r.loser_p99,
            r.winner_p50,
            r.winner_p99,
            r.seconds
        );
    }
    if oversold {
        eprintln!("flash-bench: the winners are not exactly the units sold");
        std::process::exit(1);
    }
}
