//! Load benchmark: EVALSHA of a reserve-style Lua script at N concurrent connections, through the
//! gateway (Upstash REST over loopback HTTP) and, in the same run, directly against Redis (RESP).
//! Prints throughput, p50 and p99 side by side, and the gateway/direct throughput ratio.
//!
//! ```text
//! cargo run --release -p edgestock-bench --bin gateway-bench -- --requests 100000 --seconds 20
//! ```
//! Every run is bounded by `--requests` and `--seconds` per target. Only loopback targets are
//! accepted: the gateway runs in this process on 127.0.0.1 and `--redis-url` must be local.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use redis::AsyncCommands as _;
use upstash_rest::{Client, ReqwestTransport};

/// Reserve-shaped script: reap up to 16 expired holds of the SKU, check availability, hold.
/// KEYS[1] = stock hash, KEYS[2] = holds zset. ARGV[1] = hold id, ARGV[2] = qty, ARGV[3] = ttl ms.
const RESERVE: &str = r#"#!lua flags=allow-key-locking
local stock_key = KEYS[1]          -- stock hash: on_hand, reserved
local holds_key = KEYS[2]          -- zset: "id|qty" -> expiry ms
local hold_id = ARGV[1]            -- new hold id
local qty = tonumber(ARGV[2])      -- units to hold
local ttl_ms = tonumber(ARGV[3])   -- hold lifetime
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expired = redis.call('ZRANGEBYSCORE', holds_key, '-inf', now, 'LIMIT', 0, 16)
local freed = 0
for _, m in ipairs(expired) do
  freed = freed + tonumber(string.match(m, '|(%d+)$'))
end
if #expired > 0 then
  redis.call('ZREM', holds_key, unpack(expired))
  redis.call('HINCRBY', stock_key, 'reserved', -freed)
end
local on_hand = tonumber(redis.call('HGET', stock_key, 'on_hand') or '0')
local reserved = tonumber(redis.call('HGET', stock_key, 'reserved') or '0')
if on_hand - reserved < qty then
  return {0, on_hand - reserved}
end
redis.call('HINCRBY', stock_key, 'reserved', qty)
redis.call('ZADD', holds_key, now + ttl_ms, hold_id .. '|' .. qty)
return {1, on_hand - reserved - qty}
"#;

#[derive(Debug, Parser)]
#[command(about = "EVALSHA throughput and latency: gateway vs direct Redis")]
struct Args {
    /// Redis for both targets (must be on loopback).
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// Concurrent connections per target.
    #[arg(long, default_value_t = 50)]
    concurrency: usize,
    /// Requests per target (upper bound).
    #[arg(long, default_value_t = 100_000)]
    requests: u64,
    /// Seconds per target (upper bound).
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Distinct SKUs the load is spread over.
    #[arg(long, default_value_t = 1000)]
    skus: u64,
    /// Gateway worker threads (the load generator gets its own runtime).
    #[arg(long, default_value_t = 2)]
    gateway_threads: usize,
    /// Alternating rounds (direct, then gateway), to show the noise of a shared 2-core machine.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Multiplexed Redis connections inside the gateway (`GATEWAY_REDIS_CONNECTIONS`).
    #[arg(long, default_value_t = 2)]
    gateway_redis_connections: usize,
}

#[derive(Debug)]
struct Outcome {
    name: &'static str,
    ok: u64,
    errors: u64,
    elapsed: Duration,
    latencies_us: Vec<u64>,
}

impl Outcome {
    fn rps(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }
    fn pct(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let i = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        self.latencies_us[i] as f64 / 1000.0
    }
}

fn check_loopback(url: &str) -> anyhow::Result<()> {
    let host = url.split("://").nth(1).unwrap_or(url);
    let host = host.rsplit('@').next().unwrap_or(host);
    anyhow::ensure!(
        host.starts_with("127.0.0.1") || host.starts_with("localhost") || host.starts_with("[::1]"),
        "refusing to load a non-loopback target: {url}"
    );
    Ok(())
}

fn keys(sku: u64) -> [String; 2] {
    [
        format!("bench:stock:{{{sku}}}"),
        format!("bench:holds:{{{sku}}}"),
    ]
}

