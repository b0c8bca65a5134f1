//! Confirm benchmark: confirms per second and latency at N concurrent checkouts of ONE hot SKU,
//! through the origin (HTTP → pin in Redis → insert-only Postgres statement → commit in
//! Redis), and in the same run the classic hot-row approach on the same Postgres: one
//! transaction per checkout doing `UPDATE stock SET available = available - 1 WHERE sku = $1
//! AND available >= 1` plus the order insert. Prints a markdown table.
//!
//! Fairness: both sides run the same number of concurrent checkouts against the same Postgres
//! server with the same connection pool size (`--pool`). They are not the same work, and the
//! output says so: an origin confirm is a real HTTP request to the origin (auth, JSON) that makes
//! three Redis calls through the REST gateway (reservation read + pin, commit) and two Postgres
//! commits (the order, then the outbox mark); a hot-row checkout is direct SQL from the
//! benchmark process with no HTTP and no Redis.
//!
//! ```text
//! cargo run --release -p edgestock-bench --bin origin-bench -- --confirms 2000 --seconds 30
//! ```
//! Bounded by `--confirms` and `--seconds` per round. It creates (and drops) its own database
//! `edgestock_bench_<pid>` on the `DATABASE_URL` server and uses a private Redis key prefix.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use edgestock_core::domain::Sku;
use edgestock_core::scripts::{Line, ReserveOutcome, ReserveRequest};
use origin::config::Config;
use origin::startup::Application;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, Executor, PgConnection, PgPool};

#[derive(Debug, Parser)]
#[command(about = "Origin confirm throughput vs the hot-row UPDATE approach")]
struct Args {
    /// Postgres server (a role that can create databases).
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    database_url: String,
    /// Redis behind the in-process gateway.
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// Concurrent checkouts (both approaches).
    #[arg(long, default_value_t = 50)]
    concurrency: usize,
    /// Postgres connections (both approaches: the origin's pool and the hot-row pool).
    #[arg(long, default_value_t = 32)]
    pool: u32,
    /// Confirms per approach per round (upper bound).
    #[arg(long, default_value_t = 2000)]
    confirms: usize,
    /// Time limit per approach per round.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Rounds, alternating the two approaches.
    #[arg(long, default_value_t = 2)]
    rounds: usize,
}

#[derive(Debug, Default)]
struct Run {
    ok: usize,
    errors: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Run {
    fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
    fn pct(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        let mut l = self.latencies.clone();
        l.sort();
        let i = ((l.len() as f64 * p).ceil() as usize).clamp(1, l.len()) - 1;
        l[i].as_secs_f64() * 1000.0
    }
}

/// Runs `work(i)` for i in 0..n on `concurrency` tasks, bounded by `limit`.
async fn drive<F, Fut>(n: usize, concurrency: usize, limit: Duration, work: F) -> Run
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let work = Arc::new(work);
    let started = Instant::now();
    let deadline = started + limit;
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (next, work) = (next.clone(), work.clone());
            tokio::spawn(async move {
                let mut out = Run::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n || Instant::now() >= deadline {
                        break;
                    }
                    let t = Instant::now();
                    let ok = tokio::time::timeout(Duration::from_secs(10), work(i))
                        .await
                        .unwrap_or_else(|_| {
                            tracing::warn!(op = i, "checkout timed out after 10 s");
                            false
                        });
                    if ok {
                        out.ok += 1;
                        out.latencies.push(t.elapsed());
                    } else {
                        out.errors += 1;
                    }
                }
                out
            })
        })
        .collect();
    let mut run = Run::default();
    for t in tasks {
        if let Ok(r) = t.await {
            run.ok += r.ok;
            run.errors += r.errors;
            run.latencies.extend(r.latencies);
        }
    }
    run.elapsed = started.elapsed();
    run
}

async fn origin_round(
    app_url: &str,
    state: &origin::state::AppState,
    sku: &Sku,
    args: &Args,
) -> anyhow::Result<Run> {
    // Untimed: hold one unit per checkout, as shoppers at the edge would have.
    let ids: Vec<String> = (0..args.confirms)
        .map(|_| uuid::Uuid::now_v7().to_string())
        .collect();
    let ids = Arc::new(ids);
    let redis = state.redis.clone();
    let (ids2, sku2) = (ids.clone(), sku.clone());
    let reserved = drive(
        args.confirms,
        args.concurrency,
        Duration::from_secs(120),
        move |i| {
            let (redis, ids, sku) = (redis.clone(), ids2.clone(), sku2.clone());
            async move {
                let req = ReserveRequest {
                    id: ids[i].clone(),
                    fingerprint: "bench".into(),
                    items: vec![Line { sku, qty: 1 }],
                    pickup: None,
                    ttl_ms: 600_000,
                    max_hold_ms: 600_000,
                    rate_limit: None,
                    customer: None,
                    cap: None,
                    owner: "bench".into(),
                };
                matches!(redis.reserve(&req).await, Ok(ReserveOutcome::Held(_)))
            }
        },
    )
    .await;
    anyhow::ensure!(
        reserved.ok == args.confirms,
        "could only reserve {} units",
        reserved.ok
    );
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    let url = format!("{app_url}/v1/orders");
    Ok(drive(
        args.confirms,
        args.concurrency,
        Duration::from_secs(args.seconds),
        move |i| {
            let (http, url, ids) = (http.clone(), url.clone(), ids.clone());
            async move {
                let resp = http
                    .post(&url)
                    .bearer_auth("bench-api-key")
                    .json(&serde_json::json!({ "reservation_id": ids[i] }))
                    .send()
                    .await;
                matches!(resp, Ok(r) if r.status().as_u16() == 201)
            }
        },
    )
    .await)
}

async fn hot_row_round(pool: &PgPool, args: &Args) -> anyhow::Result<Run> {
    pool.execute(
        "truncate bench_orders; update bench_stock set available = 1000000000 where sku = 'HOT'",
    )
    .await?;
    let pool = pool.clone();
    Ok(drive(args.confirms, args.concurrency, Duration::from_secs(args.seconds), move |_| {
        let pool = pool.clone();
        async move {
            let run = async {
                let mut tx = pool.begin().await?;
                let n = sqlx::query("update bench_stock set available = available - 1 where sku = $1 and available >= 1")
                    .bind("HOT")
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if n == 1 {
                    sqlx::query("insert into bench_orders (id, sku, qty) values ($1, $2, 1)")
                        .bind(uuid::Uuid::now_v7())
                        .bind("HOT")
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok::<_, sqlx::Error>(n == 1)
            };
            run.await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "hot-row checkout failed");
                false
            })
        }
    })
    .await)
}

fn db_url(server: &str, db: &str) -> String {
    match server.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{db}"),
        None => format!("{server}/{db}"),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    origin::telemetry::init("warn", std::io::stderr);
    let args = Args::parse();
    let db_name = format!("edgestock_bench_{}", std::process::id());
    let mut admin = PgConnection::connect(&args.database_url)
        .await
        .context("connecting to DATABASE_URL")?;
    admin
        .execute(format!("create database {db_name}").as_str())
        .await?;
    let result = bench(&args, &db_url(&args.database_url, &db_name)).await;
    admin
        .execute(format!("drop database if exists {db_name} with (force)").as_str())
        .await?;
    result
}