async fn seed(redis_url: &str, skus: u64) -> anyhow::Result<()> {
    let client = redis::Client::open(redis_url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let mut pipe = redis::pipe();
    for sku in 0..skus {
        let [stock, holds] = keys(sku);
        pipe.del(&holds).ignore();
        pipe.hset_multiple(
            &stock,
            &[("on_hand", 1_000_000_000_000i64), ("reserved", 0)],
        )
        .ignore();
    }
    let () = pipe.query_async(&mut conn).await?;
    let _: () = conn.set("bench:seeded", "1").await?;
    Ok(())
}

/// Runs `make_worker(i)` on `concurrency` tasks until `requests` or `seconds` run out.
async fn drive<F, Fut>(name: &'static str, args: &Args, make_worker: F) -> anyhow::Result<Outcome>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<
        Output = anyhow::Result<
            Box<dyn FnMut(u64) -> futures::future::BoxFuture<'static, bool> + Send>,
        >,
    >,
{
    let issued = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let mut workers = Vec::with_capacity(args.concurrency);
    for i in 0..args.concurrency {
        workers.push(make_worker(i).await?);
    }
    let start = Instant::now();
    let mut tasks = Vec::new();
    for mut call in workers {
        let issued = issued.clone();
        let errors = errors.clone();
        let limit = args.requests;
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(4096);
            loop {
                let n = issued.fetch_add(1, Ordering::Relaxed);
                if n >= limit || Instant::now() >= deadline {
                    break;
                }
                let t = Instant::now();
                if call(n).await {
                    lat.push(t.elapsed().as_micros() as u64);
                } else {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            lat
        }));
    }
    let mut latencies_us = Vec::new();
    for t in tasks {
        latencies_us.extend(t.await?);
    }
    let elapsed = start.elapsed();
    latencies_us.sort_unstable();
    Ok(Outcome {
        name,
        ok: latencies_us.len() as u64,
        errors: errors.load(Ordering::Relaxed),
        elapsed,
        latencies_us,
    })
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    check_loopback(&args.redis_url)?;
    anyhow::ensure!(
        args.concurrency >= 1 && args.concurrency <= 1000,
        "--concurrency must be 1..=1000"
    );
    anyhow::ensure!(args.seconds <= 300, "--seconds is capped at 300");
    anyhow::ensure!((1..=10).contains(&args.rounds), "--rounds must be 1..=10");

    // The gateway on its own runtime, as it would run as its own process.
    let gw_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.gateway_threads)
        .enable_all()
        .build()?;
    let token = format!("bench-{:x}", rand::random::<u64>());
    let mut config = edgestock_gateway::Config::new(&args.redis_url, &token);
    config.listen = "127.0.0.1:0".into();
    config.redis_connections = args.gateway_redis_connections;
    let gateway = gw_rt.block_on(edgestock_gateway::spawn(config))?;
    let gw_url = gateway.url();

    let load_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let rounds = load_rt.block_on(async {
        seed(&args.redis_url, args.skus)
            .await
            .context("seeding bench keys")?;
        let direct_src = RESERVE.replacen("flags=allow-key-locking", "flags=", 1);
        let client = redis::Client::open(args.redis_url.as_str())?;
        let direct_sha: String = redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg(&direct_src)
            .query_async(&mut client.get_multiplexed_async_connection().await?)
            .await?;
        let gw_sha: &'static str = Box::leak(
            sha1_smol::Sha1::from(RESERVE)
                .digest()
                .to_string()
                .into_boxed_str(),
        );
        let gw_script: upstash_rest::Script<'static> = upstash_rest::Script {
            sha1: gw_sha,
            source: RESERVE,
        };
        let skus = args.skus;

        let mut rounds: Vec<[Outcome; 2]> = Vec::new();
        for _ in 0..args.rounds {
            let direct = drive("direct Redis (RESP)", &args, |_| {
                let client = client.clone();
                let sha = direct_sha.clone();
                async move {
                    // One dedicated connection per worker: 50 workers = 50 connections.
                    let conn = client.get_multiplexed_async_connection().await?;
                    let f: Box<dyn FnMut(u64) -> futures::future::BoxFuture<'static, bool> + Send> =
                        Box::new(move |n| {
                            let mut conn = conn.clone();
                            let sha = sha.clone();
                            Box::pin(async move {
                                let [a, b] = keys(n % skus);
                                redis::cmd("EVALSHA")
                                    .arg(&sha)
                                    .arg(2)
                                    .arg(a)
                                    .arg(b)
                                    .arg(format!("d{n}"))
                                    .arg(1)
                                    .arg(2000)
                                    .query_async::<redis::Value>(&mut conn)
                                    .await
                                    .is_ok()
                            })
                        });
                    Ok(f)
                }
            })
            .await?;

            let via_gateway = drive("gateway (Upstash REST)", &args, |_| {
                let url = gw_url.clone();
                let token = token.clone();
                async move {
                    // One HTTP keep-alive connection per worker.
                    let http = reqwest::Client::builder()
                        .pool_max_idle_per_host(1)
                        .build()?;
                    let c = Client::new(ReqwestTransport::new(http), &url, &token)
                        .with_timeout(Duration::from_secs(5));
                    c.ping().await?;
                    let f: Box<dyn FnMut(u64) -> futures::future::BoxFuture<'static, bool> + Send> =
                        Box::new(move |n| {
                            let c = c.clone();
                            Box::pin(async move {
                                let k = keys(n % skus).to_vec();
                                let a = vec![format!("g{n}"), "1".to_owned(), "2000".to_owned()];
                                c.eval(gw_script, &k, &a, false).await.is_ok()
                            })
                        });
                    Ok(f)
                }
            })
            .await?;
            rounds.push([direct, via_gateway]);
        }
        anyhow::Ok(rounds)
    })?;
    gw_rt.block_on(gateway.stop())?;

    println!(
        "EVALSHA reserve-style script, {} connections per target, {} SKUs, bounded by {} requests / {} s",
        args.concurrency, args.skus, args.requests, args.seconds
    );
    println!("| round | target | ok | errors | seconds | req/s | p50 ms | p99 ms |");
    println!("|---:|---|---:|---:|---:|---:|---:|---:|");
    let mut ratios = Vec::new();
    for (i, round) in rounds.iter().enumerate() {
        for o in round {
            println!(
                "| {} | {} | {} | {} | {:.2} | {:.0} | {:.2} | {:.2} |",
                i + 1,
                o.name,
                o.ok,
                o.errors,
                o.elapsed.as_secs_f64(),
                o.rps(),
                o.pct(0.50),
                o.pct(0.99)
            );
        }
        ratios.push(round[1].rps() / round[0].rps());
    }
    let shown: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
    ratios.sort_by(f64::total_cmp);
    let median = ratios[ratios.len() / 2];
    println!(
        "gateway/direct throughput ratio per round: {}; median {median:.2} (goal >= 0.50)",
        shown.join(", ")
    );
    Ok(())
}