async fn bench(args: &Args, url: &str) -> anyhow::Result<()> {
    let gateway = edgestock_gateway::spawn(edgestock_gateway::Config {
        listen: "127.0.0.1:0".into(),
        ..edgestock_gateway::Config::new(args.redis_url.clone(), "bench-token")
    })
    .await?;
    let prefix = format!("bench-{}:", uuid::Uuid::now_v7());
    let vars = [
        ("DATABASE_URL", url.to_owned()),
        ("REDIS_REST_URL", gateway.url()),
        ("REDIS_REST_TOKEN", "bench-token".into()),
        ("REDIS_KEY_PREFIX", prefix.clone()),
        ("ORIGIN_LISTEN", "127.0.0.1:0".into()),
        ("ORIGIN_API_KEY", "bench-api-key".into()),
        ("ADMIN_API_KEY", "bench-admin-key".into()),
        ("EDGE_ORIGIN_SECRET", "bench".into()),
        ("DATABASE_MAX_CONNECTIONS", args.pool.to_string()),
    ];
    let config =
        Config::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()))?;
    let app = Application::build(config).await?;
    let state = app.state().clone();
    let app_url = format!("http://{}", app.local_addr()?);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stop_rx.await;
    }));
    let sku = Sku::parse("HOT")?;
    let total = (args.confirms * args.rounds) as i64;
    let adjust = reqwest::Client::new()
        .put(format!("{app_url}/v1/admin/skus/HOT"))
        .bearer_auth("bench-admin-key")
        .json(&serde_json::json!({"name": "Hot", "on_hand": total, "low_stock_threshold": 0}))
        .send()
        .await?;
    anyhow::ensure!(
        adjust.status().is_success(),
        "stocking HOT failed: {}",
        adjust.status()
    );

    let pool = PgPoolOptions::new()
        .max_connections(args.pool)
        .connect(url)
        .await?;
    pool.execute("create table bench_stock (sku text primary key, available integer not null); insert into bench_stock values ('HOT', 0); create table bench_orders (id uuid primary key, sku text not null, qty integer not null)").await?;

    let mut rows = Vec::new();
    for round in 1..=args.rounds {
        let o = origin_round(&app_url, &state, &sku, args).await?;
        let h = hot_row_round(&pool, args).await?;
        rows.push((round, o, h));
    }
    let on_hand: i64 = sqlx::query_scalar(
        "select coalesce(sum(qty), 0)::int8 from stock_movements where sku = 'HOT'",
    )
    .fetch_one(&state.db)
    .await?;
    let redis = state.redis.stock(std::slice::from_ref(&sku)).await?;
    println!(
        "\n### origin-bench: {} concurrent checkouts of one hot SKU, {} Postgres connections per side\n",
        args.concurrency, args.pool
    );
    println!("- origin: HTTP POST /v1/orders to the origin (auth, JSON) → Redis pin (2 REST calls via the gateway) → one Postgres INSERT statement (order, items, sale movements, outbox row; synchronous commit) → Redis commit (1 REST call) → outbox row marked done (async commit)");
    println!("- hot-row: direct SQL from this process (no HTTP, no Redis): BEGIN; UPDATE stock SET available = available - 1 WHERE available >= 1; INSERT order; COMMIT");
    println!();
    println!("| round | approach | confirms | errors | seconds | confirms/s | p50 ms | p99 ms |");
    println!("|---|---|---|---|---|---|---|---|");
    for (round, o, h) in &rows {
        for (name, r) in [
            ("origin (pin → insert-only txn → commit)", o),
            ("hot-row UPDATE … available >= 1", h),
        ] {
            println!(
                "| {round} | {name} | {} | {} | {:.2} | {:.0} | {:.1} | {:.1} |",
                r.ok,
                r.errors,
                r.elapsed.as_secs_f64(),
                r.rate(),
                r.pct(0.50),
                r.pct(0.99)
            );
        }
    }
    let (o_rate, h_rate): (f64, f64) = rows
        .iter()
        .fold((0.0, 0.0), |(a, b), (_, o, h)| (a + o.rate(), b + h.rate()));
    println!(
        "\norigin / hot-row throughput ratio (mean of rounds): {:.2}x",
        o_rate / h_rate.max(1e-9)
    );
    println!(
        "after the run: ledger on-hand {on_hand}, Redis on-hand {} reserved {} (they must agree)",
        redis[0].on_hand, redis[0].reserved
    );
    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(15), server).await;
    gateway.stop().await?;
    Ok(())
}
